/* Subject: 4 threads; thread i writes g_slots[i] 1000 times with the values
 * (i+1)*1000000 + j, j = 0..999. Before starting them main sets g_main_marker.
 * Output: g_slots[i]=<final value> for each i.
 */
#include <pthread.h>
#include <stdio.h>

enum { NTHREADS = 4, NWRITES = 1000 };
long g_slots[NTHREADS];
int g_main_marker;

static void *worker(void *arg) {
  long i = (long)arg;
  for (long j = 0; j < NWRITES; j++)
    g_slots[i] = (i + 1) * 1000000 + j;
  return NULL;
}

int main(void) {
  g_main_marker = 1;
  pthread_t threads[NTHREADS];
  for (long i = 0; i < NTHREADS; i++)
    if (pthread_create(&threads[i], NULL, worker, (void *)i) != 0)
      return 2;
  for (int i = 0; i < NTHREADS; i++)
    pthread_join(threads[i], NULL);
  for (int i = 0; i < NTHREADS; i++)
    printf("g_slots[%d]=%ld\n", i, g_slots[i]);
  return 0;
}
