/* Subject: sets g_before = 42 and g_other, prints, then dereferences NULL. */
#include <stdio.h>

int g_before;
long g_other;

int main(void) {
  g_before = 42;
  g_other = 0x1234;
  printf("g_before=%d\n", g_before);
  fflush(stdout);
  volatile int *volatile p = 0;
  *p = 1; /* SIGSEGV */
  printf("unreachable\n");
  return 0;
}
