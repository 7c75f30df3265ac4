/* Subject for omni's suite: an execve of a path that does not exist fails
 * (ENOENT) and returns to the program, which goes on and prints what it got:
 * "execve=<result> errno=<errno>", then "after=<counter>". */
#include <errno.h>
#include <stdio.h>
#include <unistd.h>

static volatile int g_after;

int main(void) {
  char* argv[] = {"omni-missing-program", NULL};
  char* envp[] = {NULL};
  int result = execve("/nonexistent/omni-missing-program", argv, envp);
  int saved = errno;
  printf("execve=%d errno=%d\n", result, saved);
  for (int i = 0; i < 10; ++i) g_after += i;
  printf("after=%d\n", g_after);
  return 0;
}
