/* A function called N times (argv[1], default 20000), each call's arguments
   and result computable from the call's number: the truth for --calls on a
   hot function. Prints N and the final value. */
#include <stdio.h>
#include <stdlib.h>

__attribute__((noinline)) long step(long x, int k) { return (x * 31 + k) % 1000003; }

int main(int argc, char** argv) {
  int n = argc > 1 ? atoi(argv[1]) : 20000;
  long acc = 1;
  for (int i = 0; i < n; ++i) acc = step(acc, i);
  printf("%d %ld\n", n, acc);
  return 0;
}
