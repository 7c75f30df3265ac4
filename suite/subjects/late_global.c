/* A global written once, between two long runs of other writes, so that the
   index's chunk holding its write is neither the first nor the last: a read
   of it at the end goes through that chunk's granule finals. Prints it. */
#include <stdio.h>

long g_late;
static volatile unsigned char buffer[4096];

static void churn(int n) {
  for (int i = 0; i < n; ++i) buffer[i & 4095] = (unsigned char)i;
}

int main(void) {
  churn(200000);
  g_late = 4321;
  churn(200000);
  printf("g_late=%ld\n", g_late);
  return 0;
}
