/* Subject for omni's suite: `twice` exists only as inlined copies (always
 * inlined, even at -O0; static, so no out-of-line copy), `ordinary` is a
 * real function called three times. Prints the sum: 2*(0+1+2) + 3 = 9. */
#include <stdio.h>

static inline __attribute__((always_inline)) int twice(int x) { return 2 * x; }

int ordinary(int x) { return twice(x) + 1; }

int main(void) {
  int sum = 0;
  for (int i = 0; i < 3; i++) sum += ordinary(i);
  printf("%d\n", sum);
  return 0;
}
