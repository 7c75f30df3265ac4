/* omni-<subcommand>: execs the `omni` beside this executable with the
 * subcommand inserted after argv[0]; the rest of argv is unchanged. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char** argv) {
  char self[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", self, sizeof self - 16);
  if (n < 0) {
    fprintf(stderr, "omni: error: cannot find myself: %s\n", strerror(errno));
    return 1;
  }
  self[n] = '\0';
  char* slash = strrchr(self, '/');
  strcpy(slash + 1, "omni");

  char** args = calloc((size_t)argc + 2, sizeof *args);
  if (!args) return 1;
  args[0] = "omni";
  args[1] = OMNI_SUBCOMMAND;
  for (int i = 1; i < argc; ++i) args[i + 1] = argv[i];
  execv(self, args);
  fprintf(stderr, "omni: error: cannot run %s: %s\n", self, strerror(errno));
  return 1;
}
