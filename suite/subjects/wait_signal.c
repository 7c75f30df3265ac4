/* Subject for omni's suite (issue 8, item 11): prints "ready" and then waits
 * (sleeping in short steps, printing nothing) for up to ARG1 seconds
 * (default 120). With "handler" as ARG2 it counts SIGINTs in a handler and,
 * half a second after the first, prints "sigints=N" and exits 3. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t g_sigints;

static void on_sigint(int sig) {
  (void)sig;
  g_sigints++;
}

int main(int argc, char** argv) {
  int seconds = argc > 1 ? atoi(argv[1]) : 120;
  int handler = argc > 2 && strcmp(argv[2], "handler") == 0;
  if (handler) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigint;
    sigaction(SIGINT, &sa, NULL);
  }
  printf("ready\n");
  fflush(stdout);
  for (int step = 0; step < seconds * 20; ++step) {
    struct timespec ts = {0, 50 * 1000 * 1000};
    nanosleep(&ts, NULL);
    if (g_sigints) {
      for (int k = 0; k < 10; ++k) {
        struct timespec half = {0, 50 * 1000 * 1000};
        nanosleep(&half, NULL);
      }
      printf("sigints=%d\n", (int)g_sigints);
      return 3;
    }
  }
  printf("timeout\n");
  return 0;
}
