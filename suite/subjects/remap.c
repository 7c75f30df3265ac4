/* Subject for omni's suite: memory that mremap moves to a new address.
 * Prints "moved=<new address> text=<what is there>". */
#define _GNU_SOURCE
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

int main(void) {
  char* p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) return 1;
  strcpy(p, "moved_by_mremap");
  /* Growing with MAYMOVE relocates the block when the pages after it are taken. */
  char* blocker = mmap(p + 4096, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
  char* q = mremap(p, 4096, 1 << 20, MREMAP_MAYMOVE);
  if (q == MAP_FAILED) return 1;
  printf("moved=%p text=%s same=%d\n", (void*)q, q, q == p);
  (void)blocker;
  return 0;
}
