/* Subject for omni's suite: a struct in memory that sbrk (and mmap) hand out
 * in the middle of a busy stretch of writes. Fields b and c are written once
 * right after the memory appears, then only field a, many times: b and c's
 * last writes are long before the end, in the chunk of the map event.
 * Prints "<name>=<address> a=<a> b=<b> c=<c> sum=<a+b+c>" for each struct,
 * the sum computed by sum_fields (loads of all three fields). */
#include <stdio.h>
#include <stdint.h>
#include <sys/mman.h>
#include <unistd.h>

struct fields {
  int32_t a;
  int16_t b;
  int16_t c;
};

static volatile int g_noise[64];

static void noise(int n) {
  for (int i = 0; i < n; ++i) g_noise[i & 63] = i;
}

static void churn(volatile struct fields* f, int n) {
  for (int i = 0; i < n; ++i) f->a = i;
}

static int sum_fields(volatile struct fields* f) {
  return f->a + f->b + f->c;
}

int main(void) {
  noise(3000);
  char* grown = sbrk(65536);
  if (grown == (void*)-1) return 1;
  volatile struct fields* s = (volatile struct fields*)(((uintptr_t)grown + 4096) & ~(uintptr_t)7);
  s->b = 0xfff;
  s->c = 7;
  churn(s, 100000);

  noise(3000);
  char* mapped = mmap(NULL, 65536, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (mapped == MAP_FAILED) return 1;
  volatile struct fields* m = (volatile struct fields*)(mapped + 256);
  m->b = 0x123;
  m->c = -5;
  churn(m, 100000);

  printf("sbrk=%p a=%d b=%d c=%d sum=%d\n", (void*)s, s->a, s->b, s->c, sum_fields(s));
  printf("mmap=%p a=%d b=%d c=%d sum=%d\n", (void*)m, m->a, m->b, m->c, sum_fields(m));
  return 0;
}
