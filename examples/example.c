/* The demo's example: a counter updated in a loop, then clobbered by a
 * strcpy that overflows the name stored just before it. `omni query
 * --where-written g_stats` shows every write to the struct, and which
 * function made each: accumulate's, then strcpy's that runs into counter. */
#include <stdio.h>
#include <string.h>

struct stats {
  char name[8];
  long counter;
} g_stats;

static void accumulate(int n) {
  for (int i = 0; i < n; ++i) g_stats.counter += i;
}

static void set_name(const char* name) {
  strcpy(g_stats.name, name); /* 12 bytes into an 8-byte field */
}

int main(void) {
  accumulate(10);
  set_name("a long name");
  printf("counter = %ld (expected 45)\n", g_stats.counter);
  return 0;
}
