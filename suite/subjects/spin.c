/* Subject for omni's suite: a long, deterministic run for the tests that kill
 * the recorder part-way.
 *
 * Takes no arguments (and ignores any). For i = 1..N (N = 20000): stores i
 * into g_progress, fills the 1 KiB g_scratch with i (128 8-byte stores by
 * `rep stosq`, so the recorder's stream grows steadily and reaches the trace
 * file in several pieces while the program still runs), then burns SPINS
 * (25000) iterations of a register-only loop (no memory writes). Under
 * Valgrind it takes a few seconds. Prints nothing until done, then
 * "g_progress=<N>".
 */
#include <stdio.h>

enum { N = 20000, SPINS = 25000 };

volatile long g_progress;
unsigned long g_scratch[128];

static void fill(unsigned long *p, unsigned long words, unsigned long value) {
  __asm__ volatile("rep stosq" : "+D"(p), "+c"(words) : "a"(value) : "memory");
}

static void burn(unsigned long n) {
  if (n)
    __asm__ volatile("1:\n\tdec %0\n\tjnz 1b" : "+r"(n) : : "cc");
}

int main(void) {
  for (long i = 1; i <= N; i++) {
    g_progress = i;
    fill(g_scratch, 128, (unsigned long)i);
    burn(SPINS);
  }
  printf("g_progress=%ld\n", g_progress);
  return 0;
}
