/* Subject for omni's suite: writes to stdout and stderr (naming itself by
 * argv[0], as programs do in their messages), then ends as argv[1]
 * says: "exit N" (exit status N), "segv" (NULL dereference), "abort". */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char** argv) {
  printf("to stdout\n");
  fprintf(stderr, "%s: to stderr: %s\n", argv[0], argc > 1 ? argv[1] : "(none)");
  fflush(stdout);
  if (argc > 1 && strcmp(argv[1], "segv") == 0) {
    volatile int* volatile p = 0;
    *p = 1;
  }
  if (argc > 1 && strcmp(argv[1], "abort") == 0) abort();
  if (argc > 2 && strcmp(argv[1], "exit") == 0) return atoi(argv[2]);
  return 0;
}
