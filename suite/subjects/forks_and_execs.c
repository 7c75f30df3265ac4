/* Subject for omni's suite: starts child processes and execs, as argv[1]
 * says, each child printing its own pid (the truth for the recording's list
 * of children).
 *   all          fork (the child prints "fork child PID"), vfork + exec of
 *                sh ("vfork child PID" from $$), posix_spawn of sh ("spawn
 *                child PID"), each waited for; then prints "exec" and
 *                execs /bin/true from-subject.
 *   failed-exec-then-spin  an execve that fails (ENOENT), "ready", then a
 *                loop without system calls or stores until killed: recorded
 *                with --no-every-block and no periodic snapshot, the loop
 *                logs nothing, so killed by SIGKILL from outside its stream
 *                ends with that execve and no result (the tool's buffer
 *                after it is lost), as an exec's. */
#define _GNU_SOURCE
#include <spawn.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

extern char** environ;

int main(int argc, char** argv) {
  const char* mode = argc > 1 ? argv[1] : "all";
  if (strcmp(mode, "all") == 0) {
    pid_t a = fork();
    if (a == 0) {
      dprintf(1, "fork child %d\n", (int)getpid());
      _exit(0);
    }
    waitpid(a, NULL, 0);
    pid_t b = vfork();
    if (b == 0) {
      execl("/bin/sh", "sh", "-c", "echo vfork child $$", (char*)NULL);
      _exit(127);
    }
    waitpid(b, NULL, 0);
    pid_t c;
    char* spawn_argv[] = {"sh", "-c", "echo spawn child $$", NULL};
    if (posix_spawn(&c, "/bin/sh", NULL, NULL, spawn_argv, environ) == 0) waitpid(c, NULL, 0);
    dprintf(1, "exec\n");
    execl("/bin/true", "true", "from-subject", (char*)NULL);
    return 1;
  }
  if (strcmp(mode, "failed-exec-then-spin") == 0) {
    execl("/nonexistent/omni-subject", "omni-subject", (char*)NULL);
    dprintf(1, "ready\n");
    for (;;) {
    }
  }
  return 2;
}
