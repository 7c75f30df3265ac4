/* Subject for omni's suite: parameters and locals of -O0 frames, for
 * Symbolizer::parameters / find_local / local_names, checked against gdb.
 * Output (stdout): total=<value>
 */
#include <stdarg.h>
#include <stdio.h>

struct point {
  long x;
  long y;
};

static long frames_add(long a, double b, const char *s, struct point p) {
  static int calls;
  long total = a + (long)b + p.x + p.y;
  calls++;
  for (int i = 0; s[i] != 0; i++) {
    long scaled = total * 2 + i;
    long a = scaled - total; /* shadows the parameter */
    total = a + 1; /* frames: inner */
  }
  return total + calls; /* frames: outer */
}

int frames_sum(int n, ...) {
  va_list ap;
  va_start(ap, n);
  int sum = 0;
  for (int i = 0; i < n; i++)
    sum += va_arg(ap, int);
  va_end(ap);
  return sum;
}

int main(void) {
  struct point origin = {3, 4};
  long total = frames_add(10, 2.5, "abc", origin); /* frames: call */
  total += frames_sum(3, 1, 2, 3);
  printf("total=%ld\n", total);
  return 0;
}
