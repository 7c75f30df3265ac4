/* Subject for omni's suite: a fork from a second thread, two calls deep
 * (worker -> spawn_child): the child's only thread is the one that forked,
 * and its call stack began in the parent. The child sets g_value to 42,
 * prints it and exits with 5; the thread reaps it and prints the status. */
#include <pthread.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

long g_value = 0;

static int spawn_child(void) {
  pid_t p = fork();
  if (p == 0) {
    g_value = 42; /* the child's write */
    printf("child g_value %ld\n", g_value);
    fflush(stdout);
    _exit(5);
  }
  int st;
  waitpid(p, &st, 0);
  return WEXITSTATUS(st);
}

static void* worker(void* arg) {
  (void)arg;
  printf("thread reaped %d\n", spawn_child());
  return NULL;
}

int main(void) {
  pthread_t t;
  pthread_create(&t, NULL, worker, NULL);
  pthread_join(t, NULL);
  g_value = 1;
  printf("main done\n");
  return 0;
}
