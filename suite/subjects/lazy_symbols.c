/* Subject for omni's suite (test_lazy_symbols.cc): a global that only the
 * program's own code writes (add, called from main), and a buffer that only
 * libc's memset writes.
 * Output (stdout): "g_own=<sum> g_buf=<first byte>"
 */
#include <stdio.h>
#include <string.h>

long g_own;
char g_buf[300];

void add(long v) { g_own += v; }

int main(void) {
  for (long i = 1; i <= 5; i++)
    add(i);
  /* Not a constant, so that the compiler calls memset instead of storing
   * the bytes itself. */
  volatile size_t n = sizeof g_buf;
  memset(g_buf, 'x', n);
  printf("g_own=%ld g_buf=%c\n", g_own, g_buf[0]);
  return 0;
}
