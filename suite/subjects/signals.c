/* Subject: signals that change the registers outside the code: a handled
 * SIGSEGV (a fault in the middle of a block, left with siglongjmp) three
 * times, then a busy loop interrupted by SIGALRM from an interval timer until
 * the handler ran three times.
 * Output: faults=3, then alarms=3 and the loop's sum.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>

static sigjmp_buf g_jump;
static volatile int g_faults;
static volatile int g_alarms;
long g_sum;

static void on_segv(int sig) {
  (void)sig;
  g_faults++;
  siglongjmp(g_jump, 1);
}

static void on_alarm(int sig) {
  (void)sig;
  g_alarms++;
}

int main(void) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_segv;
  sigaction(SIGSEGV, &sa, NULL);
  sa.sa_handler = on_alarm;
  sigaction(SIGALRM, &sa, NULL);

  for (int i = 0; i < 3; ++i) {
    if (sigsetjmp(g_jump, 1) == 0) {
      volatile int *volatile p = (int *)16;
      g_sum += i;
      *p = i; /* SIGSEGV */
    }
  }
  printf("faults=%d\n", g_faults);

  struct itimerval t = {{0, 2000}, {0, 2000}};
  setitimer(ITIMER_REAL, &t, NULL);
  for (long n = 0; g_alarms < 3; ++n) g_sum += n & 7;
  t.it_value.tv_usec = t.it_interval.tv_usec = 0;
  setitimer(ITIMER_REAL, &t, NULL);
  printf("alarms=%d sum=%ld\n", g_alarms, g_sum > 0 ? 1L : 0L);
  return 0;
}
