#define _GNU_SOURCE
#include <pthread.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <sched.h>
#include <signal.h>
#include <unistd.h>
extern char** environ;
static void* spin(void* a) { for (;;) pause(); return 0; }
int main(int argc, char** argv) {
  const char* m = argc > 1 ? argv[1] : "fork";
  int st = 0;
  if (!strcmp(m, "fork")) {
    pid_t p = fork();
    if (p == 0) { printf("child %d\n", getpid()); fflush(stdout); _exit(3); }
    waitpid(p, &st, 0); printf("parent: child exit %d\n", WEXITSTATUS(st));
  } else if (!strcmp(m, "vfork")) {
    pid_t p = vfork();
    if (p == 0) { execl("/bin/echo", "echo", "vforked echo", (char*)0); _exit(127); }
    waitpid(p, &st, 0); printf("parent: vfork child exit %d\n", WEXITSTATUS(st));
  } else if (!strcmp(m, "spawn")) {
    pid_t p; char* av[] = {"echo", "spawned", 0};
    int r = posix_spawn(&p, "/bin/echo", 0, 0, av, environ);
    waitpid(p, &st, 0); printf("parent: spawn r=%d exit %d\n", r, WEXITSTATUS(st));
  } else if (!strcmp(m, "system")) {
    int r = system("echo from system; exit 4"); printf("system -> %d\n", WEXITSTATUS(r));
  } else if (!strcmp(m, "popen")) {
    FILE* f = popen("echo popen-line", "r"); char b[64] = {0}; fgets(b, sizeof b, f);
    printf("popen read: %s", b); printf("pclose %d\n", pclose(f));
  } else if (!strcmp(m, "thread-fork")) {
    pthread_t t; pthread_create(&t, 0, spin, 0);
    pid_t p = fork();
    if (p == 0) { printf("child of threaded\n"); fflush(stdout); _exit(0); }
    waitpid(p, &st, 0); printf("parent(threaded) ok\n"); exit(0);
  } else if (!strcmp(m, "thread-exec")) {
    pthread_t t; pthread_create(&t, 0, spin, 0); usleep(100000);
    execl("/bin/echo", "echo", "exec from threaded", (char*)0); return 127;
  } else if (!strcmp(m, "exec")) {
    execv(argv[2], argv + 2); perror("execv"); return 127;
  } else if (!strcmp(m, "orphan")) {
    pid_t p = fork();
    if (p == 0) { sleep(1); printf("orphan child, ppid now %d\n", getppid()); fflush(stdout); _exit(0); }
    printf("parent exits first\n");
  } else if (!strcmp(m, "crash-child")) {
    pid_t p = fork();
    if (p == 0) { *(volatile int*)0 = 1; _exit(0); }
    waitpid(p, &st, 0); printf("child signal %d\n", WIFSIGNALED(st) ? WTERMSIG(st) : 0);
  } else if (!strcmp(m, "clone-nosig")) {
    /* clone without CLONE_VM via raw fork-like flags */
    pid_t p = syscall(56 /*clone*/, SIGCHLD, 0, 0, 0, 0);
    if (p == 0) { printf("raw clone child\n"); fflush(stdout); _exit(0); }
    waitpid(p, &st, 0); printf("parent raw clone ok\n");
  }
  return 0;
}
