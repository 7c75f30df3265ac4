/* Subject for omni's suite: calls with integer, pointer, double and struct
 * arguments, each printed by the callee, for --calls, --registers, --stack
 * and local variables, checked against what it prints and against gdb.
 * Output (stdout): one line per scale() call,
 *   "scale(<i>,<factor>,<tag>,<p.x>,<p.y>)=<result>", then "total=<g_total>".
 */
#include <stdio.h>

struct pair {
  long x;
  long y;
};

long g_total;
long g_calls;

__attribute__((noinline)) double scale(long i, double factor, const char *tag, struct pair p) {
  double result = (double)(i * 3 + p.x - p.y) * factor;
  g_total += (long)result;
  g_calls++;
  printf("scale(%ld,%g,%s,%ld,%ld)=%g\n", i, factor, tag, p.x, p.y, result);
  return result;
}

__attribute__((noinline)) long outer(long n) {
  long sum = 0;
  for (long k = 0; k < n; k++) {
    struct pair p = {k * 10, k};
    sum += (long)scale(k, 0.5 + (double)k, k % 2 ? "odd" : "even", p);
  }
  return sum;
}

int main(void) {
  long sum = outer(5);
  printf("total=%ld sum=%ld\n", g_total, sum);
  return 0;
}
