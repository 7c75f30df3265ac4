// Writes one word of a private page the same value before and after the page
// is replaced by fresh memory at the same address (mmap MAP_FIXED, then
// munmap and mmap again): the replacement changes the word without a write,
// so the first write after it changes it back, although it writes the value
// the last write wrote. Prints the page's address.
#define _GNU_SOURCE
#include <stdio.h>
#include <sys/mman.h>

static long* fresh(void* at) {
  void* p = mmap(at, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | (at ? MAP_FIXED : 0), -1, 0);
  if (p == MAP_FAILED) {
    perror("mmap");
    return NULL;
  }
  return p;
}

int main(void) {
  volatile long* word = fresh(NULL);
  if (!word) return 1;
  printf("addr=%p\n", (void*)word);
  word[0] = 42;
  word[0] = 42;
  if (!fresh((void*)word)) return 1;  // zero again, no write
  printf("after mmap: %ld\n", word[0]);
  word[0] = 42;
  word[0] = 42;
  munmap((void*)word, 4096);
  if (!fresh((void*)word)) return 1;
  word[0] = 0;  // zero over fresh zero: no change
  word[0] = 7;
  printf("end: %ld\n", word[0]);
  return 0;
}
