/* Subject: 16-byte (SSE2) and, when the CPU has AVX2, 32-byte stores into g_vec.
 * Output: avx2=<0|1>, then g_vec=<hex of g_vec's final bytes>.
 */
#include <immintrin.h>
#include <stdio.h>

unsigned char g_vec[64];

void store_sse2(void) {
  unsigned char pattern[16];
  for (int i = 0; i < 16; i++)
    pattern[i] = (unsigned char)(0x10 + i);
  __m128i v = _mm_loadu_si128((const __m128i *)pattern);
  v = _mm_add_epi8(v, _mm_set1_epi8(0x01)); /* 0x11 .. 0x20 */
  _mm_storeu_si128((__m128i *)&g_vec[0], v);
  _mm_storeu_si128((__m128i *)&g_vec[48], _mm_xor_si128(v, _mm_set1_epi8((char)0xFF)));
}

__attribute__((target("avx2"))) void store_avx2(void) {
  unsigned char pattern[32];
  for (int i = 0; i < 32; i++)
    pattern[i] = (unsigned char)(0xA0 + i * 3);
  __m256i v = _mm256_loadu_si256((const __m256i *)pattern);
  v = _mm256_add_epi8(v, _mm256_set1_epi8(0x02));
  _mm256_storeu_si256((__m256i *)&g_vec[16], v); /* unaligned: g_vec + 16 */
}

int main(void) {
  int avx2 = __builtin_cpu_supports("avx2") ? 1 : 0;
  store_sse2();
  if (avx2)
    store_avx2();
  printf("avx2=%d\n", avx2);
  printf("g_vec=");
  for (unsigned i = 0; i < sizeof g_vec; i++)
    printf("%02x", g_vec[i]);
  printf("\n");
  return 0;
}
