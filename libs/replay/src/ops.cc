// Evaluation of VEX IR operations and amd64 clean helpers, bit-exactly as
// Valgrind 3.19 computes them on an amd64 host.
//
// The reference is not only libvex_ir.h but what VEX's amd64 back end really
// does where the IR leaves room, because the recorded program saw those
// values:
//  * Shl/Shr/Sar on 8/16/32 bits shift by (amount & 31), on 64 bits by
//    (amount & 63), as the x86 shift instructions VEX emits do.
//  * Add/Sub/Mul/Div/Sqrt F64 (and the SSE vector forms) ignore their
//    rounding-mode argument: VEX runs them in the host's default mode,
//    round to nearest ("XXXROUNDINGFIXME" in host_amd64_isel.c). The integer
//    conversions, F64toF32 and RoundF64toInt do honour it.
//  * SSE results (NaN propagation, min/max of zeros and NaNs, out-of-range
//    conversions) come from running the very instruction VEX emits, with the
//    same operand order, in inline assembly.
//  * Vector shifts by the lane width or more give zero (sign copies for Sar)
//    as psllw & co do, except SarN8x8/SarN8x16/SarN64x2, which VEX's generic
//    helpers compute with the amount masked to the lane width.
// Clz/Ctz of zero are undefined in VEX (bsr/bsf leave garbage); here they
// give the width, as the Nat variants define.
#include "omni/replay/ops.h"

#include <immintrin.h>

#include <cstring>
#include <limits>
#include <string_view>
#include <type_traits>

#include "omni/base/error.h"
extern "C" {
#include "libvex_emnote.h"
#include "omni/trace/replay_ops.h"
}

