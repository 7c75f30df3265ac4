/* Subject for omni's suite: writes to globals and to a heap block.
 * Output (stdout), one "key=value" per line:
 *   g_counter=<final value>
 *   g_point.x=<x> g_point.y=<y> g_point.z=<z>
 *   heap=<address> len=<n>
 *   heap_bytes=<hex of the heap block's final bytes>
 */
#include <stdio.h>
#include <stdlib.h>

long g_counter;
struct point {
  int x;
  int y;
  long z;
} g_point;

/* 50 stores to g_counter; every fourth one stores the value it already has. */
void accumulate(int n) {
  for (int i = 0; i < n; i++) {
    long delta = (i % 4 == 3) ? 0 : (i * 7) % 11 + 1;
    g_counter = g_counter + delta;
  }
}

/* Field by field: a 4-byte, a 4-byte and an 8-byte store, in this order. */
void set_point(int x, int y, long z) {
  g_point.x = x;
  g_point.y = y;
  g_point.z = z;
}

void fill_heap(unsigned char *p, int n) {
  for (int i = 0; i < n; i++)
    p[i] = (unsigned char)(i * 37 + 5);
}

int main(void) {
  accumulate(50);
  g_counter = -g_counter; /* a value-changing store made by main itself */
  set_point(0x11223344, -7, 0x0102030405060708L);

  enum { HEAP_LEN = 64 };
  unsigned char *heap = malloc(HEAP_LEN);
  if (!heap)
    return 2;
  fill_heap(heap, HEAP_LEN);

  printf("g_counter=%ld\n", g_counter);
  printf("g_point.x=%d g_point.y=%d g_point.z=%ld\n", g_point.x, g_point.y, g_point.z);
  printf("heap=%p len=%d\n", (void *)heap, HEAP_LEN);
  printf("heap_bytes=");
  for (int i = 0; i < HEAP_LEN; i++)
    printf("%02x", heap[i]);
  printf("\n");
  /* Not freed: free() would write allocator links into the block after the
     bytes above were printed. */
  return 0;
}
