/* A global defined in assembly: its symbol has no size, and the only debug
   information about it declares an array of unknown bound, so omni cannot
   know how many bytes it has. */
#include <stdio.h>

__asm__(".data\n.globl g_nosize\n.type g_nosize, @object\ng_nosize:\n.quad 0\n.text\n");
extern unsigned char g_nosize[];

int main(void) {
  *(volatile long*)g_nosize = 77;
  printf("g_nosize=%ld\n", *(volatile long*)g_nosize);
  return 0;
}
