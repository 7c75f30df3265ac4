/* Subject for omni's suite: signal handlers. on_usr1 runs for each
 * raise(SIGUSR1) (delivered when the tgkill system call returns); on_alarm
 * runs when a timer fires while main spins, waiting for it.
 * Output (stdout): "usr1=<n> alarm=<m>": how many times each handler ran.
 */
#include <signal.h>
#include <stdio.h>
#include <sys/time.h>

volatile sig_atomic_t g_usr1, g_alarm;

void on_usr1(int sig) { g_usr1 += sig == SIGUSR1; }

void on_alarm(int sig) { g_alarm += sig == SIGALRM; }

int main(void) {
  signal(SIGUSR1, on_usr1);
  signal(SIGALRM, on_alarm);
  for (int k = 0; k < 3; k++) raise(SIGUSR1);
  struct itimerval once = {{0, 0}, {0, 20000}};
  setitimer(ITIMER_REAL, &once, NULL);
  while (!g_alarm) {
  }
  printf("usr1=%d alarm=%d\n", (int)g_usr1, (int)g_alarm);
  return 0;
}
