/* Subject for omni's suite: many processes alive at once. The parent forks
 * N children (argv[1], default 20); each waits until all have started (a
 * pipe the parent closes once the last one is forked), then writes
 * g_buffer (64 KiB) through several times, sets g_sum to its number plus
 * the buffer's checksum, prints "child I sum S" and exits with I. The
 * parent reaps them all and prints "reaped N". */
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

unsigned char g_buffer[64 * 1024];
long g_sum = 0;

int main(int argc, char** argv) {
  int n = argc > 1 ? atoi(argv[1]) : 20;
  int gate[2];
  if (pipe(gate) != 0) return 2;
  for (int i = 0; i < n; i++) {
    pid_t pid = fork();
    if (pid < 0) return 2;
    if (pid == 0) {
      close(gate[1]);
      char c;
      while (read(gate[0], &c, 1) > 0) {
      }
      long sum = 0;
      for (int round = 0; round < 4; round++)
        for (size_t k = 0; k < sizeof g_buffer; k++) {
          g_buffer[k] = (unsigned char)(k * (i + 1) + round);
          sum += g_buffer[k];
        }
      g_sum = i * 1000000L + sum;
      printf("child %d sum %ld\n", i, g_sum);
      fflush(stdout);
      _exit(i);
    }
  }
  close(gate[1]);
  int reaped = 0, st;
  while (wait(&st) > 0) reaped++;
  printf("reaped %d\n", reaped);
  return 0;
}
