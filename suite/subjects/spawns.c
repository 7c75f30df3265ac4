/* Subject for omni's suite: children started the C library's ways, each
 * leaving a line on stdout (no pids: the native run's output must equal the
 * recorded one's):
 *   posix_spawnp of `echo spawned` (echo's own line),
 *   system("echo from-system; exit 3") (the shell's line; the parent prints
 *   the status it got),
 *   popen("echo from-popen", "r") (the shell writes into the pipe; the
 *   parent prints what it read and pclose's status).
 * g_status holds each status as the parent gets it. */
#define _GNU_SOURCE
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

extern char** environ;

int g_status = -1;

int main(void) {
  char* argv[] = {"echo", "spawned", NULL};
  pid_t pid;
  if (posix_spawnp(&pid, "echo", NULL, NULL, argv, environ) != 0) return 2;
  int st;
  if (waitpid(pid, &st, 0) != pid) return 2;
  g_status = WEXITSTATUS(st);
  printf("spawn status %d\n", g_status);
  fflush(stdout);

  st = system("echo from-system; exit 3");
  g_status = WEXITSTATUS(st);
  printf("system status %d\n", g_status);
  fflush(stdout);

  FILE* p = popen("echo from-popen", "r");
  if (!p) return 2;
  char line[64] = {0};
  if (!fgets(line, sizeof line, p)) return 2;
  g_status = WEXITSTATUS(pclose(p));
  printf("popen read %s", line);
  printf("popen status %d\n", g_status);
  return 0;
}
