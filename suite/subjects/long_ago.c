/* Memory written long before it is read: g_early once at the start, the
   first word of a page whose other words are rewritten all the time, and
   g_late midway, each printed in phases separated by many writes, so that an
   index of small chunks puts many segments between a write and its reads.
   Unbuffered: each line's write(1) is the moment the printed values hold. */
#include <stdio.h>

long g_early;
long g_late;
static volatile long hot_page[512] __attribute__((aligned(4096)));

static void churn(int n) {
  for (int i = 0; i < n; ++i) hot_page[1 + i % 511] = i;
}

int main(void) {
  setvbuf(stdout, NULL, _IONBF, 0);
  g_early = 1111;
  hot_page[0] = 5555;
  printf("phase=0 g_early=%ld hot0=%ld g_late=%ld\n", g_early, hot_page[0], g_late);
  churn(30000);
  printf("phase=1 g_early=%ld hot0=%ld g_late=%ld\n", g_early, hot_page[0], g_late);
  g_late = 7777;
  churn(30000);
  printf("phase=2 g_early=%ld hot0=%ld g_late=%ld\n", g_early, hot_page[0], g_late);
  hot_page[0] = 6666;
  churn(30000);
  printf("phase=3 g_early=%ld hot0=%ld g_late=%ld\n", g_early, hot_page[0], g_late);
  return 0;
}