namespace omni::replay {

uint64_t Value::u64() const {
  uint64_t v;
  std::memcpy(&v, b, 8);
  return v;
}

Value Value::of(uint64_t v) {
  Value r;
  std::memcpy(r.b, &v, 8);
  return r;
}

namespace {

// ---------------------------------------------------------------------------
// Small value helpers.

constexpr uint64_t mask_of(unsigned bits) { return bits >= 64 ? ~0ull : (1ull << bits) - 1; }

int64_t sext(uint64_t v, unsigned bits) {
  const unsigned s = 64 - bits;
  return static_cast<int64_t>(v << s) >> s;
}

template <class T>
T lane(const Value& v, unsigned i) {
  T t;
  std::memcpy(&t, v.b + i * sizeof(T), sizeof(T));
  return t;
}

template <class T>
void set_lane(Value& v, unsigned i, T t) {
  std::memcpy(v.b + i * sizeof(T), &t, sizeof(T));
}

Value uint(uint64_t v, unsigned bits) { return Value::of(v & mask_of(bits)); }

Value bit(bool b) {
  Value r;
  r.b[0] = b ? 1 : 0;
  return r;
}

Value pair64(uint64_t lo, uint64_t hi) {
  Value r;
  set_lane<uint64_t>(r, 0, lo);
  set_lane<uint64_t>(r, 1, hi);
  return r;
}

unsigned __int128 u128_of(const Value& v) {
  return (static_cast<unsigned __int128>(lane<uint64_t>(v, 1)) << 64) | lane<uint64_t>(v, 0);
}

Value of_u128(unsigned __int128 x) {
  return pair64(static_cast<uint64_t>(x), static_cast<uint64_t>(x >> 64));
}

// Copy of the low `bytes` bytes of v, the rest zero.
Value low_bytes(const Value& v, unsigned bytes) {
  Value r;
  std::memcpy(r.b, v.b, bytes);
  return r;
}

// ---------------------------------------------------------------------------
// Lane-wise operations over the low `bytes` bytes (8, 16 or 32) of values.

template <class T, class F>
Value zip(const Value& a, const Value& b, unsigned bytes, F f) {
  Value r;
  for (unsigned i = 0; i < bytes / sizeof(T); ++i)
    set_lane<T>(r, i, static_cast<T>(f(lane<T>(a, i), lane<T>(b, i))));
  return r;
}

template <class T, class F>
Value each(const Value& a, unsigned bytes, F f) {
  Value r;
  for (unsigned i = 0; i < bytes / sizeof(T); ++i)
    set_lane<T>(r, i, static_cast<T>(f(lane<T>(a, i))));
  return r;
}

template <class T>
T saturate(int64_t x) {
  if (x < static_cast<int64_t>(std::numeric_limits<T>::min())) return std::numeric_limits<T>::min();
  if (x > static_cast<int64_t>(std::numeric_limits<T>::max())) return std::numeric_limits<T>::max();
  return static_cast<T>(x);
}

template <class T>
Value vadd(const Value& a, const Value& b, unsigned bytes) {
  return zip<T>(a, b, bytes, [](T x, T y) { return static_cast<T>(x + y); });
}
template <class T>
Value vsub(const Value& a, const Value& b, unsigned bytes) {
  return zip<T>(a, b, bytes, [](T x, T y) { return static_cast<T>(x - y); });
}
template <class T>  // T signed or unsigned, 8 or 16 bits
Value vqadd(const Value& a, const Value& b, unsigned bytes) {
  return zip<T>(a, b, bytes, [](T x, T y) { return saturate<T>(int64_t{x} + int64_t{y}); });
}
template <class T>
Value vqsub(const Value& a, const Value& b, unsigned bytes) {
  return zip<T>(a, b, bytes, [](T x, T y) { return saturate<T>(int64_t{x} - int64_t{y}); });
}
template <class T>
Value vmul(const Value& a, const Value& b, unsigned bytes) {
  return zip<T>(a, b, bytes, [](T x, T y) { return static_cast<T>(uint64_t{x} * uint64_t{y}); });
}
// int16_t or uint16_t: the high half of the 32-bit product. (Computing it in
// 64 bits instead makes GCC 12 -O2 vectorise the signed form into pmulhuw.)
template <class T>
Value vmulhi(const Value& a, const Value& b, unsigned bytes) {
  using W = std::conditional_t<std::is_signed_v<T>, int32_t, uint32_t>;
  return zip<T>(a, b, bytes, [](T x, T y) { return static_cast<T>((W{x} * W{y}) >> 16); });
}
template <class T>
Value vavg(const Value& a, const Value& b, unsigned bytes) {
  return zip<T>(a, b, bytes,
                [](T x, T y) { return static_cast<T>((uint32_t{x} + uint32_t{y} + 1) >> 1); });
}
template <class T>
Value vmax(const Value& a, const Value& b, unsigned bytes) {
  return zip<T>(a, b, bytes, [](T x, T y) { return x > y ? x : y; });
}
template <class T>
Value vmin(const Value& a, const Value& b, unsigned bytes) {
  return zip<T>(a, b, bytes, [](T x, T y) { return x < y ? x : y; });
}
template <class T>
Value vcmpeq(const Value& a, const Value& b, unsigned bytes) {
  using U = std::make_unsigned_t<T>;
  return zip<T>(a, b, bytes, [](T x, T y) { return x == y ? static_cast<T>(~U{0}) : T{0}; });
}
template <class T>  // T signed
Value vcmpgt(const Value& a, const Value& b, unsigned bytes) {
  using U = std::make_unsigned_t<T>;
  return zip<T>(a, b, bytes, [](T x, T y) { return x > y ? static_cast<T>(~U{0}) : T{0}; });
}
template <class T>
Value vcmpnez(const Value& a, unsigned bytes) {
  return each<T>(a, bytes, [](T x) { return x != 0 ? static_cast<T>(~T{0}) : T{0}; });
}

// ShlN/ShrN/SarN as the SSE shifts do them: amounts >= the lane width give
// zero (Shl/Shr) or copies of the sign bit (Sar). T unsigned.
template <class T>
Value vshl(const Value& a, uint64_t n, unsigned bytes) {
  return each<T>(a, bytes,
                 [n](T x) { return n >= sizeof(T) * 8 ? T{0} : static_cast<T>(uint64_t{x} << n); });
}
template <class T>
Value vshr(const Value& a, uint64_t n, unsigned bytes) {
  return each<T>(a, bytes, [n](T x) { return n >= sizeof(T) * 8 ? T{0} : static_cast<T>(x >> n); });
}
template <class T>  // T signed
Value vsar(const Value& a, uint64_t n, unsigned bytes) {
  const uint64_t m = n >= sizeof(T) * 8 ? sizeof(T) * 8 - 1 : n;
  return each<T>(a, bytes, [m](T x) { return static_cast<T>(int64_t{x} >> m); });
}

// Interleave{HI,LO}: lane 2i from the right arg, 2i+1 from the left.
template <class T>
Value interleave(const Value& l, const Value& r, unsigned bytes, bool hi) {
  const unsigned n = bytes / sizeof(T), base = hi ? n / 2 : 0;
  Value out;
  for (unsigned i = 0; i < n / 2; ++i) {
    set_lane<T>(out, 2 * i, lane<T>(r, base + i));
    set_lane<T>(out, 2 * i + 1, lane<T>(l, base + i));
  }
  return out;
}

// NarrowBin: the low half of the result from the right arg, the high half
// from the left; each wide lane narrowed by f.
template <class W, class N, class F>
Value narrow(const Value& l, const Value& r, unsigned bytes, F f) {
  const unsigned n = bytes / sizeof(W);
  Value out;
  for (unsigned i = 0; i < n; ++i) {
    set_lane<N>(out, i, f(lane<W>(r, i)));
    set_lane<N>(out, n + i, f(lane<W>(l, i)));
  }
  return out;
}

template <class T>  // reverse the order of T chunks within each C-byte lane
Value reverse_in(const Value& a, unsigned chunk_bytes, unsigned bytes) {
  const unsigned per = chunk_bytes / sizeof(T);
  Value r;
  for (unsigned c = 0; c < bytes / chunk_bytes; ++c)
    for (unsigned i = 0; i < per; ++i)
      set_lane<T>(r, c * per + i, lane<T>(a, c * per + per - 1 - i));
  return r;
}

// ---------------------------------------------------------------------------
// SSE and x87 instructions, as VEX's generated code runs them. The host
// default is MXCSR 0x1F80 (round to nearest, exceptions masked) and x87
// control word 0x027F; set_SSE_rounding_mode/set_FPU_rounding_mode put the
// IRRoundingMode into bits 13-14 resp. 10-11.

using X = __m128i;

X xmm(const Value& v, unsigned half = 0) {
  X x;
  std::memcpy(&x, v.b + 16 * half, 16);
  return x;
}

X xmm_of(uint64_t lo) { return _mm_cvtsi64_si128(static_cast<long long>(lo)); }

uint64_t lo_of(X x) { return static_cast<uint64_t>(_mm_cvtsi128_si64(x)); }

uint32_t mxcsr_for(uint64_t rm) { return 0x1F80u | (static_cast<uint32_t>(rm & 3) << 13); }

// d = insn(s, d) in AT&T order, in the default rounding mode.
#define OMNI_SSE(name, insn)                           \
  X name(X d, X s) {                                   \
    __asm__(insn " %1, %0" : "+x"(d) : "x"(s));        \
    return d;                                          \
  }
OMNI_SSE(addsd, "addsd")
OMNI_SSE(subsd, "subsd")
OMNI_SSE(mulsd, "mulsd")
OMNI_SSE(divsd, "divsd")
OMNI_SSE(maxsd, "maxsd")
OMNI_SSE(minsd, "minsd")
OMNI_SSE(sqrtsd, "sqrtsd")
OMNI_SSE(addss, "addss")
OMNI_SSE(subss, "subss")
OMNI_SSE(mulss, "mulss")
OMNI_SSE(divss, "divss")
OMNI_SSE(maxss, "maxss")
OMNI_SSE(minss, "minss")
OMNI_SSE(sqrtss, "sqrtss")
OMNI_SSE(addpd, "addpd")
OMNI_SSE(subpd, "subpd")
OMNI_SSE(mulpd, "mulpd")
OMNI_SSE(divpd, "divpd")
OMNI_SSE(maxpd, "maxpd")
OMNI_SSE(minpd, "minpd")
OMNI_SSE(sqrtpd, "sqrtpd")
OMNI_SSE(addps, "addps")
OMNI_SSE(subps, "subps")
OMNI_SSE(mulps, "mulps")
OMNI_SSE(divps, "divps")
OMNI_SSE(maxps, "maxps")
OMNI_SSE(minps, "minps")
OMNI_SSE(sqrtps, "sqrtps")
OMNI_SSE(cvtss2sd, "cvtss2sd")
#undef OMNI_SSE

#define OMNI_SSE_CMP(name, insn, pred)                     \
  X name(X d, X s) {                                       \
    __asm__(insn " $" #pred ", %1, %0" : "+x"(d) : "x"(s)); \
    return d;                                              \
  }
OMNI_SSE_CMP(cmpeqsd, "cmpsd", 0)
OMNI_SSE_CMP(cmpltsd, "cmpsd", 1)
OMNI_SSE_CMP(cmplesd, "cmpsd", 2)
OMNI_SSE_CMP(cmpunsd, "cmpsd", 3)
OMNI_SSE_CMP(cmpeqss, "cmpss", 0)
OMNI_SSE_CMP(cmpltss, "cmpss", 1)
OMNI_SSE_CMP(cmpless, "cmpss", 2)
OMNI_SSE_CMP(cmpunss, "cmpss", 3)
OMNI_SSE_CMP(cmpeqpd, "cmppd", 0)
OMNI_SSE_CMP(cmpltpd, "cmppd", 1)
OMNI_SSE_CMP(cmplepd, "cmppd", 2)
OMNI_SSE_CMP(cmpunpd, "cmppd", 3)
OMNI_SSE_CMP(cmpeqps, "cmpps", 0)
OMNI_SSE_CMP(cmpltps, "cmpps", 1)
OMNI_SSE_CMP(cmpleps, "cmpps", 2)
OMNI_SSE_CMP(cmpunps, "cmpps", 3)
#undef OMNI_SSE_CMP

// d = insn(s, d) with MXCSR's rounding field set to rm meanwhile.
#define OMNI_SSE_RM(name, insn)                                                      \
  X name(X d, X s, uint64_t rm) {                                                    \
    uint32_t csr = mxcsr_for(rm), saved = 0;                                         \
    __asm__ volatile("stmxcsr %[saved]\n\t"                                          \
                     "ldmxcsr %[csr]\n\t" insn " %[s], %[d]\n\t"                     \
                     "ldmxcsr %[saved]"                                              \
                     : [d] "+x"(d), [saved] "+m"(saved)                              \
                     : [s] "x"(s), [csr] "m"(csr));                                  \
    return d;                                                                        \
  }
OMNI_SSE_RM(cvtsd2ss_rm, "cvtsd2ss")
OMNI_SSE_RM(cvtdq2ps_rm, "cvtdq2ps")
OMNI_SSE_RM(cvtps2dq_rm, "cvtps2dq")
OMNI_SSE_RM(addss_rm, "addss")
OMNI_SSE_RM(subss_rm, "subss")
OMNI_SSE_RM(mulss_rm, "mulss")
OMNI_SSE_RM(divss_rm, "divss")
OMNI_SSE_RM(sqrtss_rm, "sqrtss")
#undef OMNI_SSE_RM

// General register -> xmm conversions (cvtsi2s[sd]) with a rounding mode.
#define OMNI_SI2SF_RM(name, insn, RT)                                                \
  X name(RT v, uint64_t rm) {                                                        \
    uint32_t csr = mxcsr_for(rm), saved = 0;                                         \
    X d = _mm_setzero_si128();                                                       \
    __asm__ volatile("stmxcsr %[saved]\n\t"                                          \
                     "ldmxcsr %[csr]\n\t" insn " %[v], %[d]\n\t"                     \
                     "ldmxcsr %[saved]"                                              \
                     : [d] "+x"(d), [saved] "+m"(saved)                              \
                     : [v] "r"(v), [csr] "m"(csr));                                  \
    return d;                                                                        \
  }
OMNI_SI2SF_RM(cvtsi2sdq_rm, "cvtsi2sdq", int64_t)
OMNI_SI2SF_RM(cvtsi2ssl_rm, "cvtsi2ssl", int32_t)
OMNI_SI2SF_RM(cvtsi2ssq_rm, "cvtsi2ssq", int64_t)
#undef OMNI_SI2SF_RM

// xmm -> general register conversions (cvtsd2si) with a rounding mode.
#define OMNI_SF2SI_RM(name, insn, RT)                                                \
  RT name(X s, uint64_t rm) {                                                        \
    uint32_t csr = mxcsr_for(rm), saved = 0;                                         \
    RT r;                                                                            \
    __asm__ volatile("stmxcsr %[saved]\n\t"                                          \
                     "ldmxcsr %[csr]\n\t" insn " %[s], %[r]\n\t"                     \
                     "ldmxcsr %[saved]"                                              \
                     : [r] "=&r"(r), [saved] "+m"(saved)                             \
                     : [s] "x"(s), [csr] "m"(csr));                                  \
    return r;                                                                        \
  }
OMNI_SF2SI_RM(cvtsd2si32_rm, "cvtsd2si", int32_t)
OMNI_SF2SI_RM(cvtsd2si64_rm, "cvtsd2si", int64_t)
#undef OMNI_SF2SI_RM

X cvtsi2sdl(int32_t v) {
  X d = _mm_setzero_si128();
  __asm__("cvtsi2sdl %1, %0" : "+x"(d) : "r"(v));
  return d;
}

uint16_t x87_cw_for(uint64_t rm) { return static_cast<uint16_t>(0x027F | ((rm & 3) << 10)); }

// frndint on a double (resp. float) in memory, x87 control word cw.
uint64_t x87_rndint64(uint64_t bits, uint16_t cw) {
  uint16_t saved = 0;
  __asm__ volatile(
      "fnstcw %[saved]\n\t"
      "fldcw %[cw]\n\t"
      "fldl %[m]\n\t"
      "frndint\n\t"
      "fstpl %[m]\n\t"
      "fldcw %[saved]"
      : [m] "+m"(bits), [saved] "+m"(saved)
      : [cw] "m"(cw)
      : "st");
  return bits;
}

uint32_t x87_rndint32(uint32_t bits, uint16_t cw) {
  uint16_t saved = 0;
  __asm__ volatile(
      "fnstcw %[saved]\n\t"
      "fldcw %[cw]\n\t"
      "flds %[m]\n\t"
      "frndint\n\t"
      "fstps %[m]\n\t"
      "fldcw %[saved]"
      : [m] "+m"(bits), [saved] "+m"(saved)
      : [cw] "m"(cw)
      : "st");
  return bits;
}

// SqrtF64: VEX uses fsqrt in the default control word whatever the IR's
// rounding mode.
uint64_t x87_sqrt64(uint64_t bits) {
  uint16_t saved = 0, cw = 0x027F;
  __asm__ volatile(
      "fnstcw %[saved]\n\t"
      "fldcw %[cw]\n\t"
      "fldl %[m]\n\t"
      "fsqrt\n\t"
      "fstpl %[m]\n\t"
      "fldcw %[saved]"
      : [m] "+m"(bits), [saved] "+m"(saved)
      : [cw] "m"(cw)
      : "st");
  return bits;
}

// d = f(d, s) on each 16-byte half of `bytes` (16 or 32).
Value sse2(X (*f)(X, X), const Value& d, const Value& s, unsigned bytes) {
  Value r;
  for (unsigned h = 0; h < bytes / 16; ++h) {
    X x = f(xmm(d, h), xmm(s, h));
    std::memcpy(r.b + 16 * h, &x, 16);
  }
  return r;
}

Value sse_rm(X (*f)(X, X, uint64_t), const Value& s, uint64_t rm, unsigned bytes) {
  Value r;
  for (unsigned h = 0; h < bytes / 16; ++h) {
    X x = f(_mm_setzero_si128(), xmm(s, h), rm);
    std::memcpy(r.b + 16 * h, &x, 16);
  }
  return r;
}

// A scalar F64 (F32) operation done in the low lane of an xmm register.
uint64_t sd(X (*f)(X, X), uint64_t a, uint64_t b) { return lo_of(f(xmm_of(a), xmm_of(b))); }

uint32_t cmp_f64(uint64_t a, uint64_t b) {
  double x, y;
  std::memcpy(&x, &a, 8);
  std::memcpy(&y, &b, 8);
  if (x < y) return 0x01;
  if (x > y) return 0x00;
  if (x == y) return 0x40;
  return 0x45;
}

uint32_t cmp_f32(uint32_t a, uint32_t b) {
  float x, y;
  std::memcpy(&x, &a, 4);
  std::memcpy(&y, &b, 4);
  if (x < y) return 0x01;
  if (x > y) return 0x00;
  if (x == y) return 0x40;
  return 0x45;
}

// ---------------------------------------------------------------------------
// Integer helpers.

uint64_t shift_amount(uint64_t amount, unsigned bits) { return amount & (bits == 64 ? 63 : 31); }

uint64_t clz(uint64_t x, unsigned bits) {
  if (x == 0) return bits;
  return static_cast<uint64_t>(__builtin_clzll(x)) - (64 - bits);
}

uint64_t ctz(uint64_t x, unsigned bits) {
  if (x == 0) return bits;
  return static_cast<uint64_t>(__builtin_ctzll(x));
}

uint64_t cmp_ord(bool lt, bool gt) { return lt ? 8 : gt ? 4 : 2; }

// Signed division as idiv truncates; the quotient wraps where idiv would
// fault, and division by zero (also a fault) gives 0.
// S a signed type, U its unsigned counterpart.
template <class S, class U>
S sdiv(S a, S b) {
  if (b == 0) return 0;
  if (b == -1) return static_cast<S>(U{0} - static_cast<U>(a));
  return a / b;
}
template <class S>
S smod(S a, S b) {
  if (b == 0 || b == -1) return 0;
  return a % b;
}
template <class U>
U udiv(U a, U b) {
  return b == 0 ? 0 : a / b;
}
template <class U>
U umod(U a, U b) {
  return b == 0 ? 0 : a % b;
}

uint64_t widen_mul(uint64_t a, uint64_t b, unsigned bits, bool is_signed) {
  if (is_signed) return static_cast<uint64_t>(sext(a, bits) * sext(b, bits));
  return (a & mask_of(bits)) * (b & mask_of(bits));
}

}  // namespace

// ---------------------------------------------------------------------------

IRType result_type(IROp op) {
  if (!omni_op_supported(op))
    fail("replay: IR operation {:#x} is not supported", static_cast<unsigned>(op));
  switch (op) {
    case Iop_Add8: case Iop_Sub8: case Iop_Mul8: case Iop_Or8: case Iop_And8: case Iop_Xor8:
    case Iop_Shl8: case Iop_Shr8: case Iop_Sar8: case Iop_Not8: case Iop_Left8:
    case Iop_64to8: case Iop_32to8: case Iop_16to8: case Iop_16HIto8:
    case Iop_1Uto8: case Iop_1Sto8: case Iop_GetMSBs8x8:
      return Ity_I8;
    case Iop_Add16: case Iop_Sub16: case Iop_Mul16: case Iop_Or16: case Iop_And16: case Iop_Xor16:
    case Iop_Shl16: case Iop_Shr16: case Iop_Sar16: case Iop_Not16: case Iop_Left16:
    case Iop_MullS8: case Iop_MullU8: case Iop_8Uto16: case Iop_8Sto16: case Iop_8HLto16:
    case Iop_64to16: case Iop_32to16: case Iop_32HIto16: case Iop_1Sto16: case Iop_GetMSBs8x16:
      return Ity_I16;
    case Iop_Add32: case Iop_Sub32: case Iop_Mul32: case Iop_Or32: case Iop_And32: case Iop_Xor32:
    case Iop_Shl32: case Iop_Shr32: case Iop_Sar32: case Iop_Not32: case Iop_Left32:
    case Iop_MullS16: case Iop_MullU16: case Iop_Clz32: case Iop_Ctz32: case Iop_ClzNat32:
    case Iop_CtzNat32: case Iop_PopCount32: case Iop_CmpwNEZ32: case Iop_Max32U:
    case Iop_CmpORD32U: case Iop_CmpORD32S: case Iop_DivU32: case Iop_DivS32:
    case Iop_8Uto32: case Iop_16Uto32: case Iop_8Sto32: case Iop_16Sto32: case Iop_16HLto32:
    case Iop_64to32: case Iop_64HIto32: case Iop_1Uto32: case Iop_1Sto32:
    case Iop_Reverse8sIn32_x1: case Iop_CmpF64: case Iop_CmpF32: case Iop_F64toI32S:
    case Iop_ReinterpF32asI32: case Iop_V128to32:
      return Ity_I32;
    case Iop_Add64: case Iop_Sub64: case Iop_Mul64: case Iop_Or64: case Iop_And64: case Iop_Xor64:
    case Iop_Shl64: case Iop_Shr64: case Iop_Sar64: case Iop_Not64: case Iop_Left64:
    case Iop_MullS32: case Iop_MullU32: case Iop_Clz64: case Iop_Ctz64: case Iop_ClzNat64:
    case Iop_CtzNat64: case Iop_PopCount64: case Iop_CmpwNEZ64: case Iop_CmpORD64U:
    case Iop_CmpORD64S: case Iop_DivU64: case Iop_DivS64: case Iop_DivModU64to32:
    case Iop_DivModS64to32: case Iop_DivModU32to32: case Iop_DivModS32to32:
    case Iop_8Uto64: case Iop_16Uto64: case Iop_32Uto64: case Iop_8Sto64: case Iop_16Sto64:
    case Iop_32Sto64: case Iop_32HLto64: case Iop_128to64: case Iop_128HIto64:
    case Iop_1Uto64: case Iop_1Sto64:
    case Iop_Reverse8sIn64_x1: case Iop_Reverse8sIn16_x4: case Iop_Reverse8sIn32_x2:
    case Iop_Reverse16sIn32_x2: case Iop_Reverse16sIn64_x1: case Iop_Reverse32sIn64_x1:
    case Iop_F64toI64S: case Iop_ReinterpF64asI64:
    case Iop_Add8x8: case Iop_Add16x4: case Iop_Add32x2: case Iop_Sub8x8: case Iop_Sub16x4:
    case Iop_Sub32x2: case Iop_QAdd8Ux8: case Iop_QAdd16Ux4: case Iop_QAdd8Sx8: case Iop_QAdd16Sx4:
    case Iop_QSub8Ux8: case Iop_QSub16Ux4: case Iop_QSub8Sx8: case Iop_QSub16Sx4:
    case Iop_Mul16x4: case Iop_Mul32x2: case Iop_MulHi16Ux4: case Iop_MulHi16Sx4:
    case Iop_Avg8Ux8: case Iop_Avg16Ux4: case Iop_Max8Ux8: case Iop_Min8Ux8: case Iop_Max16Sx4:
    case Iop_Min16Sx4: case Iop_CmpEQ8x8: case Iop_CmpEQ16x4: case Iop_CmpEQ32x2:
    case Iop_CmpGT8Sx8: case Iop_CmpGT16Sx4: case Iop_CmpGT32Sx2: case Iop_CmpNEZ8x8:
    case Iop_CmpNEZ16x4: case Iop_CmpNEZ32x2: case Iop_ShlN16x4: case Iop_ShlN32x2:
    case Iop_ShrN16x4: case Iop_ShrN32x2: case Iop_SarN8x8: case Iop_SarN16x4: case Iop_SarN32x2:
    case Iop_InterleaveHI8x8: case Iop_InterleaveHI16x4: case Iop_InterleaveHI32x2:
    case Iop_InterleaveLO8x8: case Iop_InterleaveLO16x4: case Iop_InterleaveLO32x2:
    case Iop_CatOddLanes16x4: case Iop_CatEvenLanes16x4: case Iop_QNarrowBin16Sto8Ux8:
    case Iop_QNarrowBin16Sto8Sx8: case Iop_QNarrowBin32Sto16Sx4: case Iop_NarrowBin16to8x8:
    case Iop_NarrowBin32to16x4: case Iop_PermOrZero8x8:
    case Iop_V128to64: case Iop_V128HIto64:
    case Iop_V256to64_0: case Iop_V256to64_1: case Iop_V256to64_2: case Iop_V256to64_3:
      return Ity_I64;
    case Iop_MullS64: case Iop_MullU64: case Iop_DivModU128to64: case Iop_DivModS128to64:
    case Iop_DivModU64to64: case Iop_DivModS64to64: case Iop_64HLto128:
    case Iop_ReinterpV128asI128:
      return Ity_I128;
    case Iop_CmpEQ8: case Iop_CmpEQ16: case Iop_CmpEQ32: case Iop_CmpEQ64:
    case Iop_CmpNE8: case Iop_CmpNE16: case Iop_CmpNE32: case Iop_CmpNE64:
    case Iop_CasCmpEQ8: case Iop_CasCmpEQ16: case Iop_CasCmpEQ32: case Iop_CasCmpEQ64:
    case Iop_CasCmpNE8: case Iop_CasCmpNE16: case Iop_CasCmpNE32: case Iop_CasCmpNE64:
    case Iop_ExpCmpNE8: case Iop_ExpCmpNE16: case Iop_ExpCmpNE32: case Iop_ExpCmpNE64:
    case Iop_CmpLT32S: case Iop_CmpLT64S: case Iop_CmpLE32S: case Iop_CmpLE64S:
    case Iop_CmpLT32U: case Iop_CmpLT64U: case Iop_CmpLE32U: case Iop_CmpLE64U:
    case Iop_CmpNEZ8: case Iop_CmpNEZ16: case Iop_CmpNEZ32: case Iop_CmpNEZ64:
    case Iop_Not1: case Iop_And1: case Iop_Or1: case Iop_32to1: case Iop_64to1:
      return Ity_I1;
    case Iop_AddF64: case Iop_SubF64: case Iop_MulF64: case Iop_DivF64: case Iop_SqrtF64:
    case Iop_NegF64: case Iop_AbsF64: case Iop_I32StoF64: case Iop_I64StoF64: case Iop_F32toF64:
    case Iop_RoundF64toInt: case Iop_ReinterpI64asF64:
      return Ity_F64;
    case Iop_AddF32: case Iop_SubF32: case Iop_MulF32: case Iop_DivF32: case Iop_SqrtF32:
    case Iop_NegF32: case Iop_AbsF32: case Iop_I32StoF32: case Iop_I64StoF32: case Iop_F64toF32:
    case Iop_RoundF32toInt: case Iop_ReinterpI32asF32:
      return Ity_F32;
    case Iop_V256toV128_0: case Iop_V256toV128_1:
      return Ity_V128;
    case Iop_V128HLtoV256: case Iop_64x4toV256: case Iop_AndV256: case Iop_OrV256:
    case Iop_XorV256: case Iop_NotV256: case Iop_CmpNEZ8x32: case Iop_CmpNEZ16x16:
    case Iop_CmpNEZ32x8: case Iop_CmpNEZ64x4: case Iop_Add8x32: case Iop_Add16x16:
    case Iop_Add32x8: case Iop_Add64x4: case Iop_Sub8x32: case Iop_Sub16x16: case Iop_Sub32x8:
    case Iop_Sub64x4: case Iop_CmpEQ8x32: case Iop_CmpEQ16x16: case Iop_CmpEQ32x8:
    case Iop_CmpEQ64x4: case Iop_CmpGT8Sx32: case Iop_CmpGT16Sx16: case Iop_CmpGT32Sx8:
    case Iop_CmpGT64Sx4: case Iop_ShlN16x16: case Iop_ShlN32x8: case Iop_ShlN64x4:
    case Iop_ShrN16x16: case Iop_ShrN32x8: case Iop_ShrN64x4: case Iop_SarN16x16:
    case Iop_SarN32x8: case Iop_Max8Sx32: case Iop_Max16Sx16: case Iop_Max32Sx8:
    case Iop_Max8Ux32: case Iop_Max16Ux16: case Iop_Max32Ux8: case Iop_Min8Sx32:
    case Iop_Min16Sx16: case Iop_Min32Sx8: case Iop_Min8Ux32: case Iop_Min16Ux16:
    case Iop_Min32Ux8: case Iop_Mul16x16: case Iop_Mul32x8: case Iop_MulHi16Ux16:
    case Iop_MulHi16Sx16: case Iop_QAdd8Ux32: case Iop_QAdd16Ux16: case Iop_QAdd8Sx32:
    case Iop_QAdd16Sx16: case Iop_QSub8Ux32: case Iop_QSub16Ux16: case Iop_QSub8Sx32:
    case Iop_QSub16Sx16: case Iop_Avg8Ux32: case Iop_Avg16Ux16: case Iop_Perm32x8:
    case Iop_Add64Fx4: case Iop_Sub64Fx4: case Iop_Mul64Fx4: case Iop_Div64Fx4:
    case Iop_Add32Fx8: case Iop_Sub32Fx8: case Iop_Mul32Fx8: case Iop_Div32Fx8:
    case Iop_Max32Fx8: case Iop_Min32Fx8: case Iop_Max64Fx4: case Iop_Min64Fx4:
    case Iop_Sqrt32Fx8: case Iop_Sqrt64Fx4: case Iop_I32StoF32x8: case Iop_F32toI32Sx8:
      return Ity_V256;
    default:
      // Everything else supported is a 128-bit vector operation.
      return Ity_V128;
  }
}

namespace {

unsigned type_bytes(IRType t) {
  switch (t) {
    case Ity_I1: case Ity_I8: return 1;
    case Ity_I16: return 2;
    case Ity_I32: case Ity_F32: return 4;
    case Ity_I64: case Ity_F64: return 8;
    case Ity_I128: case Ity_V128: return 16;
    case Ity_V256: return 32;
    default: return 32;
  }
}

Value eval(IROp op, const Value* a) {
  const uint64_t x = a[0].u64(), y = a[1].u64();
  switch (op) {
    // ---- integer arithmetic and logic ----
    case Iop_Add8: case Iop_Add16: case Iop_Add32: case Iop_Add64:
      return uint(x + y, 8u << (op - Iop_Add8));
    case Iop_Sub8: case Iop_Sub16: case Iop_Sub32: case Iop_Sub64:
      return uint(x - y, 8u << (op - Iop_Sub8));
    case Iop_Mul8: case Iop_Mul16: case Iop_Mul32: case Iop_Mul64:
      return uint(x * y, 8u << (op - Iop_Mul8));
    case Iop_Or8: case Iop_Or16: case Iop_Or32: case Iop_Or64:
      return uint(x | y, 8u << (op - Iop_Or8));
    case Iop_And8: case Iop_And16: case Iop_And32: case Iop_And64:
      return uint(x & y, 8u << (op - Iop_And8));
    case Iop_Xor8: case Iop_Xor16: case Iop_Xor32: case Iop_Xor64:
      return uint(x ^ y, 8u << (op - Iop_Xor8));
    case Iop_Shl8: case Iop_Shl16: case Iop_Shl32: case Iop_Shl64: {
      const unsigned bits = 8u << (op - Iop_Shl8);
      return uint(x << shift_amount(y, bits), bits);
    }
    case Iop_Shr8: case Iop_Shr16: case Iop_Shr32: case Iop_Shr64: {
      const unsigned bits = 8u << (op - Iop_Shr8);
      return uint((x & mask_of(bits)) >> shift_amount(y, bits), bits);
    }
    case Iop_Sar8: case Iop_Sar16: case Iop_Sar32: case Iop_Sar64: {
      const unsigned bits = 8u << (op - Iop_Sar8);
      return uint(static_cast<uint64_t>(sext(x, bits) >> shift_amount(y, bits)), bits);
    }
    case Iop_CmpEQ8: case Iop_CmpEQ16: case Iop_CmpEQ32: case Iop_CmpEQ64:
    case Iop_CasCmpEQ8: case Iop_CasCmpEQ16: case Iop_CasCmpEQ32: case Iop_CasCmpEQ64:
      return bit(x == y);
    case Iop_CmpNE8: case Iop_CmpNE16: case Iop_CmpNE32: case Iop_CmpNE64:
    case Iop_CasCmpNE8: case Iop_CasCmpNE16: case Iop_CasCmpNE32: case Iop_CasCmpNE64:
    case Iop_ExpCmpNE8: case Iop_ExpCmpNE16: case Iop_ExpCmpNE32: case Iop_ExpCmpNE64:
      return bit(x != y);
    case Iop_Not8: case Iop_Not16: case Iop_Not32: case Iop_Not64:
      return uint(~x, 8u << (op - Iop_Not8));
    case Iop_MullS8: case Iop_MullS16: case Iop_MullS32:
    case Iop_MullU8: case Iop_MullU16: case Iop_MullU32: {
      const bool s = op <= Iop_MullS64;
      const unsigned bits = 8u << (op - (s ? Iop_MullS8 : Iop_MullU8));
      return uint(widen_mul(x, y, bits, s), 2 * bits);
    }
    case Iop_MullS64:
      return of_u128(static_cast<unsigned __int128>(static_cast<__int128>(static_cast<int64_t>(x)) *
                                                    static_cast<int64_t>(y)));
    case Iop_MullU64:
      return of_u128(static_cast<unsigned __int128>(x) * y);
    case Iop_Clz64: case Iop_ClzNat64: return Value::of(clz(x, 64));
    case Iop_Clz32: case Iop_ClzNat32: return Value::of(clz(x & 0xFFFFFFFF, 32));
    case Iop_Ctz64: case Iop_CtzNat64: return Value::of(ctz(x, 64));
    case Iop_Ctz32: case Iop_CtzNat32: return Value::of(ctz(x & 0xFFFFFFFF, 32));
    case Iop_PopCount64: return Value::of(static_cast<uint64_t>(__builtin_popcountll(x)));
    case Iop_PopCount32:
      return Value::of(static_cast<uint64_t>(__builtin_popcountll(x & 0xFFFFFFFF)));
    case Iop_CmpLT32S: return bit(sext(x, 32) < sext(y, 32));
    case Iop_CmpLT64S: return bit(static_cast<int64_t>(x) < static_cast<int64_t>(y));
    case Iop_CmpLE32S: return bit(sext(x, 32) <= sext(y, 32));
    case Iop_CmpLE64S: return bit(static_cast<int64_t>(x) <= static_cast<int64_t>(y));
    case Iop_CmpLT32U: return bit((x & 0xFFFFFFFF) < (y & 0xFFFFFFFF));
    case Iop_CmpLT64U: return bit(x < y);
    case Iop_CmpLE32U: return bit((x & 0xFFFFFFFF) <= (y & 0xFFFFFFFF));
    case Iop_CmpLE64U: return bit(x <= y);
    case Iop_CmpNEZ8: case Iop_CmpNEZ16: case Iop_CmpNEZ32: case Iop_CmpNEZ64:
      return bit((x & mask_of(8u << (op - Iop_CmpNEZ8))) != 0);
    case Iop_CmpwNEZ32: return uint((x & 0xFFFFFFFF) != 0 ? ~0ull : 0, 32);
    case Iop_CmpwNEZ64: return Value::of(x != 0 ? ~0ull : 0);
    case Iop_Left8: case Iop_Left16: case Iop_Left32: case Iop_Left64:
      return uint(x | (0 - x), 8u << (op - Iop_Left8));
    case Iop_Max32U: return uint((x & 0xFFFFFFFF) > (y & 0xFFFFFFFF) ? x : y, 32);
    case Iop_CmpORD32U:
      return Value::of(
          cmp_ord((x & 0xFFFFFFFF) < (y & 0xFFFFFFFF), (x & 0xFFFFFFFF) > (y & 0xFFFFFFFF)));
    case Iop_CmpORD64U: return Value::of(cmp_ord(x < y, x > y));
    case Iop_CmpORD32S:
      return Value::of(cmp_ord(sext(x, 32) < sext(y, 32), sext(x, 32) > sext(y, 32)));
    case Iop_CmpORD64S:
      return Value::of(cmp_ord(static_cast<int64_t>(x) < static_cast<int64_t>(y),
                               static_cast<int64_t>(x) > static_cast<int64_t>(y)));
    case Iop_DivU32:
      return uint(udiv<uint32_t>(static_cast<uint32_t>(x), static_cast<uint32_t>(y)), 32);
    case Iop_DivS32:
      return uint(static_cast<uint32_t>(
                      sdiv<int32_t, uint32_t>(static_cast<int32_t>(x), static_cast<int32_t>(y))),
                  32);
    case Iop_DivU64: return Value::of(udiv<uint64_t>(x, y));
    case Iop_DivS64:
      return Value::of(static_cast<uint64_t>(
          sdiv<int64_t, uint64_t>(static_cast<int64_t>(x), static_cast<int64_t>(y))));
    case Iop_DivModU64to32: {
      const uint64_t d = y & 0xFFFFFFFF;
      return Value::of((umod<uint64_t>(x, d) << 32) | (udiv<uint64_t>(x, d) & 0xFFFFFFFF));
    }
    case Iop_DivModS64to32: {
      const int64_t n = static_cast<int64_t>(x), d = sext(y, 32);
      const uint64_t q = static_cast<uint64_t>(sdiv<int64_t, uint64_t>(n, d)),
                     r = static_cast<uint64_t>(smod<int64_t>(n, d));
      return Value::of((r << 32) | (q & 0xFFFFFFFF));
    }
    case Iop_DivModU32to32: {
      const uint32_t n = static_cast<uint32_t>(x), d = static_cast<uint32_t>(y);
      return Value::of((uint64_t{umod(n, d)} << 32) | udiv(n, d));
    }
    case Iop_DivModS32to32: {
      const int32_t n = static_cast<int32_t>(x), d = static_cast<int32_t>(y);
      return Value::of((uint64_t{static_cast<uint32_t>(smod(n, d))} << 32) |
                       static_cast<uint32_t>(sdiv<int32_t, uint32_t>(n, d)));
    }
    case Iop_DivModU128to64: {
      const unsigned __int128 n = u128_of(a[0]);
      return pair64(static_cast<uint64_t>(udiv<unsigned __int128>(n, y)),
                    static_cast<uint64_t>(umod<unsigned __int128>(n, y)));
    }
    case Iop_DivModS128to64: {
      const __int128 n = static_cast<__int128>(u128_of(a[0])), d = static_cast<int64_t>(y);
      return pair64(static_cast<uint64_t>(sdiv<__int128, unsigned __int128>(n, d)),
                    static_cast<uint64_t>(smod<__int128>(n, d)));
    }
    case Iop_DivModU64to64: return pair64(udiv(x, y), umod(x, y));
    case Iop_DivModS64to64: {
      const int64_t n = static_cast<int64_t>(x), d = static_cast<int64_t>(y);
      return pair64(static_cast<uint64_t>(sdiv<int64_t, uint64_t>(n, d)),
                    static_cast<uint64_t>(smod(n, d)));
    }

    // ---- integer conversions ----
    case Iop_8Uto16: case Iop_8Uto32: case Iop_8Uto64: return uint(x, 8);
    case Iop_16Uto32: case Iop_16Uto64: return uint(x, 16);
    case Iop_32Uto64: return uint(x, 32);
    case Iop_8Sto16: return uint(static_cast<uint64_t>(sext(x, 8)), 16);
    case Iop_8Sto32: return uint(static_cast<uint64_t>(sext(x, 8)), 32);
    case Iop_8Sto64: return Value::of(static_cast<uint64_t>(sext(x, 8)));
    case Iop_16Sto32: return uint(static_cast<uint64_t>(sext(x, 16)), 32);
    case Iop_16Sto64: return Value::of(static_cast<uint64_t>(sext(x, 16)));
    case Iop_32Sto64: return Value::of(static_cast<uint64_t>(sext(x, 32)));
    case Iop_64to8: case Iop_32to8: case Iop_16to8: return uint(x, 8);
    case Iop_64to16: case Iop_32to16: return uint(x, 16);
    case Iop_64to32: return uint(x, 32);
    case Iop_16HIto8: return uint(x >> 8, 8);
    case Iop_32HIto16: return uint(x >> 16, 16);
    case Iop_64HIto32: return uint(x >> 32, 32);
    case Iop_128to64: return Value::of(x);
    case Iop_128HIto64: return Value::of(lane<uint64_t>(a[0], 1));
    case Iop_8HLto16: return uint(((x & 0xFF) << 8) | (y & 0xFF), 16);
    case Iop_16HLto32: return uint(((x & 0xFFFF) << 16) | (y & 0xFFFF), 32);
    case Iop_32HLto64: return Value::of(((x & 0xFFFFFFFF) << 32) | (y & 0xFFFFFFFF));
    case Iop_64HLto128: return pair64(y, x);
    case Iop_Not1: return bit((x & 1) == 0);
    case Iop_And1: return bit((x & y & 1) != 0);
    case Iop_Or1: return bit(((x | y) & 1) != 0);
    case Iop_32to1: case Iop_64to1: return bit((x & 1) != 0);
    case Iop_1Uto8: case Iop_1Uto32: case Iop_1Uto64: return Value::of(x & 1);
    case Iop_1Sto8: return uint((x & 1) ? ~0ull : 0, 8);
    case Iop_1Sto16: return uint((x & 1) ? ~0ull : 0, 16);
    case Iop_1Sto32: return uint((x & 1) ? ~0ull : 0, 32);
    case Iop_1Sto64: return Value::of((x & 1) ? ~0ull : 0);
    case Iop_Reverse8sIn32_x1: return uint(__builtin_bswap32(static_cast<uint32_t>(x)), 32);
    case Iop_Reverse8sIn64_x1: return Value::of(__builtin_bswap64(x));
    case Iop_Reverse8sIn16_x4: return reverse_in<uint8_t>(a[0], 2, 8);
    case Iop_Reverse8sIn32_x2: return reverse_in<uint8_t>(a[0], 4, 8);
    case Iop_Reverse16sIn32_x2: return reverse_in<uint16_t>(a[0], 4, 8);
    case Iop_Reverse16sIn64_x1: return reverse_in<uint16_t>(a[0], 8, 8);
    case Iop_Reverse32sIn64_x1: return reverse_in<uint32_t>(a[0], 8, 8);

    // ---- scalar floating point (args[0] is the rounding mode) ----
    case Iop_AddF64: return Value::of(sd(addsd, y, a[2].u64()));
    case Iop_SubF64: return Value::of(sd(subsd, y, a[2].u64()));
    case Iop_MulF64: return Value::of(sd(mulsd, y, a[2].u64()));
    case Iop_DivF64: return Value::of(sd(divsd, y, a[2].u64()));
    case Iop_SqrtF64: return Value::of(x87_sqrt64(y));
    case Iop_AddF32: return uint(lo_of(addss_rm(xmm_of(y), xmm_of(a[2].u64()), x)), 32);
    case Iop_SubF32: return uint(lo_of(subss_rm(xmm_of(y), xmm_of(a[2].u64()), x)), 32);
    case Iop_MulF32: return uint(lo_of(mulss_rm(xmm_of(y), xmm_of(a[2].u64()), x)), 32);
    case Iop_DivF32: return uint(lo_of(divss_rm(xmm_of(y), xmm_of(a[2].u64()), x)), 32);
    case Iop_SqrtF32: return uint(lo_of(sqrtss_rm(xmm_of(y), xmm_of(y), x)), 32);
    case Iop_NegF64: return Value::of(x ^ (1ull << 63));
    case Iop_AbsF64: return Value::of(x & ~(1ull << 63));
    case Iop_NegF32: return uint(x ^ (1ull << 31), 32);
    case Iop_AbsF32: return uint(x & ~(1ull << 31), 32);
    case Iop_CmpF64: return Value::of(cmp_f64(x, y));
    case Iop_CmpF32: return Value::of(cmp_f32(static_cast<uint32_t>(x), static_cast<uint32_t>(y)));
    case Iop_F64toI32S: return uint(static_cast<uint32_t>(cvtsd2si32_rm(xmm_of(y), x)), 32);
    case Iop_F64toI64S: return Value::of(static_cast<uint64_t>(cvtsd2si64_rm(xmm_of(y), x)));
    case Iop_I32StoF64: return Value::of(lo_of(cvtsi2sdl(static_cast<int32_t>(x))));
    case Iop_I64StoF64: return Value::of(lo_of(cvtsi2sdq_rm(static_cast<int64_t>(y), x)));
    case Iop_I32StoF32: return uint(lo_of(cvtsi2ssl_rm(static_cast<int32_t>(y), x)), 32);
    case Iop_I64StoF32: return uint(lo_of(cvtsi2ssq_rm(static_cast<int64_t>(y), x)), 32);
    case Iop_F32toF64: return Value::of(sd(cvtss2sd, 0, x & 0xFFFFFFFF));
    case Iop_F64toF32: return uint(lo_of(cvtsd2ss_rm(_mm_setzero_si128(), xmm_of(y), x)), 32);
    case Iop_RoundF64toInt: return Value::of(x87_rndint64(y, x87_cw_for(x)));
    case Iop_RoundF32toInt: return uint(x87_rndint32(static_cast<uint32_t>(y), x87_cw_for(x)), 32);
    case Iop_ReinterpF64asI64: case Iop_ReinterpI64asF64: return Value::of(x);
    case Iop_ReinterpF32asI32: case Iop_ReinterpI32asF32: return uint(x, 32);
    case Iop_ReinterpV128asI128: case Iop_ReinterpI128asV128: return low_bytes(a[0], 16);

    // ---- 64-bit SIMD ----
    case Iop_Add8x8: return vadd<uint8_t>(a[0], a[1], 8);
    case Iop_Add16x4: return vadd<uint16_t>(a[0], a[1], 8);
    case Iop_Add32x2: return vadd<uint32_t>(a[0], a[1], 8);
    case Iop_Sub8x8: return vsub<uint8_t>(a[0], a[1], 8);
    case Iop_Sub16x4: return vsub<uint16_t>(a[0], a[1], 8);
    case Iop_Sub32x2: return vsub<uint32_t>(a[0], a[1], 8);
    case Iop_QAdd8Ux8: return vqadd<uint8_t>(a[0], a[1], 8);
    case Iop_QAdd16Ux4: return vqadd<uint16_t>(a[0], a[1], 8);
    case Iop_QAdd8Sx8: return vqadd<int8_t>(a[0], a[1], 8);
    case Iop_QAdd16Sx4: return vqadd<int16_t>(a[0], a[1], 8);
    case Iop_QSub8Ux8: return vqsub<uint8_t>(a[0], a[1], 8);
    case Iop_QSub16Ux4: return vqsub<uint16_t>(a[0], a[1], 8);
    case Iop_QSub8Sx8: return vqsub<int8_t>(a[0], a[1], 8);
    case Iop_QSub16Sx4: return vqsub<int16_t>(a[0], a[1], 8);
    case Iop_Mul16x4: return vmul<uint16_t>(a[0], a[1], 8);
    case Iop_Mul32x2: return vmul<uint32_t>(a[0], a[1], 8);
    case Iop_MulHi16Ux4: return vmulhi<uint16_t>(a[0], a[1], 8);
    case Iop_MulHi16Sx4: return vmulhi<int16_t>(a[0], a[1], 8);
    case Iop_Avg8Ux8: return vavg<uint8_t>(a[0], a[1], 8);
    case Iop_Avg16Ux4: return vavg<uint16_t>(a[0], a[1], 8);
    case Iop_Max8Ux8: return vmax<uint8_t>(a[0], a[1], 8);
    case Iop_Min8Ux8: return vmin<uint8_t>(a[0], a[1], 8);
    case Iop_Max16Sx4: return vmax<int16_t>(a[0], a[1], 8);
    case Iop_Min16Sx4: return vmin<int16_t>(a[0], a[1], 8);
    case Iop_CmpEQ8x8: return vcmpeq<uint8_t>(a[0], a[1], 8);
    case Iop_CmpEQ16x4: return vcmpeq<uint16_t>(a[0], a[1], 8);
    case Iop_CmpEQ32x2: return vcmpeq<uint32_t>(a[0], a[1], 8);
    case Iop_CmpGT8Sx8: return vcmpgt<int8_t>(a[0], a[1], 8);
    case Iop_CmpGT16Sx4: return vcmpgt<int16_t>(a[0], a[1], 8);
    case Iop_CmpGT32Sx2: return vcmpgt<int32_t>(a[0], a[1], 8);
    case Iop_CmpNEZ8x8: return vcmpnez<uint8_t>(a[0], 8);
    case Iop_CmpNEZ16x4: return vcmpnez<uint16_t>(a[0], 8);
    case Iop_CmpNEZ32x2: return vcmpnez<uint32_t>(a[0], 8);
    case Iop_ShlN16x4: return vshl<uint16_t>(a[0], y & 0xFF, 8);
    case Iop_ShlN32x2: return vshl<uint32_t>(a[0], y & 0xFF, 8);
    case Iop_ShrN16x4: return vshr<uint16_t>(a[0], y & 0xFF, 8);
    case Iop_ShrN32x2: return vshr<uint32_t>(a[0], y & 0xFF, 8);
    case Iop_SarN8x8: return vsar<int8_t>(a[0], y & 7, 8);
    case Iop_SarN16x4: return vsar<int16_t>(a[0], y & 0xFF, 8);
    case Iop_SarN32x2: return vsar<int32_t>(a[0], y & 0xFF, 8);
    case Iop_InterleaveHI8x8: return interleave<uint8_t>(a[0], a[1], 8, true);
    case Iop_InterleaveHI16x4: return interleave<uint16_t>(a[0], a[1], 8, true);
    case Iop_InterleaveHI32x2: return interleave<uint32_t>(a[0], a[1], 8, true);
    case Iop_InterleaveLO8x8: return interleave<uint8_t>(a[0], a[1], 8, false);
    case Iop_InterleaveLO16x4: return interleave<uint16_t>(a[0], a[1], 8, false);
    case Iop_InterleaveLO32x2: return interleave<uint32_t>(a[0], a[1], 8, false);
    case Iop_CatOddLanes16x4: case Iop_CatEvenLanes16x4: {
      const unsigned odd = op == Iop_CatOddLanes16x4 ? 1 : 0;
      Value r;
      set_lane<uint16_t>(r, 0, lane<uint16_t>(a[1], odd));
      set_lane<uint16_t>(r, 1, lane<uint16_t>(a[1], 2 + odd));
      set_lane<uint16_t>(r, 2, lane<uint16_t>(a[0], odd));
      set_lane<uint16_t>(r, 3, lane<uint16_t>(a[0], 2 + odd));
      return r;
    }
    case Iop_QNarrowBin16Sto8Ux8:
      return narrow<int16_t, uint8_t>(a[0], a[1], 8,
                                      [](int16_t v) { return saturate<uint8_t>(v); });
    case Iop_QNarrowBin16Sto8Sx8:
      return narrow<int16_t, int8_t>(a[0], a[1], 8, [](int16_t v) { return saturate<int8_t>(v); });
    case Iop_QNarrowBin32Sto16Sx4:
      return narrow<int32_t, int16_t>(a[0], a[1], 8,
                                      [](int32_t v) { return saturate<int16_t>(v); });
    case Iop_NarrowBin16to8x8:
      return narrow<uint16_t, uint8_t>(a[0], a[1], 8,
                                       [](uint16_t v) { return static_cast<uint8_t>(v); });
    case Iop_NarrowBin32to16x4:
      return narrow<uint32_t, uint16_t>(a[0], a[1], 8,
                                        [](uint32_t v) { return static_cast<uint16_t>(v); });
    case Iop_PermOrZero8x8: {
      Value r;
      for (unsigned i = 0; i < 8; ++i) r.b[i] = (a[1].b[i] & 0x80) ? 0 : a[0].b[a[1].b[i] & 7];
      return r;
    }
    case Iop_GetMSBs8x8: case Iop_GetMSBs8x16: {
      const unsigned n = op == Iop_GetMSBs8x8 ? 8 : 16;
      uint64_t m = 0;
      for (unsigned i = 0; i < n; ++i) m |= uint64_t{static_cast<uint8_t>(a[0].b[i] >> 7)} << i;
      return Value::of(m);
    }

    // ---- 128-bit SIMD integer ----
    case Iop_V128to64: return Value::of(x);
    case Iop_V128HIto64: return Value::of(lane<uint64_t>(a[0], 1));
    case Iop_64HLtoV128: return pair64(y, x);
    case Iop_64UtoV128: return Value::of(x);
    case Iop_SetV128lo64: return pair64(y, lane<uint64_t>(a[0], 1));
    case Iop_ZeroHI64ofV128: return low_bytes(a[0], 8);
    case Iop_ZeroHI96ofV128: return low_bytes(a[0], 4);
    case Iop_ZeroHI112ofV128: return low_bytes(a[0], 2);
    case Iop_ZeroHI120ofV128: return low_bytes(a[0], 1);
    case Iop_32UtoV128: return uint(x, 32);
    case Iop_V128to32: return uint(x, 32);
    case Iop_SetV128lo32: {
      Value r = low_bytes(a[0], 16);
      set_lane<uint32_t>(r, 0, static_cast<uint32_t>(y));
      return r;
    }
    case Iop_NotV128: return each<uint64_t>(a[0], 16, [](uint64_t v) { return ~v; });
    case Iop_AndV128:
      return zip<uint64_t>(a[0], a[1], 16, [](uint64_t p, uint64_t q) { return p & q; });
    case Iop_OrV128:
      return zip<uint64_t>(a[0], a[1], 16, [](uint64_t p, uint64_t q) { return p | q; });
    case Iop_XorV128:
      return zip<uint64_t>(a[0], a[1], 16, [](uint64_t p, uint64_t q) { return p ^ q; });
    case Iop_CmpNEZ8x16: return vcmpnez<uint8_t>(a[0], 16);
    case Iop_CmpNEZ16x8: return vcmpnez<uint16_t>(a[0], 16);
    case Iop_CmpNEZ32x4: return vcmpnez<uint32_t>(a[0], 16);
    case Iop_CmpNEZ64x2: return vcmpnez<uint64_t>(a[0], 16);
    case Iop_Add8x16: return vadd<uint8_t>(a[0], a[1], 16);
    case Iop_Add16x8: return vadd<uint16_t>(a[0], a[1], 16);
    case Iop_Add32x4: return vadd<uint32_t>(a[0], a[1], 16);
    case Iop_Add64x2: return vadd<uint64_t>(a[0], a[1], 16);
    case Iop_Sub8x16: return vsub<uint8_t>(a[0], a[1], 16);
    case Iop_Sub16x8: return vsub<uint16_t>(a[0], a[1], 16);
    case Iop_Sub32x4: return vsub<uint32_t>(a[0], a[1], 16);
    case Iop_Sub64x2: return vsub<uint64_t>(a[0], a[1], 16);
    case Iop_QAdd8Ux16: return vqadd<uint8_t>(a[0], a[1], 16);
    case Iop_QAdd16Ux8: return vqadd<uint16_t>(a[0], a[1], 16);
    case Iop_QAdd8Sx16: return vqadd<int8_t>(a[0], a[1], 16);
    case Iop_QAdd16Sx8: return vqadd<int16_t>(a[0], a[1], 16);
    case Iop_QSub8Ux16: return vqsub<uint8_t>(a[0], a[1], 16);
    case Iop_QSub16Ux8: return vqsub<uint16_t>(a[0], a[1], 16);
    case Iop_QSub8Sx16: return vqsub<int8_t>(a[0], a[1], 16);
    case Iop_QSub16Sx8: return vqsub<int16_t>(a[0], a[1], 16);
    case Iop_Mul16x8: return vmul<uint16_t>(a[0], a[1], 16);
    case Iop_Mul32x4: return vmul<uint32_t>(a[0], a[1], 16);
    case Iop_MulHi16Ux8: return vmulhi<uint16_t>(a[0], a[1], 16);
    case Iop_MulHi16Sx8: return vmulhi<int16_t>(a[0], a[1], 16);
    case Iop_Avg8Ux16: return vavg<uint8_t>(a[0], a[1], 16);
    case Iop_Avg16Ux8: return vavg<uint16_t>(a[0], a[1], 16);
    case Iop_Max8Sx16: return vmax<int8_t>(a[0], a[1], 16);
    case Iop_Max16Sx8: return vmax<int16_t>(a[0], a[1], 16);
    case Iop_Max32Sx4: return vmax<int32_t>(a[0], a[1], 16);
    case Iop_Max8Ux16: return vmax<uint8_t>(a[0], a[1], 16);
    case Iop_Max16Ux8: return vmax<uint16_t>(a[0], a[1], 16);
    case Iop_Max32Ux4: return vmax<uint32_t>(a[0], a[1], 16);
    case Iop_Min8Sx16: return vmin<int8_t>(a[0], a[1], 16);
    case Iop_Min16Sx8: return vmin<int16_t>(a[0], a[1], 16);
    case Iop_Min32Sx4: return vmin<int32_t>(a[0], a[1], 16);
    case Iop_Min8Ux16: return vmin<uint8_t>(a[0], a[1], 16);
    case Iop_Min16Ux8: return vmin<uint16_t>(a[0], a[1], 16);
    case Iop_Min32Ux4: return vmin<uint32_t>(a[0], a[1], 16);
    case Iop_CmpEQ8x16: return vcmpeq<uint8_t>(a[0], a[1], 16);
    case Iop_CmpEQ16x8: return vcmpeq<uint16_t>(a[0], a[1], 16);
    case Iop_CmpEQ32x4: return vcmpeq<uint32_t>(a[0], a[1], 16);
    case Iop_CmpEQ64x2: return vcmpeq<uint64_t>(a[0], a[1], 16);
    case Iop_CmpGT8Sx16: return vcmpgt<int8_t>(a[0], a[1], 16);
    case Iop_CmpGT16Sx8: return vcmpgt<int16_t>(a[0], a[1], 16);
    case Iop_CmpGT32Sx4: return vcmpgt<int32_t>(a[0], a[1], 16);
    case Iop_CmpGT64Sx2: return vcmpgt<int64_t>(a[0], a[1], 16);
    case Iop_ShlN16x8: return vshl<uint16_t>(a[0], y & 0xFF, 16);
    case Iop_ShlN32x4: return vshl<uint32_t>(a[0], y & 0xFF, 16);
    case Iop_ShlN64x2: return vshl<uint64_t>(a[0], y & 0xFF, 16);
    case Iop_ShrN16x8: return vshr<uint16_t>(a[0], y & 0xFF, 16);
    case Iop_ShrN32x4: return vshr<uint32_t>(a[0], y & 0xFF, 16);
    case Iop_ShrN64x2: return vshr<uint64_t>(a[0], y & 0xFF, 16);
    case Iop_SarN8x16: return vsar<int8_t>(a[0], y & 7, 16);
    case Iop_SarN16x8: return vsar<int16_t>(a[0], y & 0xFF, 16);
    case Iop_SarN32x4: return vsar<int32_t>(a[0], y & 0xFF, 16);
    case Iop_SarN64x2: return vsar<int64_t>(a[0], y & 63, 16);
    case Iop_QNarrowBin16Sto8Ux16:
      return narrow<int16_t, uint8_t>(a[0], a[1], 16,
                                      [](int16_t v) { return saturate<uint8_t>(v); });
    case Iop_QNarrowBin16Sto8Sx16:
      return narrow<int16_t, int8_t>(a[0], a[1], 16, [](int16_t v) { return saturate<int8_t>(v); });
    case Iop_QNarrowBin32Sto16Ux8:
      return narrow<int32_t, uint16_t>(a[0], a[1], 16,
                                       [](int32_t v) { return saturate<uint16_t>(v); });
    case Iop_QNarrowBin32Sto16Sx8:
      return narrow<int32_t, int16_t>(a[0], a[1], 16,
                                      [](int32_t v) { return saturate<int16_t>(v); });
    case Iop_NarrowBin16to8x16:
      return narrow<uint16_t, uint8_t>(a[0], a[1], 16,
                                       [](uint16_t v) { return static_cast<uint8_t>(v); });
    case Iop_NarrowBin32to16x8:
      return narrow<uint32_t, uint16_t>(a[0], a[1], 16,
                                        [](uint32_t v) { return static_cast<uint16_t>(v); });
    case Iop_InterleaveHI8x16: return interleave<uint8_t>(a[0], a[1], 16, true);
    case Iop_InterleaveHI16x8: return interleave<uint16_t>(a[0], a[1], 16, true);
    case Iop_InterleaveHI32x4: return interleave<uint32_t>(a[0], a[1], 16, true);
    case Iop_InterleaveHI64x2: return interleave<uint64_t>(a[0], a[1], 16, true);
    case Iop_InterleaveLO8x16: return interleave<uint8_t>(a[0], a[1], 16, false);
    case Iop_InterleaveLO16x8: return interleave<uint16_t>(a[0], a[1], 16, false);
    case Iop_InterleaveLO32x4: return interleave<uint32_t>(a[0], a[1], 16, false);
    case Iop_InterleaveLO64x2: return interleave<uint64_t>(a[0], a[1], 16, false);
    case Iop_PermOrZero8x16: {  // pshufb
      Value r;
      for (unsigned i = 0; i < 16; ++i) r.b[i] = (a[1].b[i] & 0x80) ? 0 : a[0].b[a[1].b[i] & 15];
      return r;
    }
    case Iop_Perm32x4: case Iop_Perm32x8: {
      const unsigned n = op == Iop_Perm32x4 ? 4 : 8;
      Value r;
      for (unsigned i = 0; i < n; ++i)
        set_lane<uint32_t>(r, i, lane<uint32_t>(a[0], lane<uint32_t>(a[1], i) & (n - 1)));
      return r;
    }
    case Iop_PwExtUSMulQAdd8x16: {  // pmaddubsw: left bytes unsigned, right signed
      Value r;
      for (unsigned i = 0; i < 8; ++i) {
        const int64_t s = int64_t{a[0].b[2 * i]} * static_cast<int8_t>(a[1].b[2 * i]) +
                          int64_t{a[0].b[2 * i + 1]} * static_cast<int8_t>(a[1].b[2 * i + 1]);
        set_lane<int16_t>(r, i, saturate<int16_t>(s));
      }
      return r;
    }

    // ---- 128-bit SIMD floating point (rounding modes ignored, as VEX) ----
    case Iop_Add32Fx4: return sse2(addps, a[1], a[2], 16);
    case Iop_Sub32Fx4: return sse2(subps, a[1], a[2], 16);
    case Iop_Mul32Fx4: return sse2(mulps, a[1], a[2], 16);
    case Iop_Div32Fx4: return sse2(divps, a[1], a[2], 16);
    case Iop_Max32Fx4: return sse2(maxps, a[0], a[1], 16);
    case Iop_Min32Fx4: return sse2(minps, a[0], a[1], 16);
    case Iop_CmpEQ32Fx4: return sse2(cmpeqps, a[0], a[1], 16);
    case Iop_CmpLT32Fx4: return sse2(cmpltps, a[0], a[1], 16);
    case Iop_CmpLE32Fx4: return sse2(cmpleps, a[0], a[1], 16);
    case Iop_CmpUN32Fx4: return sse2(cmpunps, a[0], a[1], 16);
    case Iop_Sqrt32Fx4: return sse2(sqrtps, a[1], a[1], 16);
    case Iop_I32StoF32x4: return sse_rm(cvtdq2ps_rm, a[1], x, 16);
    case Iop_F32toI32Sx4: return sse_rm(cvtps2dq_rm, a[1], x, 16);
    case Iop_Add32F0x4: return sse2(addss, a[0], a[1], 16);
    case Iop_Sub32F0x4: return sse2(subss, a[0], a[1], 16);
    case Iop_Mul32F0x4: return sse2(mulss, a[0], a[1], 16);
    case Iop_Div32F0x4: return sse2(divss, a[0], a[1], 16);
    case Iop_Max32F0x4: return sse2(maxss, a[0], a[1], 16);
    case Iop_Min32F0x4: return sse2(minss, a[0], a[1], 16);
    case Iop_CmpEQ32F0x4: return sse2(cmpeqss, a[0], a[1], 16);
    case Iop_CmpLT32F0x4: return sse2(cmpltss, a[0], a[1], 16);
    case Iop_CmpLE32F0x4: return sse2(cmpless, a[0], a[1], 16);
    case Iop_CmpUN32F0x4: return sse2(cmpunss, a[0], a[1], 16);
    case Iop_Sqrt32F0x4: return sse2(sqrtss, a[0], a[0], 16);
    case Iop_Add64Fx2: return sse2(addpd, a[1], a[2], 16);
    case Iop_Sub64Fx2: return sse2(subpd, a[1], a[2], 16);
    case Iop_Mul64Fx2: return sse2(mulpd, a[1], a[2], 16);
    case Iop_Div64Fx2: return sse2(divpd, a[1], a[2], 16);
    case Iop_Max64Fx2: return sse2(maxpd, a[0], a[1], 16);
    case Iop_Min64Fx2: return sse2(minpd, a[0], a[1], 16);
    case Iop_CmpEQ64Fx2: return sse2(cmpeqpd, a[0], a[1], 16);
    case Iop_CmpLT64Fx2: return sse2(cmpltpd, a[0], a[1], 16);
    case Iop_CmpLE64Fx2: return sse2(cmplepd, a[0], a[1], 16);
    case Iop_CmpUN64Fx2: return sse2(cmpunpd, a[0], a[1], 16);
    case Iop_Sqrt64Fx2: return sse2(sqrtpd, a[1], a[1], 16);
    case Iop_Add64F0x2: return sse2(addsd, a[0], a[1], 16);
    case Iop_Sub64F0x2: return sse2(subsd, a[0], a[1], 16);
    case Iop_Mul64F0x2: return sse2(mulsd, a[0], a[1], 16);
    case Iop_Div64F0x2: return sse2(divsd, a[0], a[1], 16);
    case Iop_Max64F0x2: return sse2(maxsd, a[0], a[1], 16);
    case Iop_Min64F0x2: return sse2(minsd, a[0], a[1], 16);
    case Iop_CmpEQ64F0x2: return sse2(cmpeqsd, a[0], a[1], 16);
    case Iop_CmpLT64F0x2: return sse2(cmpltsd, a[0], a[1], 16);
    case Iop_CmpLE64F0x2: return sse2(cmplesd, a[0], a[1], 16);
    case Iop_CmpUN64F0x2: return sse2(cmpunsd, a[0], a[1], 16);
    case Iop_Sqrt64F0x2: return sse2(sqrtsd, a[0], a[0], 16);

    // ---- 256-bit SIMD ----
    case Iop_V256to64_0: case Iop_V256to64_1: case Iop_V256to64_2: case Iop_V256to64_3:
      return Value::of(lane<uint64_t>(a[0], static_cast<unsigned>(op - Iop_V256to64_0)));
    case Iop_64x4toV256: {
      Value r;
      for (unsigned i = 0; i < 4; ++i) set_lane<uint64_t>(r, i, a[3 - i].u64());
      return r;
    }
    case Iop_V256toV128_0: return low_bytes(a[0], 16);
    case Iop_V256toV128_1: {
      Value r;
      std::memcpy(r.b, a[0].b + 16, 16);
      return r;
    }
    case Iop_V128HLtoV256: {
      Value r;
      std::memcpy(r.b, a[1].b, 16);
      std::memcpy(r.b + 16, a[0].b, 16);
      return r;
    }
    case Iop_AndV256:
      return zip<uint64_t>(a[0], a[1], 32, [](uint64_t p, uint64_t q) { return p & q; });
    case Iop_OrV256:
      return zip<uint64_t>(a[0], a[1], 32, [](uint64_t p, uint64_t q) { return p | q; });
    case Iop_XorV256:
      return zip<uint64_t>(a[0], a[1], 32, [](uint64_t p, uint64_t q) { return p ^ q; });
    case Iop_NotV256: return each<uint64_t>(a[0], 32, [](uint64_t v) { return ~v; });
    case Iop_CmpNEZ8x32: return vcmpnez<uint8_t>(a[0], 32);
    case Iop_CmpNEZ16x16: return vcmpnez<uint16_t>(a[0], 32);
    case Iop_CmpNEZ32x8: return vcmpnez<uint32_t>(a[0], 32);
    case Iop_CmpNEZ64x4: return vcmpnez<uint64_t>(a[0], 32);
    case Iop_Add8x32: return vadd<uint8_t>(a[0], a[1], 32);
    case Iop_Add16x16: return vadd<uint16_t>(a[0], a[1], 32);
    case Iop_Add32x8: return vadd<uint32_t>(a[0], a[1], 32);
    case Iop_Add64x4: return vadd<uint64_t>(a[0], a[1], 32);
    case Iop_Sub8x32: return vsub<uint8_t>(a[0], a[1], 32);
    case Iop_Sub16x16: return vsub<uint16_t>(a[0], a[1], 32);
    case Iop_Sub32x8: return vsub<uint32_t>(a[0], a[1], 32);
    case Iop_Sub64x4: return vsub<uint64_t>(a[0], a[1], 32);
    case Iop_CmpEQ8x32: return vcmpeq<uint8_t>(a[0], a[1], 32);
    case Iop_CmpEQ16x16: return vcmpeq<uint16_t>(a[0], a[1], 32);
    case Iop_CmpEQ32x8: return vcmpeq<uint32_t>(a[0], a[1], 32);
    case Iop_CmpEQ64x4: return vcmpeq<uint64_t>(a[0], a[1], 32);
    case Iop_CmpGT8Sx32: return vcmpgt<int8_t>(a[0], a[1], 32);
    case Iop_CmpGT16Sx16: return vcmpgt<int16_t>(a[0], a[1], 32);
    case Iop_CmpGT32Sx8: return vcmpgt<int32_t>(a[0], a[1], 32);
    case Iop_CmpGT64Sx4: return vcmpgt<int64_t>(a[0], a[1], 32);
    case Iop_ShlN16x16: return vshl<uint16_t>(a[0], y & 0xFF, 32);
    case Iop_ShlN32x8: return vshl<uint32_t>(a[0], y & 0xFF, 32);
    case Iop_ShlN64x4: return vshl<uint64_t>(a[0], y & 0xFF, 32);
    case Iop_ShrN16x16: return vshr<uint16_t>(a[0], y & 0xFF, 32);
    case Iop_ShrN32x8: return vshr<uint32_t>(a[0], y & 0xFF, 32);
    case Iop_ShrN64x4: return vshr<uint64_t>(a[0], y & 0xFF, 32);
    case Iop_SarN16x16: return vsar<int16_t>(a[0], y & 0xFF, 32);
    case Iop_SarN32x8: return vsar<int32_t>(a[0], y & 0xFF, 32);
    case Iop_Max8Sx32: return vmax<int8_t>(a[0], a[1], 32);
    case Iop_Max16Sx16: return vmax<int16_t>(a[0], a[1], 32);
    case Iop_Max32Sx8: return vmax<int32_t>(a[0], a[1], 32);
    case Iop_Max8Ux32: return vmax<uint8_t>(a[0], a[1], 32);
    case Iop_Max16Ux16: return vmax<uint16_t>(a[0], a[1], 32);
    case Iop_Max32Ux8: return vmax<uint32_t>(a[0], a[1], 32);
    case Iop_Min8Sx32: return vmin<int8_t>(a[0], a[1], 32);
    case Iop_Min16Sx16: return vmin<int16_t>(a[0], a[1], 32);
    case Iop_Min32Sx8: return vmin<int32_t>(a[0], a[1], 32);
    case Iop_Min8Ux32: return vmin<uint8_t>(a[0], a[1], 32);
    case Iop_Min16Ux16: return vmin<uint16_t>(a[0], a[1], 32);
    case Iop_Min32Ux8: return vmin<uint32_t>(a[0], a[1], 32);
    case Iop_Mul16x16: return vmul<uint16_t>(a[0], a[1], 32);
    case Iop_Mul32x8: return vmul<uint32_t>(a[0], a[1], 32);
    case Iop_MulHi16Ux16: return vmulhi<uint16_t>(a[0], a[1], 32);
    case Iop_MulHi16Sx16: return vmulhi<int16_t>(a[0], a[1], 32);
    case Iop_QAdd8Ux32: return vqadd<uint8_t>(a[0], a[1], 32);
    case Iop_QAdd16Ux16: return vqadd<uint16_t>(a[0], a[1], 32);
    case Iop_QAdd8Sx32: return vqadd<int8_t>(a[0], a[1], 32);
    case Iop_QAdd16Sx16: return vqadd<int16_t>(a[0], a[1], 32);
    case Iop_QSub8Ux32: return vqsub<uint8_t>(a[0], a[1], 32);
    case Iop_QSub16Ux16: return vqsub<uint16_t>(a[0], a[1], 32);
    case Iop_QSub8Sx32: return vqsub<int8_t>(a[0], a[1], 32);
    case Iop_QSub16Sx16: return vqsub<int16_t>(a[0], a[1], 32);
    case Iop_Avg8Ux32: return vavg<uint8_t>(a[0], a[1], 32);
    case Iop_Avg16Ux16: return vavg<uint16_t>(a[0], a[1], 32);
    case Iop_Add64Fx4: return sse2(addpd, a[1], a[2], 32);
    case Iop_Sub64Fx4: return sse2(subpd, a[1], a[2], 32);
    case Iop_Mul64Fx4: return sse2(mulpd, a[1], a[2], 32);
    case Iop_Div64Fx4: return sse2(divpd, a[1], a[2], 32);
    case Iop_Add32Fx8: return sse2(addps, a[1], a[2], 32);
    case Iop_Sub32Fx8: return sse2(subps, a[1], a[2], 32);
    case Iop_Mul32Fx8: return sse2(mulps, a[1], a[2], 32);
    case Iop_Div32Fx8: return sse2(divps, a[1], a[2], 32);
    case Iop_Max32Fx8: return sse2(maxps, a[0], a[1], 32);
    case Iop_Min32Fx8: return sse2(minps, a[0], a[1], 32);
    case Iop_Max64Fx4: return sse2(maxpd, a[0], a[1], 32);
    case Iop_Min64Fx4: return sse2(minpd, a[0], a[1], 32);
    case Iop_Sqrt32Fx8: return sse2(sqrtps, a[0], a[0], 32);
    case Iop_Sqrt64Fx4: return sse2(sqrtpd, a[0], a[0], 32);
    case Iop_I32StoF32x8: return sse_rm(cvtdq2ps_rm, a[1], x, 32);
    case Iop_F32toI32Sx8: return sse_rm(cvtps2dq_rm, a[1], x, 32);

    default:
      fail("replay: IR operation {:#x} is listed as supported but not implemented",
           static_cast<unsigned>(op));
  }
}

}  // namespace

Value eval_op(IROp op, const Value* args, unsigned nargs) {
  if (!omni_op_supported(op))
    fail("replay: IR operation {:#x} is not supported", static_cast<unsigned>(op));
  if (nargs > 4)
    fail("replay: IR operation {:#x} given {} arguments", static_cast<unsigned>(op), nargs);
  Value a[4];
  for (unsigned i = 0; i < nargs; ++i) a[i] = args[i];
  Value r = eval(op, a);
  const IRType t = result_type(op);
  const unsigned n = type_bytes(t);
  std::memset(r.b + n, 0, sizeof r.b - n);
  if (t == Ity_I1) r.b[0] &= 1;
  return r;
}

// ---------------------------------------------------------------------------
// amd64 flag helpers (guest_amd64_helpers.c). The thunk operations, numbered
// as VEX's AMD64G_CC_OP_* (guest_amd64_defs.h, not installed): COPY is 0,
// then ADD, SUB, ADC, SBB, LOGIC, INC, DEC, SHL, SHR, ROL, ROR, UMUL, SMUL
// each in B/W/L/Q sizes (1 ..= 52), then 32/64-bit ANDN, BLSI, BLSMSK, BLSR,
// ADCX, ADOX (53 ..= 64).

namespace {

enum CcOp : uint64_t {
  kCopy = 0,
  kAddB = 1, kSubB = 5, kAdcB = 9, kSbbB = 13, kLogicB = 17, kIncB = 21, kDecB = 25,
  kShlB = 29, kShrB = 33, kRolB = 37, kRorB = 41, kUmulB = 45, kSmulB = 49,
  kAndn32 = 53, kAndn64 = 54, kBlsi32 = 55, kBlsi64 = 56, kBlsmsk32 = 57, kBlsmsk64 = 58,
  kBlsr32 = 59, kBlsr64 = 60, kAdcx32 = 61, kAdcx64 = 62, kAdox32 = 63, kAdox64 = 64,
};

constexpr uint64_t kC = 1u << 0, kP = 1u << 2, kA = 1u << 4, kZ = 1u << 6, kS = 1u << 7,
                   kO = 1u << 11;

uint64_t parity(uint64_t res) {
  return (__builtin_popcount(static_cast<unsigned>(res & 0xFF)) & 1) ? 0 : kP;
}

// P, Z and S of a result of `bits` bits.
uint64_t pzs(uint64_t res, unsigned bits) {
  return parity(res) | ((res & mask_of(bits)) == 0 ? kZ : 0) | (((res >> (bits - 1)) & 1) ? kS : 0);
}

uint64_t flag_if(bool b, uint64_t f) { return b ? f : 0; }

// The carry out of argL + argR + c (c 0 or 1) in `bits` bits, as VEX
// derives it from the truncated sum.
bool add_carry(uint64_t l, uint64_t res, uint64_t c, unsigned bits) {
  const uint64_t m = mask_of(bits);
  return c ? (res & m) <= (l & m) : (res & m) < (l & m);
}

uint64_t rflags_all(uint64_t op, uint64_t d1, uint64_t d2, uint64_t nd) {
  if (op == kCopy) return d1 & (kO | kS | kZ | kA | kC | kP);
  if (op >= kAddB && op < kAndn32) {
    const unsigned bits = 8u << ((op - 1) % 4);
    const uint64_t m = mask_of(bits), sign = 1ull << (bits - 1);
    switch ((op - 1) / 4 * 4 + 1) {
      case kAddB: case kAdcB: {
        const uint64_t c = op >= kAdcB ? (nd & 1) : 0, l = d1, r = d2 ^ c, res = l + r + c;
        return flag_if(add_carry(l, res, c, bits), kC) | pzs(res, bits) | ((res ^ l ^ r) & kA) |
               flag_if((~(l ^ r) & (l ^ res) & sign) != 0, kO);
      }
      case kSubB: case kSbbB: {
        const uint64_t c = op >= kSbbB ? (nd & 1) : 0, l = d1, r = d2 ^ c, res = l - r - c;
        const bool cf = c ? (l & m) <= (r & m) : (l & m) < (r & m);
        return flag_if(cf, kC) | pzs(res, bits) | ((res ^ l ^ r) & kA) |
               flag_if(((l ^ r) & (l ^ res) & sign) != 0, kO);
      }
      case kLogicB:
        return pzs(d1, bits);
      case kIncB: case kDecB: {
        const bool inc = op < kDecB;
        const uint64_t res = d1, l = inc ? res - 1 : res + 1;
        return (nd & kC) | pzs(res, bits) | ((res ^ l ^ 1) & kA) |
               flag_if((res & m) == (inc ? sign : sign - 1), kO);
      }
      case kShlB: case kShrB: {
        const bool cf = op < kShrB ? ((d2 >> (bits - 1)) & 1) != 0 : (d2 & 1) != 0;
        return flag_if(cf, kC) | pzs(d1, bits) | flag_if(((d1 ^ d2) & sign) != 0, kO);
      }
      case kRolB: {
        const uint64_t lsb = d1 & 1, msb = (d1 >> (bits - 1)) & 1;
        return (nd & ~(kO | kC)) | flag_if(lsb != 0, kC) | flag_if((msb ^ lsb) != 0, kO);
      }
      case kRorB: {
        const uint64_t msb = (d1 >> (bits - 1)) & 1, next = (d1 >> (bits - 2)) & 1;
        return (nd & ~(kO | kC)) | flag_if(msb != 0, kC) | flag_if((msb ^ next) != 0, kO);
      }
      case kUmulB: {
        const unsigned __int128 p = static_cast<unsigned __int128>(d1 & m) * (d2 & m);
        const uint64_t lo = static_cast<uint64_t>(p) & m;
        const bool cf = (p >> bits) != 0;
        return flag_if(cf, kC | kO) | pzs(lo, bits);
      }
      case kSmulB: {
        const __int128 p = static_cast<__int128>(sext(d1, bits)) * sext(d2, bits);
        const uint64_t lo = static_cast<uint64_t>(p) & m;
        const bool cf = p != static_cast<__int128>(sext(lo, bits));
        return flag_if(cf, kC | kO) | pzs(lo, bits);
      }
    }
  }
  const unsigned bits = (op - kAndn32) % 2 == 0 ? 32 : 64;
  const uint64_t m = mask_of(bits);
  const uint64_t zs = ((d1 & m) == 0 ? kZ : 0) | (((d1 >> (bits - 1)) & 1) ? kS : 0);
  switch (op) {
    case kAndn32: case kAndn64:
      return zs;
    case kBlsi32: case kBlsi64:
      return zs | flag_if((d2 & m) != 0, kC);
    case kBlsmsk32: case kBlsmsk64:
      return (zs & kS) | flag_if((d2 & m) == 0, kC);
    case kBlsr32: case kBlsr64:
      return zs | flag_if((d2 & m) == 0, kC);
    case kAdcx32: case kAdcx64: case kAdox32: case kAdox64: {
      const unsigned shift = op >= kAdox32 ? 11 : 0;
      const uint64_t c = (nd >> shift) & 1, l = d1, r = d2 ^ c, res = l + r + c;
      return (nd & ~(1ull << shift)) | (uint64_t{add_carry(l, res, c, bits)} << shift);
    }
    default:
      fail("replay: amd64 flags thunk operation {} is not known", op);
  }
}

uint64_t condition(uint64_t cond, uint64_t op, uint64_t d1, uint64_t d2, uint64_t nd) {
  if (cond > 15) fail("replay: amd64 condition code {} is not known", cond);
  const uint64_t f = rflags_all(op, d1, d2, nd);
  const bool o = f & kO, s = f & kS, z = f & kZ, c = f & kC, p = f & kP;
  bool v = false;
  switch (cond >> 1) {
    case 0: v = o; break;             // O
    case 1: v = c; break;             // B
    case 2: v = z; break;             // Z
    case 3: v = c || z; break;        // BE
    case 4: v = s; break;             // S
    case 5: v = p; break;             // P
    case 6: v = s != o; break;        // L
    default: v = (s != o) || z; break;  // LE
  }
  return (v ? 1 : 0) ^ (cond & 1);
}

// rcl/rcr (amd64g_calculate_RCL/RCR): rotate `arg` (sz bytes) through the
// carry by rot_amt; returns the rotated value, or, when sz is negative, the
// flags: rflags_in with CF and OF replaced. As in VEX, OF is computed
// whatever the count (the CPU defines it for counts of 1 only).
uint64_t rotate_through_carry(bool left, uint64_t arg, uint64_t amount, uint64_t rflags_in,
                              uint64_t sz_in) {
  const bool want_flags = static_cast<int64_t>(sz_in) < 0;
  const uint64_t sz = want_flags ? 0 - sz_in : sz_in;
  if (sz != 1 && sz != 2 && sz != 4 && sz != 8)
    fail("replay: rotate through carry of {} bytes", sz);
  const unsigned bits = static_cast<unsigned>(8 * sz);
  uint64_t count = amount & (sz == 8 ? 0x3F : 0x1F);
  if (sz < 8) count %= bits + 1;
  const uint64_t m = mask_of(bits), top = bits - 1;
  uint64_t cf = rflags_in & kC, of = 0;
  if (left) {
    for (; count > 0; --count) {
      const uint64_t out = (arg >> top) & 1;
      arg = m & ((arg << 1) | cf);
      cf = out;
    }
    of = ((arg >> top) ^ cf) & 1;
  } else {
    of = ((arg >> top) ^ cf) & 1;
    for (; count > 0; --count) {
      const uint64_t out = arg & 1;
      arg = ((arg >> 1) & mask_of(bits - 1)) | (cf << top);
      cf = out;
    }
  }
  if (!want_flags) return arg;
  return (rflags_in & ~(kC | kO)) | cf | (of << 11);
}

uint64_t pext(uint64_t src, uint64_t mask) {
  uint64_t dst = 0, out = 1;
  for (uint64_t bit = 1; bit != 0; bit <<= 1)
    if (mask & bit) {
      if (src & bit) dst |= out;
      out <<= 1;
    }
  return dst;
}

uint64_t pdep(uint64_t src, uint64_t mask) {
  uint64_t dst = 0, in = 1;
  for (uint64_t bit = 1; bit != 0; bit <<= 1)
    if (mask & bit) {
      if (src & in) dst |= bit;
      in <<= 1;
    }
  return dst;
}

// CRC-32C (Castagnoli, reflected), `bits` bits of v into crc.
uint64_t crc32c(uint64_t crc, uint64_t v, unsigned bits) {
  crc ^= v & mask_of(bits);
  for (unsigned i = 0; i < bits; ++i) crc = (crc >> 1) ^ ((crc & 1) ? 0x82F63B78ull : 0);
  return crc;
}

// ldmxcsr/fldcw checks: the rounding mode, and in the upper half the
// emulation warning VEX reports for settings it does not emulate.
uint64_t check_mxcsr(uint64_t mxcsr) {
  VexEmNote ew = EmNote_NONE;
  if ((mxcsr & 0x1F80) != 0x1F80)
    ew = EmWarn_X86_sseExns;
  else if (mxcsr & (1u << 15))
    ew = EmWarn_X86_fz;
  else if (mxcsr & (1u << 6))
    ew = EmWarn_X86_daz;
  return (uint64_t{static_cast<uint32_t>(ew)} << 32) | ((mxcsr >> 13) & 3);
}

uint64_t check_fpucw(uint64_t cw) {
  VexEmNote ew = EmNote_NONE;
  if ((cw & 0x3F) != 0x3F)
    ew = EmWarn_X86_x87exns;
  else if (((cw >> 8) & 3) != 3)
    ew = EmWarn_X86_x87precision;
  return (uint64_t{static_cast<uint32_t>(ew)} << 32) | ((cw >> 10) & 3);
}

struct Helper {
  std::string_view name;
  unsigned nargs;
  uint64_t (*fn)(const uint64_t*);
};

const Helper kHelpers[] = {
    {"amd64g_calculate_condition", 5,
     [](const uint64_t* a) { return condition(a[0], a[1], a[2], a[3], a[4]); }},
    {"amd64g_calculate_rflags_all", 4,
     [](const uint64_t* a) { return rflags_all(a[0], a[1], a[2], a[3]); }},
    {"amd64g_calculate_rflags_c", 4,
     [](const uint64_t* a) -> uint64_t {
       if (a[0] == kCopy) return a[1] & kC;
       if (a[0] >= kLogicB && a[0] < kLogicB + 4) return 0;
       return rflags_all(a[0], a[1], a[2], a[3]) & kC;
     }},
    {"amd64g_calculate_RCL", 4,
     [](const uint64_t* a) { return rotate_through_carry(true, a[0], a[1], a[2], a[3]); }},
    {"amd64g_calculate_RCR", 4,
     [](const uint64_t* a) { return rotate_through_carry(false, a[0], a[1], a[2], a[3]); }},
    {"amd64g_calculate_pext", 2, [](const uint64_t* a) { return pext(a[0], a[1]); }},
    {"amd64g_calculate_pdep", 2, [](const uint64_t* a) { return pdep(a[0], a[1]); }},
    {"amd64g_calc_crc32b", 2, [](const uint64_t* a) { return crc32c(a[0], a[1], 8); }},
    {"amd64g_calc_crc32w", 2, [](const uint64_t* a) { return crc32c(a[0], a[1], 16); }},
    {"amd64g_calc_crc32l", 2, [](const uint64_t* a) { return crc32c(a[0], a[1], 32); }},
    {"amd64g_calc_crc32q", 2,
     [](const uint64_t* a) { return crc32c(crc32c(a[0], a[1], 32), a[1] >> 32, 32); }},
    {"amd64g_create_mxcsr", 1, [](const uint64_t* a) { return 0x1F80 | ((a[0] & 3) << 13); }},
    {"amd64g_check_ldmxcsr", 1, [](const uint64_t* a) { return check_mxcsr(a[0]); }},
    {"amd64g_create_fpucw", 1, [](const uint64_t* a) { return 0x037F | ((a[0] & 3) << 10); }},
    {"amd64g_check_fldcw", 1, [](const uint64_t* a) { return check_fpucw(a[0]); }},
};

}  // namespace

uint64_t eval_ccall(const char* name, const uint64_t* args, unsigned nargs) {
  if (!omni_ccall_supported(name)) fail("replay: helper {} is not supported", name);
  for (const Helper& h : kHelpers) {
    if (h.name != name) continue;
    if (nargs != h.nargs)
      fail("replay: helper {} takes {} arguments, given {}", name, h.nargs, nargs);
    return h.fn(args);
  }
  fail("replay: helper {} is listed as supported but not implemented", name);
}

}  // namespace omni::replay
