/* Subject: atomic read-modify-writes on g_atomic.
 * Output: one line "g_atomic=<value>" after each write that happens, in order,
 * and "cas_ok=<0|1>" lines for the two compare-exchanges.
 */
#include <stdio.h>

long g_atomic;

int main(void) {
  __atomic_fetch_add(&g_atomic, 5, __ATOMIC_SEQ_CST);
  printf("g_atomic=%ld\n", g_atomic);

  long expected = 5;
  int ok = __atomic_compare_exchange_n(&g_atomic, &expected, 12, 0, __ATOMIC_SEQ_CST,
                                       __ATOMIC_SEQ_CST);
  printf("cas_ok=%d\n", ok);
  if (ok)
    printf("g_atomic=%ld\n", g_atomic);

  expected = 99; /* wrong: this compare-exchange fails and stores nothing */
  ok = __atomic_compare_exchange_n(&g_atomic, &expected, 77, 0, __ATOMIC_SEQ_CST,
                                   __ATOMIC_SEQ_CST);
  printf("cas_ok=%d\n", ok);
  if (ok)
    printf("g_atomic=%ld\n", g_atomic);

  long old = __atomic_exchange_n(&g_atomic, 100, __ATOMIC_SEQ_CST);
  printf("exchanged_old=%ld\n", old);
  printf("g_atomic=%ld\n", g_atomic);
  return 0;
}
