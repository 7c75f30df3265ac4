/* Subject: memset a 1 MiB heap block to 0xAB, memcpy it to a second block,
 * then set g_done = 1.
 * Output: src=<address> dst=<address> len=<n>, then dst_mid=<hex byte>, done=<g_done>.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int g_done;

int main(void) {
  enum { LEN = 1 << 20 };
  unsigned char *src = malloc(LEN);
  unsigned char *dst = malloc(LEN);
  if (!src || !dst)
    return 2;
  memset(src, 0xAB, LEN);
  memcpy(dst, src, LEN);
  g_done = 1;
  printf("src=%p dst=%p len=%d\n", (void *)src, (void *)dst, LEN);
  printf("dst_mid=%02x\n", dst[LEN / 2]);
  printf("done=%d\n", g_done);
  free(src);
  free(dst);
  return 0;
}
