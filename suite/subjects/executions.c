/* Subject for --executions (test_executions.cc): a loop, a recursive
 * function and a libc function called several times, each run a number of
 * times set by argv, so that a breakpoint's hits are known only from a run.
 * Markers: EXEC_LOOP_BODY, EXEC_FACT_BASE, EXEC_STRLEN_CALL. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static volatile long g_sink;

static long fact(int n) {
  if (n <= 1) return 1; /* EXEC_FACT_BASE */
  return n * fact(n - 1);
}

static long sum_to(int n) {
  long total = 0;
  for (int i = 0; i < n; i++) {
    total += i; /* EXEC_LOOP_BODY */
  }
  return total;
}

static int quiet(int x) { return x * 3; }

int main(int argc, char** argv) {
  int rounds = argc > 1 ? atoi(argv[1]) : 3;
  const char* words[] = {"alpha", "be", "gamma delta", ""};
  size_t lengths = 0;
  for (int r = 0; r < rounds; r++) {
    g_sink = sum_to(r + 2);
    g_sink = fact(r + 3);
    lengths += strlen(words[r % 4]); /* EXEC_STRLEN_CALL */
    g_sink = quiet(r);
  }
  printf("rounds=%d lengths=%zu\n", rounds, lengths);
  return 0;
}
