/* Subject for omni's suite: a process tree made by fork, whose every
 * process prints what the truth needs (no pids: the native run's output
 * must equal the recorded one's).
 *   The parent sets g_value to 1 (and prints it) and forks child 0 and child 1; child i
 *   sets g_value to 100 + i, g_count to i + 1 and prints both, then forks a
 *   grandchild (child 1 only) that sets g_value to 500 and prints it; each
 *   exits with 10 + i (the grandchild 50).
 *   Then the parent forks a child that crashes (SIGSEGV, after printing
 *   "crasher") and one that it kills (SIGKILL, after that child printed
 *   "victim" and started to spin), reaps every child, prints each status in
 *   fork order, sets g_value to 7 and prints it. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

long g_value = 0;
long g_count = 0;

static void say(const char* what, long v) {
  printf("%s %ld\n", what, v);
  fflush(stdout);
}

int main(void) {
  g_value = 1;
  say("parent g_value", g_value);
  pid_t kids[4];
  int pipefd[2];
  if (pipe(pipefd) != 0) return 2;
  for (int i = 0; i < 2; i++) {
    kids[i] = fork();
    if (kids[i] == 0) {
      g_value = 100 + i;
      g_count = i + 1;
      say(i == 0 ? "child0 g_value" : "child1 g_value", g_value);
      say(i == 0 ? "child0 g_count" : "child1 g_count", g_count);
      if (i == 1) {
        pid_t g = fork();
        if (g == 0) {
          g_value = 500;
          say("grandchild g_value", g_value);
          _exit(50);
        }
        int st;
        waitpid(g, &st, 0);
        say("child1 reaped grandchild", WEXITSTATUS(st));
      }
      _exit(10 + i);
    }
    int st;
    waitpid(kids[i], &st, 0);  // one at a time: the output's order is fixed
    say("parent reaped child", WEXITSTATUS(st));
  }
  kids[2] = fork();
  if (kids[2] == 0) {
    say("crasher", 0);
    *(volatile long*)16 = 1;
    _exit(3);
  }
  int crashed;
  waitpid(kids[2], &crashed, 0);
  say(WIFSIGNALED(crashed) ? "parent reaped signal" : "parent reaped exit",
      WIFSIGNALED(crashed) ? WTERMSIG(crashed) : WEXITSTATUS(crashed));
  kids[3] = fork();
  if (kids[3] == 0) {
    say("victim", 0);
    char c = 'x';
    if (write(pipefd[1], &c, 1) != 1) _exit(4);
    for (volatile unsigned long n = 0;; ++n) {
    }
  }
  char c;
  if (read(pipefd[0], &c, 1) != 1) return 3;
  kill(kids[3], SIGKILL);
  int st;
  waitpid(kids[3], &st, 0);
  say(WIFSIGNALED(st) ? "parent reaped signal" : "parent reaped exit",
      WIFSIGNALED(st) ? WTERMSIG(st) : WEXITSTATUS(st));
  g_value = 7;
  say("parent g_value", g_value);
  return 0;
}
