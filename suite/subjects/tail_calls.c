/* Subject for omni's suite: tail calls (a jump to a function's entry that
 * replaces the jumping frame). The relays are compiled with -O2 so that GCC
 * turns their last call into a jmp; main calls them normally.
 * Output (stdout): "leaf=<n> ping=<p> pong=<q> result=<r>": how many times
 * leaf(), ping() and pong() ran (their own counters) and the final sum.
 */
#include <stdio.h>

long g_leaf_calls, g_ping_calls, g_pong_calls;

__attribute__((noinline)) long leaf(long x) {
  g_leaf_calls++;
  return x * 2 + 1;
}

/* jmp leaf */
__attribute__((noinline, optimize("O2"))) long relay(long x) { return leaf(x + 1); }

/* jmp relay: a chain of two tail calls */
__attribute__((noinline, optimize("O2"))) long relay2(long x) { return relay(x + 10); }

/* jmp *%rsi: an indirect tail call */
__attribute__((noinline, optimize("O2"))) long relay_ptr(long x, long (*fn)(long)) { return fn(x + 100); }

/* Mutual tail recursion: a chain of tail calls as long as n. */
long pong(long n);
__attribute__((noinline, optimize("O2"))) long ping(long n) {
  g_ping_calls++;
  if (n <= 0) return 0;
  return pong(n - 1);
}
__attribute__((noinline, optimize("O2"))) long pong(long n) {
  g_pong_calls++;
  if (n <= 0) return 1;
  return ping(n - 1);
}

int main(int argc, char** argv) {
  long n = argc > 1 ? 200 : 5;
  long result = 0;
  for (long k = 0; k < 3; k++) {
    result += relay(k);
    result += relay2(k);
    result += relay_ptr(k, leaf);
  }
  result += ping(n);
  printf("leaf=%ld ping=%ld pong=%ld result=%ld\n", g_leaf_calls, g_ping_calls, g_pong_calls, result);
  return 0;
}
