/* Subject for omni's suite: a hot global and a quiet one in the same 16 bytes
 * (so in one cache line), to check that the address index tells them apart.
 * g_hot is written 300000 times (several index chunks); g_quiet twice, at the
 * start and at the end. Prints "g_quiet=<final value>". */
#include <stdio.h>

struct {
  long hot;
  long quiet;
} g_pair;

int main(void) {
  g_pair.quiet = 1;
  for (long i = 0; i < 300000; ++i) g_pair.hot = i;
  g_pair.quiet = 2;
  printf("g_quiet=%ld\n", g_pair.quiet);
  return 0;
}
