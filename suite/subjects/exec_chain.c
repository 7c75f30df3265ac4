/* Subject for omni's suite: an exec chain of three images of one process.
 * Image N (argv[1] = N, default 1) sets g_value to 10 * N, prints "image N
 * g_value V", and execs itself with N + 1; image 3 exits with status 3.
 * With argv[1] = "missing-first", image 1 first tries to exec a program that
 * does not exist (the exec fails, the image goes on). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

long g_value = 0;

int main(int argc, char** argv) {
  int n = 1;
  int missing_first = 0;
  if (argc > 1 && strcmp(argv[1], "missing-first") == 0) missing_first = 1;
  else if (argc > 1) n = atoi(argv[1]);
  g_value = 10L * n;
  printf("image %d g_value %ld\n", n, g_value);
  fflush(stdout);
  if (n == 3) return 3;
  if (missing_first) {
    execl("/nonexistent/omni-subject", "omni-subject", (char*)NULL);
    printf("image %d exec failed\n", n);
    fflush(stdout);
  }
  char next[16];
  snprintf(next, sizeof next, "%d", n + 1);
  execl(argv[0], argv[0], next, (char*)NULL);  /* argv[0]: a path (the suite runs it by one) */
  return 1;
}
