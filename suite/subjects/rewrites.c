// Writes one global again and again with the value it already holds, now and
// then changing it: whole, one byte at a time, and by memcpy. gdb's `watch`
// stops only at the changes.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

volatile long g_slot;

__attribute__((noinline)) void rewrite_whole(long v, int times) {
  for (int i = 0; i < times; i++) g_slot = v;
}

__attribute__((noinline)) void rewrite_byte(int k, unsigned char v, int times) {
  for (int i = 0; i < times; i++) ((volatile unsigned char*)&g_slot)[k] = v;
}

__attribute__((noinline)) void copy_in(long v) {
  memcpy((void*)&g_slot, &v, sizeof v);
}

int main(int argc, char** argv) {
  int rounds = argc > 1 ? atoi(argv[1]) : 3;
  rewrite_whole(0, 100);  // 0 over 0
  for (int r = 1; r <= rounds; r++) {
    rewrite_whole(r * 0x101L, 100);                      // the first write changes it
    rewrite_byte(1, (unsigned char)r, 100);              // the byte it holds already
    rewrite_byte(2, (unsigned char)r, 50);               // the first write changes it
    copy_in(g_slot);                                     // the same 8 bytes
    printf("round %d: g_slot=%ld\n", r, (long)g_slot);
  }
  return 0;
}
