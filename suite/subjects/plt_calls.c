/* Subject for omni's suite: calls into shared libraries through PLT stubs
 * (the subject is linked dynamically against libc and libpthread), so that
 * --calls of a library function counts them, the first (lazily bound) one
 * included. argv[1]: how many rounds (default 1000).
 * Output (stdout): "round <k> <p>" for each round (one printf each), then
 * "locks=<n> mallocs=<m> prints=<p>": the program's own counts of its
 * pthread_mutex_lock, malloc and printf calls.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
long g_locks, g_mallocs, g_prints;
long g_sum;

int main(int argc, char** argv) {
  long rounds = argc > 1 ? atol(argv[1]) : 1000;
  for (long k = 0; k < rounds; k++) {
    pthread_mutex_lock(&g_lock);
    g_locks++;
    g_sum += k;
    pthread_mutex_unlock(&g_lock);
    char* p = malloc(16 + (size_t)(k % 7));
    g_mallocs++;
    p[0] = (char)k;
    g_sum += p[0];
    free(p);
    if (k % 10 == 0) {
      printf("round %ld %ld\n", k, g_sum);
      g_prints++;
    }
  }
  printf("locks=%ld mallocs=%ld prints=%ld\n", g_locks, g_mallocs, g_prints + 1);
  return 0;
}
