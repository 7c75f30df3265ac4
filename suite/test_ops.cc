// The replayer's evaluator of VEX IR operations and amd64 clean helpers
// (omni/replay/ops.h), checked against independent truth: the flags helpers
// against the flags this CPU really computes for the instructions whose
// thunks they decode, the operations against C/compiler builtins, SSE
// intrinsics and the x86 instructions VEX itself emits for them.
#include <doctest/doctest.h>
#include <immintrin.h>

#include <cfenv>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <functional>
#include <initializer_list>
#include <random>
#include <string>
#include <type_traits>
#include <vector>

#include "omni/base/error.h"
#include "omni/replay/ops.h"
extern "C" {
#include "libvex_emnote.h"
#include "omni/trace/replay_ops.h"
}

using omni::replay::eval_ccall;
using omni::replay::eval_op;
using omni::replay::result_type;
using omni::replay::Value;

namespace {

// ---------------------------------------------------------------------------
// Helpers.

std::mt19937_64& rng() {
  static std::mt19937_64 r(20240611);
  return r;
}

// Random operands biased towards the edges: zero, all ones, sign bits,
// small numbers, single bits.
uint64_t edgy() {
  auto& r = rng();
  switch (r() % 8) {
    case 0: return 0;
    case 1: return ~0ull;
    case 2: return 1ull << (r() % 64);
    case 3: return r() % 5;
    case 4: return (1ull << (r() % 64)) - 1;
    case 5: return 0x80ull << (8 * (r() % 8));
    default: return r();
  }
}

Value val(uint64_t lo, uint64_t hi = 0) {
  Value v;
  std::memcpy(v.b, &lo, 8);
  std::memcpy(v.b + 8, &hi, 8);
  return v;
}

Value vec(__m128i x) {
  Value v;
  std::memcpy(v.b, &x, 16);
  return v;
}

__m128i xmm(const Value& v, unsigned half = 0) {
  __m128i x;
  std::memcpy(&x, v.b + 16 * half, 16);
  return x;
}

Value random_vec(unsigned bytes) {
  Value v;
  for (unsigned i = 0; i < bytes / 8; ++i) {
    uint64_t c = edgy();
    if (rng()() % 3 == 0) {  // bytes near the signed/unsigned boundaries
      c = 0;
      for (int k = 0; k < 8; ++k)
        c |= uint64_t{static_cast<uint8_t>(0x7E + rng()() % 4)} << (8 * k);
    }
    std::memcpy(v.b + 8 * i, &c, 8);
  }
  return v;
}

Value op1(IROp op, const Value& a) { return eval_op(op, &a, 1); }
Value op2(IROp op, const Value& a, const Value& b) {
  const Value args[2] = {a, b};
  return eval_op(op, args, 2);
}
Value op3(IROp op, const Value& a, const Value& b, const Value& c) {
  const Value args[3] = {a, b, c};
  return eval_op(op, args, 3);
}
uint64_t u1(IROp op, uint64_t a) { return op1(op, val(a)).u64(); }
uint64_t u2(IROp op, uint64_t a, uint64_t b) { return op2(op, val(a), val(b)).u64(); }

std::string hex(const Value& v, unsigned bytes) {
  static const char* d = "0123456789abcdef";
  std::string s;
  for (unsigned i = bytes; i-- > 0;) {
    s += d[v.b[i] >> 4];
    s += d[v.b[i] & 15];
  }
  return s;
}

bool same(const Value& a, const Value& b, unsigned bytes) {
  return std::memcmp(a.b, b.b, bytes) == 0;
}

constexpr uint64_t mask_of(unsigned bits) { return bits >= 64 ? ~0ull : (1ull << bits) - 1; }

int64_t sext(uint64_t v, unsigned bits) {
  const unsigned s = 64 - bits;
  return static_cast<int64_t>(v << s) >> s;
}

double f64(uint64_t b) {
  double d;
  std::memcpy(&d, &b, 8);
  return d;
}
uint64_t bits64(double d) {
  uint64_t b;
  std::memcpy(&b, &d, 8);
  return b;
}
float f32(uint32_t b) {
  float f;
  std::memcpy(&f, &b, 4);
  return f;
}
uint32_t bits32(float f) {
  uint32_t b;
  std::memcpy(&b, &f, 4);
  return b;
}

// Doubles worth testing: specials, boundaries of the integer conversions,
// halves (rounding ties), random bit patterns and ordinary values.
uint64_t any_f64() {
  static const uint64_t special[] = {
      0x0000000000000000, 0x8000000000000000, 0x7FF0000000000000, 0xFFF0000000000000,
      0x7FF8000000000000, 0x7FF4000000000abc, 0x0000000000000001, 0x800FFFFFFFFFFFFF,
      0x3FF0000000000000, 0xBFE0000000000000, 0x43E0000000000000, 0xC3E0000000000000,
      0x41E0000000000000, 0xC1E0000000000000, 0x41DFFFFFFFC00000, 0x4004000000000000,
      0xC00C000000000000, 0x3FF8000000000000, 0x7FEFFFFFFFFFFFFF, 0x4330000000000001};
  auto& r = rng();
  switch (r() % 4) {
    case 0: return special[r() % (sizeof special / sizeof *special)];
    case 1: return r();
    case 2: return bits64(static_cast<double>(static_cast<int64_t>(r() % 4001) - 2000) / 4);
    default:
      return bits64(std::ldexp(static_cast<double>(r() >> 11), static_cast<int>(r() % 140) - 100) *
                    ((r() & 1) ? -1 : 1));
  }
}

bool is_nan64(uint64_t b) {
  return (b & 0x7FF0000000000000) == 0x7FF0000000000000 && (b & 0x000FFFFFFFFFFFFF);
}

// Runs f with the x87/SSE rounding mode set to the IRRoundingMode rm.
template <class F>
auto with_rounding(unsigned rm, F f) {
  static const int modes[4] = {FE_TONEAREST, FE_DOWNWARD, FE_UPWARD, FE_TOWARDZERO};
  const int saved = std::fegetround();
  std::fesetround(modes[rm]);
  auto r = f();
  std::fesetround(saved);
  return r;
}

// ---------------------------------------------------------------------------
// Native instructions with their flags. Each runs `insn` with the status
// flags first set to flags_in, and returns the result and the flags after.
// The asm steps over the red zone before pushing.

constexpr uint64_t kC = 0x1, kP = 0x4, kA = 0x10, kZ = 0x40, kS = 0x80, kO = 0x800;
constexpr uint64_t kStatus = kC | kP | kA | kZ | kS | kO;

#define OMNI_PRE "lea -128(%%rsp), %%rsp\n\tpushq %[fin]\n\tpopfq\n\t"
#define OMNI_POST "\n\tpushfq\n\tpopq %[f]\n\tlea 128(%%rsp), %%rsp"

struct Native {
  uint64_t res, flags;
};

#define OMNI_BINOP(fn, insn, T)                                                              \
  Native fn(uint64_t a, uint64_t b, uint64_t fin) {                                         \
    T x = static_cast<T>(a), y = static_cast<T>(b);                                          \
    uint64_t f;                                                                              \
    __asm__(OMNI_PRE insn " %[y], %[x]" OMNI_POST                                            \
            : [x] "+r"(x), [f] "=&r"(f)                                                      \
            : [y] "r"(y), [fin] "r"(fin)                                                     \
            : "cc", "memory");                                                               \
    return {static_cast<uint64_t>(x), f};                                                    \
  }
#define OMNI_UNOP(fn, insn, T)                                                               \
  Native fn(uint64_t a, uint64_t, uint64_t fin) {                                           \
    T x = static_cast<T>(a);                                                                 \
    uint64_t f;                                                                              \
    __asm__(OMNI_PRE insn " %[x]" OMNI_POST : [x] "+r"(x), [f] "=&r"(f) : [fin] "r"(fin)     \
            : "cc", "memory");                                                               \
    return {static_cast<uint64_t>(x), f};                                                    \
  }
#define OMNI_SHIFT(fn, insn, T)                                                              \
  Native fn(uint64_t a, uint64_t n, uint64_t fin) {                                         \
    T x = static_cast<T>(a);                                                                 \
    uint8_t c = static_cast<uint8_t>(n);                                                     \
    uint64_t f;                                                                              \
    __asm__(OMNI_PRE insn " %%cl, %[x]" OMNI_POST                                            \
            : [x] "+r"(x), [f] "=&r"(f)                                                      \
            : "c"(c), [fin] "r"(fin)                                                         \
            : "cc", "memory");                                                               \
    return {static_cast<uint64_t>(x), f};                                                    \
  }
#define OMNI_SIZES(MAC, name, insn) \
  MAC(name##8, insn, uint8_t)       \
  MAC(name##16, insn, uint16_t)     \
  MAC(name##32, insn, uint32_t)     \
  MAC(name##64, insn, uint64_t)

OMNI_SIZES(OMNI_BINOP, n_add, "add")
OMNI_SIZES(OMNI_BINOP, n_sub, "sub")
OMNI_SIZES(OMNI_BINOP, n_adc, "adc")
OMNI_SIZES(OMNI_BINOP, n_sbb, "sbb")
OMNI_SIZES(OMNI_BINOP, n_and, "and")
OMNI_SIZES(OMNI_BINOP, n_or, "or")
OMNI_SIZES(OMNI_BINOP, n_xor, "xor")
OMNI_SIZES(OMNI_UNOP, n_inc, "inc")
OMNI_SIZES(OMNI_UNOP, n_dec, "dec")
OMNI_SIZES(OMNI_SHIFT, n_shl, "shl")
OMNI_SIZES(OMNI_SHIFT, n_shr, "shr")
OMNI_SIZES(OMNI_SHIFT, n_sar, "sar")
OMNI_SIZES(OMNI_SHIFT, n_rol, "rol")
OMNI_SIZES(OMNI_SHIFT, n_ror, "ror")
OMNI_BINOP(n_imul16, "imul", uint16_t)
OMNI_BINOP(n_imul32, "imul", uint32_t)
OMNI_BINOP(n_imul64, "imul", uint64_t)
OMNI_BINOP(n_adcx32, "adcx", uint32_t)
OMNI_BINOP(n_adcx64, "adcx", uint64_t)
OMNI_BINOP(n_adox32, "adox", uint32_t)
OMNI_BINOP(n_adox64, "adox", uint64_t)

// mul/imul with one operand: AL/AX/EAX/RAX times b. Only the flags matter.
#define OMNI_MUL1(fn, insn, T)                                                               \
  Native fn(uint64_t a, uint64_t b, uint64_t fin) {                                         \
    T x = static_cast<T>(a), y = static_cast<T>(b), hi = 0;                                  \
    uint64_t f;                                                                              \
    if constexpr (sizeof(T) == 1) {                                                          \
      uint16_t ax = x;                                                                       \
      __asm__(OMNI_PRE insn " %[y]" OMNI_POST                                                \
              : "+a"(ax), [f] "=&r"(f)                                                       \
              : [y] "r"(y), [fin] "r"(fin)                                                   \
              : "cc", "memory");                                                             \
      x = static_cast<T>(ax);                                                                \
    } else {                                                                                 \
      __asm__(OMNI_PRE insn " %[y]" OMNI_POST                                                \
              : "+a"(x), "=d"(hi), [f] "=&r"(f)                                              \
              : [y] "r"(y), [fin] "r"(fin)                                                   \
              : "cc", "memory");                                                             \
    }                                                                                        \
    (void)hi;                                                                                \
    return {static_cast<uint64_t>(x), f};                                                    \
  }
OMNI_SIZES(OMNI_MUL1, n_mul, "mul")
OMNI_MUL1(n_imul1_8, "imul", uint8_t)

// BMI1: andn dst = ~a & b; blsi/blsmsk/blsr of a.
#define OMNI_BMI2(fn, insn, T)                                                               \
  Native fn(uint64_t a, uint64_t b, uint64_t fin) {                                         \
    T x = static_cast<T>(a), y = static_cast<T>(b), d;                                       \
    uint64_t f;                                                                              \
    __asm__(OMNI_PRE insn " %[y], %[x], %[d]" OMNI_POST                                      \
            : [d] "=&r"(d), [f] "=&r"(f)                                                     \
            : [x] "r"(x), [y] "r"(y), [fin] "r"(fin)                                         \
            : "cc", "memory");                                                               \
    return {static_cast<uint64_t>(d), f};                                                    \
  }
#define OMNI_BMI1(fn, insn, T)                                                               \
  Native fn(uint64_t a, uint64_t, uint64_t fin) {                                           \
    T x = static_cast<T>(a), d;                                                              \
    uint64_t f;                                                                              \
    __asm__(OMNI_PRE insn " %[x], %[d]" OMNI_POST                                            \
            : [d] "=&r"(d), [f] "=&r"(f)                                                     \
            : [x] "r"(x), [fin] "r"(fin)                                                     \
            : "cc", "memory");                                                               \
    return {static_cast<uint64_t>(d), f};                                                    \
  }
OMNI_BMI2(n_andn32, "andn", uint32_t)
OMNI_BMI2(n_andn64, "andn", uint64_t)
OMNI_BMI1(n_blsi32, "blsi", uint32_t)
OMNI_BMI1(n_blsi64, "blsi", uint64_t)
OMNI_BMI1(n_blsmsk32, "blsmsk", uint32_t)
OMNI_BMI1(n_blsmsk64, "blsmsk", uint64_t)
OMNI_BMI1(n_blsr32, "blsr", uint32_t)
OMNI_BMI1(n_blsr64, "blsr", uint64_t)

// The 16 x86 conditions evaluated by setcc on the given status flags.
#define OMNI_SETCC(fn, insn)                                                                 \
  uint64_t fn(uint64_t fin) {                                                                \
    uint8_t r;                                                                               \
    __asm__("lea -128(%%rsp), %%rsp\n\tpushq %[fin]\n\tpopfq\n\t" insn                       \
            " %[r]\n\tlea 128(%%rsp), %%rsp"                                                 \
            : [r] "=r"(r)                                                                    \
            : [fin] "r"(fin)                                                                 \
            : "cc", "memory");                                                               \
    return r;                                                                                \
  }
OMNI_SETCC(set_o, "seto")
OMNI_SETCC(set_no, "setno")
OMNI_SETCC(set_b, "setb")
OMNI_SETCC(set_nb, "setnb")
OMNI_SETCC(set_z, "setz")
OMNI_SETCC(set_nz, "setnz")
OMNI_SETCC(set_be, "setbe")
OMNI_SETCC(set_nbe, "setnbe")
OMNI_SETCC(set_s, "sets")
OMNI_SETCC(set_ns, "setns")
OMNI_SETCC(set_p, "setp")
OMNI_SETCC(set_np, "setnp")
OMNI_SETCC(set_l, "setl")
OMNI_SETCC(set_nl, "setnl")
OMNI_SETCC(set_le, "setle")
OMNI_SETCC(set_nle, "setnle")
uint64_t (*const kSetcc[16])(uint64_t) = {set_o,  set_no,  set_b,  set_nb, set_z, set_nz,
                                          set_be, set_nbe, set_s,  set_ns, set_p, set_np,
                                          set_l,  set_nl,  set_le, set_nle};

// ---------------------------------------------------------------------------
// Thunks as VEX's amd64 front end builds them (guest_amd64_toIR.c), with the
// AMD64G_CC_OP_* numbering of guest_amd64_defs.h.

enum : uint64_t {
  OpCopy = 0, OpAdd = 1, OpSub = 5, OpAdc = 9, OpSbb = 13, OpLogic = 17, OpInc = 21, OpDec = 25,
  OpShl = 29, OpShr = 33, OpRol = 37, OpRor = 41, OpUmul = 45, OpSmul = 49,
  OpAndn32 = 53, OpBlsi32 = 55, OpBlsmsk32 = 57, OpBlsr32 = 59, OpAdcx32 = 61, OpAdox32 = 63,
};

struct Thunk {
  uint64_t op, dep1, dep2, ndep;
};

uint64_t rflags_all(const Thunk& t) {
  const uint64_t a[4] = {t.op, t.dep1, t.dep2, t.ndep};
  return eval_ccall("amd64g_calculate_rflags_all", a, 4);
}

unsigned size_index(unsigned bits) { return bits == 8 ? 0 : bits == 16 ? 1 : bits == 32 ? 2 : 3; }

using NativeFn = Native (*)(uint64_t, uint64_t, uint64_t);

struct FlagCase {
  const char* what;
  unsigned bits;
  NativeFn native;
  // The thunk VEX sets for this instruction on a, b (the shift count) and the
  // flags before it.
  std::function<Thunk(uint64_t a, uint64_t b, uint64_t fin, uint64_t res)> thunk;
  // Flags the ISA leaves undefined for these operands.
  std::function<uint64_t(uint64_t b)> undefined;
  // Shift/rotate count range, or 0 for ordinary operands.
  unsigned max_count = 0;
};

std::vector<FlagCase> flag_cases() {
  std::vector<FlagCase> cs;
  const NativeFn add[] = {n_add8, n_add16, n_add32, n_add64},
                 sub[] = {n_sub8, n_sub16, n_sub32, n_sub64},
                 adc[] = {n_adc8, n_adc16, n_adc32, n_adc64},
                 sbb[] = {n_sbb8, n_sbb16, n_sbb32, n_sbb64},
                 and_[] = {n_and8, n_and16, n_and32, n_and64},
                 or_[] = {n_or8, n_or16, n_or32, n_or64},
                 xor_[] = {n_xor8, n_xor16, n_xor32, n_xor64},
                 inc[] = {n_inc8, n_inc16, n_inc32, n_inc64},
                 dec[] = {n_dec8, n_dec16, n_dec32, n_dec64},
                 shl[] = {n_shl8, n_shl16, n_shl32, n_shl64},
                 shr[] = {n_shr8, n_shr16, n_shr32, n_shr64},
                 sar[] = {n_sar8, n_sar16, n_sar32, n_sar64},
                 rol[] = {n_rol8, n_rol16, n_rol32, n_rol64},
                 ror[] = {n_ror8, n_ror16, n_ror32, n_ror64},
                 mul[] = {n_mul8, n_mul16, n_mul32, n_mul64},
                 imul[] = {n_imul1_8, n_imul16, n_imul32, n_imul64};
  auto none = [](uint64_t) -> uint64_t { return 0; };
  for (unsigned bits : {8u, 16u, 32u, 64u}) {
    const unsigned i = size_index(bits);
    const uint64_t m = mask_of(bits);
    cs.push_back({"add", bits, add[i], [=](uint64_t a, uint64_t b, uint64_t, uint64_t) {
                    return Thunk{OpAdd + i, a & m, b & m, 0};
                  }, none});
    cs.push_back({"sub", bits, sub[i], [=](uint64_t a, uint64_t b, uint64_t, uint64_t) {
                    return Thunk{OpSub + i, a & m, b & m, 0};
                  }, none});
    cs.push_back({"adc", bits, adc[i], [=](uint64_t a, uint64_t b, uint64_t fin, uint64_t) {
                    return Thunk{OpAdc + i, a & m, (b & m) ^ (fin & kC), fin & kC};
                  }, none});
    cs.push_back({"sbb", bits, sbb[i], [=](uint64_t a, uint64_t b, uint64_t fin, uint64_t) {
                    return Thunk{OpSbb + i, a & m, (b & m) ^ (fin & kC), fin & kC};
                  }, none});
    auto logic = [=](uint64_t, uint64_t, uint64_t, uint64_t res) {
      return Thunk{OpLogic + i, res & m, 0, 0};
    };
    auto af = [](uint64_t) { return kA; };
    cs.push_back({"and", bits, and_[i], logic, af});
    cs.push_back({"or", bits, or_[i], logic, af});
    cs.push_back({"xor", bits, xor_[i], logic, af});
    cs.push_back({"inc", bits, inc[i], [=](uint64_t, uint64_t, uint64_t fin, uint64_t res) {
                    return Thunk{OpInc + i, res & m, 0, fin & kC};
                  }, none});
    cs.push_back({"dec", bits, dec[i], [=](uint64_t, uint64_t, uint64_t fin, uint64_t res) {
                    return Thunk{OpDec + i, res & m, 0, fin & kC};
                  }, none});
    // Shifts by 1 .. width-1 (the CPU leaves CF undefined beyond); OF is
    // defined for one-bit shifts only, AF never.
    const unsigned maxc = bits == 64 ? 63 : bits == 32 ? 31 : bits - 1;
    auto shift_undef = [](uint64_t n) { return kA | (n == 1 ? 0 : kO); };
    cs.push_back({"shl", bits, shl[i], [=](uint64_t a, uint64_t n, uint64_t, uint64_t res) {
                    return Thunk{OpShl + i, res & m, ((a & m) << (n - 1)) & m, 0};
                  }, shift_undef, maxc});
    cs.push_back({"shr", bits, shr[i], [=](uint64_t a, uint64_t n, uint64_t, uint64_t res) {
                    return Thunk{OpShr + i, res & m, ((a & m) >> (n - 1)) & m, 0};
                  }, shift_undef, maxc});
    cs.push_back(
        {"sar", bits, sar[i],
         [=](uint64_t a, uint64_t n, uint64_t, uint64_t res) {
           return Thunk{OpShr + i, res & m, static_cast<uint64_t>(sext(a, bits) >> (n - 1)) & m, 0};
         },
         shift_undef, maxc});
    // Rotates by any count the CPU masks to non-zero (8/16-bit ones rotate
    // by it modulo the width); they keep S Z A P, OF only for one-bit ones.
    const unsigned maxr = bits == 64 ? 63 : 31;
    auto rot_undef = [](uint64_t n) { return n == 1 ? 0 : kO; };
    cs.push_back({"rol", bits, rol[i], [=](uint64_t, uint64_t, uint64_t fin, uint64_t res) {
                    return Thunk{OpRol + i, res & m, 0, fin & kStatus};
                  }, rot_undef, maxr});
    cs.push_back({"ror", bits, ror[i], [=](uint64_t, uint64_t, uint64_t fin, uint64_t res) {
                    return Thunk{OpRor + i, res & m, 0, fin & kStatus};
                  }, rot_undef, maxr});
    // Multiplies define only CF and OF.
    auto mul_undef = [](uint64_t) { return kS | kZ | kA | kP; };
    cs.push_back({"mul", bits, mul[i], [=](uint64_t a, uint64_t b, uint64_t, uint64_t) {
                    return Thunk{OpUmul + i, a & m, b & m, 0};
                  }, mul_undef});
    cs.push_back({"imul", bits, imul[i], [=](uint64_t a, uint64_t b, uint64_t, uint64_t) {
                    return Thunk{OpSmul + i, a & m, b & m, 0};
                  }, mul_undef});
  }
  const NativeFn andn[] = {n_andn32, n_andn64}, blsi[] = {n_blsi32, n_blsi64},
                 blsmsk[] = {n_blsmsk32, n_blsmsk64}, blsr[] = {n_blsr32, n_blsr64},
                 adcx[] = {n_adcx32, n_adcx64}, adox[] = {n_adox32, n_adox64};
  for (unsigned k = 0; k < 2; ++k) {
    const unsigned bits = k ? 64 : 32;
    const uint64_t m = mask_of(bits);
    auto ap = [](uint64_t) { return kA | kP; };
    cs.push_back({"andn", bits, andn[k], [=](uint64_t, uint64_t, uint64_t, uint64_t res) {
                    return Thunk{OpAndn32 + k, res & m, 0, 0};
                  }, ap});
    cs.push_back({"blsi", bits, blsi[k], [=](uint64_t a, uint64_t, uint64_t, uint64_t res) {
                    return Thunk{OpBlsi32 + k, res & m, a & m, 0};
                  }, ap});
    cs.push_back({"blsmsk", bits, blsmsk[k], [=](uint64_t a, uint64_t, uint64_t, uint64_t res) {
                    return Thunk{OpBlsmsk32 + k, res & m, a & m, 0};
                  }, ap});
    cs.push_back({"blsr", bits, blsr[k], [=](uint64_t a, uint64_t, uint64_t, uint64_t res) {
                    return Thunk{OpBlsr32 + k, res & m, a & m, 0};
                  }, ap});
    cs.push_back({"adcx", bits, adcx[k], [=](uint64_t a, uint64_t b, uint64_t fin, uint64_t) {
                    return Thunk{OpAdcx32 + k, a & m, (b & m) ^ (fin & kC), fin & kStatus};
                  }, none});
    cs.push_back({"adox", bits, adox[k], [=](uint64_t a, uint64_t b, uint64_t fin, uint64_t) {
                    return Thunk{OpAdox32 + k, a & m, (b & m) ^ ((fin >> 11) & 1), fin & kStatus};
                  }, none});
  }
  return cs;
}

bool cpu_has(const char* feature) {
  __builtin_cpu_init();
  if (std::strcmp(feature, "bmi") == 0) return __builtin_cpu_supports("bmi");
  if (std::strcmp(feature, "adx") == 0) {
    unsigned a, b, c, d;
    __asm__("cpuid" : "=a"(a), "=b"(b), "=c"(c), "=d"(d) : "a"(7), "c"(0));
    return (b >> 19) & 1;
  }
  return false;
}

bool supported(const FlagCase& c) {
  const std::string w = c.what;
  if (w == "andn" || w == "blsi" || w == "blsmsk" || w == "blsr") return cpu_has("bmi");
  if (w == "adcx" || w == "adox") return cpu_has("adx");
  return true;
}

}  // namespace

// ---------------------------------------------------------------------------
// Flags helpers against the CPU.

TEST_CASE("ops: amd64g_calculate_rflags_all matches the flags the CPU computes") {
  int checked = 0;
  for (const FlagCase& c : flag_cases()) {
    if (!supported(c)) continue;
    CAPTURE(c.what);
    CAPTURE(c.bits);
    for (int it = 0; it < 3000; ++it) {
      const uint64_t a = edgy(), fin = (rng()() & kStatus) | 0x202;
      uint64_t b = edgy();
      if (c.max_count) b = 1 + rng()() % c.max_count;
      const Native n = c.native(a, b, fin);
      const Thunk t = c.thunk(a, b, fin, n.res);
      const uint64_t mask = kStatus & ~c.undefined(b);
      const uint64_t mine = rflags_all(t);
      if ((mine & mask) != (n.flags & mask)) {
        CAPTURE(a);
        CAPTURE(b);
        CAPTURE(fin);
        CHECK((mine & mask) == (n.flags & mask));
        break;
      }
      // Nothing beyond the six status flags, and rflags_c agrees.
      CHECK((mine & ~kStatus) == 0);
      const uint64_t targs[4] = {t.op, t.dep1, t.dep2, t.ndep};
      CHECK(eval_ccall("amd64g_calculate_rflags_c", targs, 4) == (mine & kC));
      ++checked;
    }
  }
  CHECK(checked > 100000);
}

TEST_CASE("ops: amd64g_calculate_condition matches setcc for all 16 conditions") {
  // After instructions that define every flag a condition reads.
  const std::vector<FlagCase> cases = flag_cases();
  int checked = 0;
  for (const FlagCase& c : cases) {
    const std::string w = c.what;
    if (!(w == "add" || w == "sub" || w == "adc" || w == "sbb" || w == "and" || w == "xor" ||
          w == "inc" || w == "dec"))
      continue;
    CAPTURE(c.what);
    CAPTURE(c.bits);
    for (int it = 0; it < 1000; ++it) {
      const uint64_t a = edgy(), b = edgy(), fin = (rng()() & kStatus) | 0x202;
      const Native n = c.native(a, b, fin);
      const Thunk t = c.thunk(a, b, fin, n.res);
      for (uint64_t cond = 0; cond < 16; ++cond) {
        const uint64_t args[5] = {cond, t.op, t.dep1, t.dep2, t.ndep};
        const uint64_t want = kSetcc[cond]((n.flags & kStatus) | 0x202);
        const uint64_t got = eval_ccall("amd64g_calculate_condition", args, 5);
        if (got != want) {
          CAPTURE(cond);
          CAPTURE(a);
          CAPTURE(b);
          CHECK(got == want);
          return;
        }
        ++checked;
      }
    }
  }
  // And straight from copied flags (CC_OP_COPY), every combination.
  for (uint64_t bitsset = 0; bitsset < 64; ++bitsset) {
    uint64_t f = 0;
    const uint64_t order[6] = {kC, kP, kA, kZ, kS, kO};
    for (int k = 0; k < 6; ++k)
      if (bitsset & (1u << k)) f |= order[k];
    for (uint64_t cond = 0; cond < 16; ++cond) {
      const uint64_t args[5] = {cond, OpCopy, f | 0xFFFF0000ull, 0, 0};
      CHECK(eval_ccall("amd64g_calculate_condition", args, 5) == kSetcc[cond](f | 0x202));
      ++checked;
    }
  }
  CHECK(checked > 100000);
}

TEST_CASE("ops: flags helpers reject what VEX would not ask") {
  const uint64_t bad_op[4] = {65, 0, 0, 0};
  CHECK_THROWS_AS(eval_ccall("amd64g_calculate_rflags_all", bad_op, 4), omni::Error);
  const uint64_t bad_cond[5] = {16, OpCopy, 0, 0, 0};
  CHECK_THROWS_AS(eval_ccall("amd64g_calculate_condition", bad_cond, 5), omni::Error);
  CHECK_THROWS_AS(eval_ccall("amd64g_calculate_rflags_all", bad_op, 3), omni::Error);
  const uint64_t bad_size[4] = {1, 1, 0, 3};
  CHECK_THROWS_AS(eval_ccall("amd64g_calculate_RCR", bad_size, 4), omni::Error);
  CHECK_THROWS_AS(eval_ccall("amd64g_calculate_rflags_allx", bad_op, 4), omni::Error);
  CHECK_FALSE(omni_ccall_supported("amd64g_calculate_rflags"));
  CHECK_FALSE(omni_ccall_supported(""));
  // COPY keeps exactly the six status flags.
  const uint64_t copy[4] = {OpCopy, ~0ull, 0, 0};
  CHECK(eval_ccall("amd64g_calculate_rflags_all", copy, 4) == kStatus);
}

// ---------------------------------------------------------------------------
// The supported list and the implementation agree.

TEST_CASE("ops: every operation omni_op_supported accepts is implemented, and only those") {
  int n = 0;
  Value zero[4];
  for (int o = Iop_INVALID + 1; o < Iop_LAST; ++o) {
    const IROp op = static_cast<IROp>(o);
    CAPTURE(o);
    if (omni_op_supported(op)) {
      ++n;
      Value r;
      CHECK_NOTHROW(r = eval_op(op, zero, 4));
      IRType t = Ity_INVALID;
      CHECK_NOTHROW(t = result_type(op));
      // Bytes beyond the result type are zero; I1 is 0 or 1.
      const unsigned size = t == Ity_I1                        ? 1
                            : t == Ity_I8                      ? 1
                            : t == Ity_I16                     ? 2
                            : (t == Ity_I32 || t == Ity_F32)   ? 4
                            : (t == Ity_I64 || t == Ity_F64)   ? 8
                            : (t == Ity_I128 || t == Ity_V128) ? 16
                                                               : 32;
      for (unsigned i = size; i < 32; ++i) CHECK(r.b[i] == 0);
      if (t == Ity_I1) CHECK(r.b[0] <= 1);
      // Random arguments do not make it throw either (division by zero
      // included).
      for (int it = 0; it < 20; ++it) {
        Value args[4];
        for (auto& a : args) a = random_vec(32);
        CHECK_NOTHROW(eval_op(op, args, 4));
      }
    } else {
      CHECK_THROWS_AS(eval_op(op, zero, 4), omni::Error);
      CHECK_THROWS_AS(result_type(op), omni::Error);
    }
  }
  CHECK(n > 400);
  CHECK_FALSE(omni_op_supported(Iop_INVALID));
  CHECK_FALSE(omni_op_supported(Iop_LAST));
}

TEST_CASE("ops: every clean helper omni_ccall_supported accepts is implemented") {
  const struct {
    const char* name;
    unsigned nargs;
  } helpers[] = {{"amd64g_calculate_condition", 5}, {"amd64g_calculate_rflags_all", 4},
                 {"amd64g_calculate_rflags_c", 4},   {"amd64g_calculate_RCL", 4},
                 {"amd64g_calculate_RCR", 4},        {"amd64g_calculate_pext", 2},
                 {"amd64g_calculate_pdep", 2},       {"amd64g_calc_crc32b", 2},
                 {"amd64g_calc_crc32w", 2},          {"amd64g_calc_crc32l", 2},
                 {"amd64g_calc_crc32q", 2},          {"amd64g_create_mxcsr", 1},
                 {"amd64g_check_ldmxcsr", 1},        {"amd64g_create_fpucw", 1},
                 {"amd64g_check_fldcw", 1}};
  for (const auto& h : helpers) {
    CAPTURE(h.name);
    REQUIRE(omni_ccall_supported(h.name));
    const uint64_t args[5] = {0, 0, 0, 8, 0};  // 8: the RCL/RCR operand size
    CHECK_NOTHROW(eval_ccall(h.name, args, h.nargs));
    CHECK_THROWS_AS(eval_ccall(h.name, args, h.nargs + 1), omni::Error);
    // A prefix or an extension of a supported name is not supported.
    const std::string n = h.name;
    CHECK_FALSE(omni_ccall_supported(n.substr(0, n.size() - 1).c_str()));
    CHECK_FALSE(omni_ccall_supported((n + "x").c_str()));
  }
  // Other helpers VEX's amd64 front end calls are not supported.
  for (const char* name :
       {"amd64g_calculate_mmx_pmaddwd", "amd64g_calculate_mmx_psadbw", "amd64g_calculate_pclmul",
        "amd64g_calc_mpsadbw", "amd64g_calculate_sse_phminposuw", "amd64g_calculate_FXAM"}) {
    CHECK_FALSE(omni_ccall_supported(name));
    const uint64_t args[5] = {};
    CHECK_THROWS_AS(eval_ccall(name, args, 2), omni::Error);
  }
}

namespace {

OMNI_SIZES(OMNI_SHIFT, n_rcl, "rcl")
OMNI_SIZES(OMNI_SHIFT, n_rcr, "rcr")

__attribute__((target("bmi2"))) uint64_t n_pext(uint64_t a, uint64_t m) { return _pext_u64(a, m); }
__attribute__((target("bmi2"))) uint64_t n_pdep(uint64_t a, uint64_t m) { return _pdep_u64(a, m); }
__attribute__((target("sse4.2"))) uint64_t n_crc32(unsigned bits, uint64_t crc, uint64_t v) {
  switch (bits) {
    case 8: return _mm_crc32_u8(static_cast<uint32_t>(crc), static_cast<uint8_t>(v));
    case 16: return _mm_crc32_u16(static_cast<uint32_t>(crc), static_cast<uint16_t>(v));
    case 32: return _mm_crc32_u32(static_cast<uint32_t>(crc), static_cast<uint32_t>(v));
    default: return _mm_crc32_u64(crc, v);
  }
}

uint64_t helper(const char* name, std::initializer_list<uint64_t> args) {
  return eval_ccall(name, args.begin(), static_cast<unsigned>(args.size()));
}

}  // namespace

TEST_CASE("ops: amd64g_calculate_RCL/RCR match rcl/rcr") {
  const NativeFn rcl[] = {n_rcl8, n_rcl16, n_rcl32, n_rcl64},
                 rcr[] = {n_rcr8, n_rcr16, n_rcr32, n_rcr64};
  for (int it = 0; it < 20000; ++it) {
    const unsigned k = static_cast<unsigned>(rng()() % 4), bits = 8u << k;
    const uint64_t a = edgy() & mask_of(bits), fin = (rng()() & kStatus) | 0x202;
    const uint64_t n = rng()() % 80;
    if ((n & (bits == 64 ? 63 : 31)) == 0) continue;  // the CPU then leaves every flag alone
    const uint64_t sz = bits / 8;
    CAPTURE(bits);
    CAPTURE(a);
    CAPTURE(n);
    CAPTURE(fin);
    // OF is defined for one-bit rotates only; the rest of the flags stay.
    const uint64_t mask = kStatus & ~(n == 1 ? 0 : kO);
    for (int left = 0; left < 2; ++left) {
      const Native want = (left ? rcl : rcr)[k](a, n, fin);
      const char* name = left ? "amd64g_calculate_RCL" : "amd64g_calculate_RCR";
      CHECK(helper(name, {a, n, fin & kStatus, sz}) == (want.res & mask_of(bits)));
      CHECK((helper(name, {a, n, fin & kStatus, 0 - sz}) & mask) == (want.flags & mask));
    }
  }
}

TEST_CASE("ops: pext/pdep, crc32 and the control-word helpers match the CPU") {
  __builtin_cpu_init();
  const bool bmi2 = __builtin_cpu_supports("bmi2"), sse42 = __builtin_cpu_supports("sse4.2");
  for (int it = 0; it < 20000; ++it) {
    const uint64_t a = edgy(), m = edgy() ^ (rng()() & rng()()), crc = rng()() & 0xFFFFFFFF;
    CAPTURE(a);
    CAPTURE(m);
    if (bmi2) {
      CHECK(helper("amd64g_calculate_pext", {a, m}) == n_pext(a, m));
      CHECK(helper("amd64g_calculate_pdep", {a, m}) == n_pdep(a, m));
    }
    if (sse42) {
      CHECK(helper("amd64g_calc_crc32b", {crc, a & 0xFF}) == n_crc32(8, crc, a));
      CHECK(helper("amd64g_calc_crc32w", {crc, a & 0xFFFF}) == n_crc32(16, crc, a));
      CHECK(helper("amd64g_calc_crc32l", {crc, a & 0xFFFFFFFF}) == n_crc32(32, crc, a));
      CHECK(helper("amd64g_calc_crc32q", {crc, a}) == n_crc32(64, crc, a));
    }
  }
  // stmxcsr/fnstcw after fesetround give what create_mxcsr/create_fpucw
  // build from the IRRoundingMode, and the checks read the mode back.
  for (unsigned rm = 0; rm < 4; ++rm) {
    const uint32_t csr = with_rounding(rm, [] { return _mm_getcsr(); });
    const uint16_t cw = with_rounding(rm, [] {
      uint16_t w;
      __asm__ volatile("fnstcw %0" : "=m"(w));
      return w;
    });
    CHECK(helper("amd64g_create_mxcsr", {rm}) == (csr & ~0x3Fu));
    CHECK(helper("amd64g_create_fpucw", {rm}) == cw);
    CHECK(helper("amd64g_check_ldmxcsr", {csr}) == rm);
    CHECK(helper("amd64g_check_fldcw", {cw}) == rm);
  }
  // Settings VEX does not emulate come back as emulation warnings.
  CHECK(helper("amd64g_check_ldmxcsr", {0x1F80 | (1u << 15)}) == (uint64_t{EmWarn_X86_fz} << 32));
  CHECK(helper("amd64g_check_ldmxcsr", {0x1F80 | (1u << 6) | (2u << 13)}) ==
        ((uint64_t{EmWarn_X86_daz} << 32) | 2));
  CHECK(helper("amd64g_check_ldmxcsr", {0x1D80}) == (uint64_t{EmWarn_X86_sseExns} << 32));
  CHECK(helper("amd64g_check_fldcw", {0x037E}) == (uint64_t{EmWarn_X86_x87exns} << 32));
  CHECK(helper("amd64g_check_fldcw", {0x027F | (3u << 10)}) ==
        ((uint64_t{EmWarn_X86_x87precision} << 32) | 3));
  CHECK(helper("amd64g_create_mxcsr", {7}) == (0x1F80 | (3u << 13)));
}

// ---------------------------------------------------------------------------
// Integer operations.

TEST_CASE("ops: integer arithmetic, logic and comparisons match C") {
  for (int it = 0; it < 20000; ++it) {
    const uint64_t x = edgy(), y = edgy();
    for (unsigned k = 0; k < 4; ++k) {
      const unsigned bits = 8u << k;
      const uint64_t m = mask_of(bits), a = x & m, b = y & m;
      const auto at = [k](IROp base) { return static_cast<IROp>(base + k); };
      CAPTURE(bits);
      CAPTURE(a);
      CAPTURE(b);
      CHECK(u2(at(Iop_Add8), a, b) == ((a + b) & m));
      CHECK(u2(at(Iop_Sub8), a, b) == ((a - b) & m));
      CHECK(u2(at(Iop_Mul8), a, b) == ((a * b) & m));
      CHECK(u2(at(Iop_And8), a, b) == (a & b));
      CHECK(u2(at(Iop_Or8), a, b) == (a | b));
      CHECK(u2(at(Iop_Xor8), a, b) == (a ^ b));
      CHECK(u1(at(Iop_Not8), a) == (~a & m));
      CHECK(u2(at(Iop_CmpEQ8), a, b) == (a == b));
      CHECK(u2(at(Iop_CmpNE8), a, b) == (a != b));
      CHECK(u2(at(Iop_CasCmpEQ8), a, b) == (a == b));
      CHECK(u2(at(Iop_CasCmpNE8), a, b) == (a != b));
      CHECK(u2(at(Iop_ExpCmpNE8), a, b) == (a != b));
      CHECK(u1(at(Iop_CmpNEZ8), a) == (a != 0));
      CHECK(u1(at(Iop_Left8), a) == ((a | (0 - a)) & m));
      const unsigned __int128 pu = static_cast<unsigned __int128>(a) * b;
      const __int128 ps = static_cast<__int128>(sext(a, bits)) * sext(b, bits);
      const Value mu = op2(at(Iop_MullU8), val(a), val(b)),
                  ms = op2(at(Iop_MullS8), val(a), val(b));
      const unsigned wide = 2 * bits;
      if (wide <= 64) {
        CHECK(mu.u64() == static_cast<uint64_t>(pu));
        CHECK(ms.u64() == (static_cast<uint64_t>(ps) & mask_of(wide)));
      } else {
        CHECK(same(mu, val(static_cast<uint64_t>(pu), static_cast<uint64_t>(pu >> 64)), 32));
        CHECK(same(ms,
                   val(static_cast<uint64_t>(ps),
                       static_cast<uint64_t>(static_cast<unsigned __int128>(ps) >> 64)),
                   32));
      }
    }
    const uint32_t a32 = static_cast<uint32_t>(x), b32 = static_cast<uint32_t>(y);
    CHECK(u2(Iop_CmpLT32S, a32, b32) == (static_cast<int32_t>(a32) < static_cast<int32_t>(b32)));
    CHECK(u2(Iop_CmpLE32S, a32, b32) == (static_cast<int32_t>(a32) <= static_cast<int32_t>(b32)));
    CHECK(u2(Iop_CmpLT32U, a32, b32) == (a32 < b32));
    CHECK(u2(Iop_CmpLE32U, a32, b32) == (a32 <= b32));
    CHECK(u2(Iop_CmpLT64S, x, y) == (static_cast<int64_t>(x) < static_cast<int64_t>(y)));
    CHECK(u2(Iop_CmpLE64S, x, y) == (static_cast<int64_t>(x) <= static_cast<int64_t>(y)));
    CHECK(u2(Iop_CmpLT64U, x, y) == (x < y));
    CHECK(u2(Iop_CmpLE64U, x, y) == (x <= y));
    CHECK(u2(Iop_Max32U, a32, b32) == (a32 > b32 ? a32 : b32));
    CHECK(u1(Iop_CmpwNEZ32, a32) == (a32 ? 0xFFFFFFFFull : 0));
    CHECK(u1(Iop_CmpwNEZ64, x) == (x ? ~0ull : 0));
    CHECK(u2(Iop_CmpORD64S, x, y) == (static_cast<int64_t>(x) < static_cast<int64_t>(y)   ? 8u
                                      : static_cast<int64_t>(x) > static_cast<int64_t>(y) ? 4u
                                                                                          : 2u));
    CHECK(u2(Iop_CmpORD32U, a32, b32) == (a32 < b32 ? 8u : a32 > b32 ? 4u : 2u));
    if (x != 0) {
      CHECK(u1(Iop_Clz64, x) == static_cast<uint64_t>(__builtin_clzll(x)));
      CHECK(u1(Iop_Ctz64, x) == static_cast<uint64_t>(__builtin_ctzll(x)));
    }
    if (a32 != 0) {
      CHECK(u1(Iop_Clz32, a32) == static_cast<uint64_t>(__builtin_clz(a32)));
      CHECK(u1(Iop_Ctz32, a32) == static_cast<uint64_t>(__builtin_ctz(a32)));
    }
    CHECK(u1(Iop_ClzNat64, x) == (x ? static_cast<uint64_t>(__builtin_clzll(x)) : 64));
    CHECK(u1(Iop_CtzNat32, a32) == (a32 ? static_cast<uint64_t>(__builtin_ctz(a32)) : 32));
    CHECK(u1(Iop_PopCount64, x) == static_cast<uint64_t>(__builtin_popcountll(x)));
    CHECK(u1(Iop_PopCount32, a32) == static_cast<uint64_t>(__builtin_popcount(a32)));
    CHECK(u1(Iop_Reverse8sIn64_x1, x) == __builtin_bswap64(x));
    CHECK(u1(Iop_Reverse8sIn32_x1, a32) == __builtin_bswap32(a32));
    CHECK(u1(Iop_Reverse32sIn64_x1, x) == ((x << 32) | (x >> 32)));
  }
}

TEST_CASE("ops: integer shifts match the x86 shift instructions VEX emits") {
  // VEX compiles Shl/Shr/Sar 8/16/32 to 32-bit shifts and 64 to 64-bit
  // ones; the CPU masks the count to 5 (6) bits. The native 8/16-bit shift
  // instructions mask the same way, so they are the truth for every count.
  const NativeFn shl[] = {n_shl8, n_shl16, n_shl32, n_shl64},
                 shr[] = {n_shr8, n_shr16, n_shr32, n_shr64},
                 sar[] = {n_sar8, n_sar16, n_sar32, n_sar64};
  for (int it = 0; it < 5000; ++it) {
    const uint64_t x = edgy();
    for (unsigned k = 0; k < 4; ++k) {
      const unsigned bits = 8u << k;
      const uint64_t a = x & mask_of(bits);
      for (uint64_t n : {uint64_t{0}, uint64_t{1}, rng()() % 256, rng()() % 70, uint64_t{bits - 1},
                         uint64_t{bits}, uint64_t{32}, uint64_t{63}, uint64_t{64}, uint64_t{255}}) {
        CAPTURE(bits);
        CAPTURE(a);
        CAPTURE(n);
        CHECK(u2(static_cast<IROp>(Iop_Shl8 + k), a, n) ==
              (shl[k](a, n, 0x202).res & mask_of(bits)));
        CHECK(u2(static_cast<IROp>(Iop_Shr8 + k), a, n) ==
              (shr[k](a, n, 0x202).res & mask_of(bits)));
        CHECK(u2(static_cast<IROp>(Iop_Sar8 + k), a, n) ==
              (sar[k](a, n, 0x202).res & mask_of(bits)));
      }
    }
  }
}

TEST_CASE("ops: integer conversions and 1-bit operations match C casts") {
  for (int it = 0; it < 20000; ++it) {
    const uint64_t x = edgy(), y = edgy();
    const uint8_t b8 = static_cast<uint8_t>(x);
    const uint16_t b16 = static_cast<uint16_t>(x);
    const uint32_t b32 = static_cast<uint32_t>(x);
    CHECK(u1(Iop_8Uto16, b8) == b8);
    CHECK(u1(Iop_8Uto32, b8) == b8);
    CHECK(u1(Iop_8Uto64, b8) == b8);
    CHECK(u1(Iop_16Uto32, b16) == b16);
    CHECK(u1(Iop_16Uto64, b16) == b16);
    CHECK(u1(Iop_32Uto64, b32) == b32);
    CHECK(u1(Iop_8Sto16, b8) == static_cast<uint16_t>(static_cast<int8_t>(b8)));
    CHECK(u1(Iop_8Sto32, b8) == static_cast<uint32_t>(static_cast<int8_t>(b8)));
    CHECK(u1(Iop_8Sto64, b8) == static_cast<uint64_t>(static_cast<int8_t>(b8)));
    CHECK(u1(Iop_16Sto32, b16) == static_cast<uint32_t>(static_cast<int16_t>(b16)));
    CHECK(u1(Iop_16Sto64, b16) == static_cast<uint64_t>(static_cast<int16_t>(b16)));
    CHECK(u1(Iop_32Sto64, b32) == static_cast<uint64_t>(static_cast<int32_t>(b32)));
    CHECK(u1(Iop_64to8, x) == b8);
    CHECK(u1(Iop_32to8, b32) == b8);
    CHECK(u1(Iop_16to8, b16) == b8);
    CHECK(u1(Iop_64to16, x) == b16);
    CHECK(u1(Iop_32to16, b32) == b16);
    CHECK(u1(Iop_64to32, x) == b32);
    CHECK(u1(Iop_16HIto8, b16) == static_cast<uint8_t>(b16 >> 8));
    CHECK(u1(Iop_32HIto16, b32) == static_cast<uint16_t>(b32 >> 16));
    CHECK(u1(Iop_64HIto32, x) == (x >> 32));
    CHECK(u2(Iop_8HLto16, b8, y & 0xFF) == ((uint64_t{b8} << 8) | (y & 0xFF)));
    CHECK(u2(Iop_16HLto32, b16, y & 0xFFFF) == ((uint64_t{b16} << 16) | (y & 0xFFFF)));
    CHECK(u2(Iop_32HLto64, b32, y & 0xFFFFFFFF) == ((uint64_t{b32} << 32) | (y & 0xFFFFFFFF)));
    const Value w = op2(Iop_64HLto128, val(x), val(y));
    CHECK(same(w, val(y, x), 32));
    CHECK(op1(Iop_128to64, w).u64() == y);
    CHECK(op1(Iop_128HIto64, w).u64() == x);
    CHECK(same(op2(Iop_64HLtoV128, val(x), val(y)), val(y, x), 32));
    CHECK(op1(Iop_V128HIto64, val(y, x)).u64() == x);
    CHECK(op1(Iop_V128to64, val(y, x)).u64() == y);
    CHECK(u1(Iop_V128to32, x) == b32);
    CHECK(same(op1(Iop_32UtoV128, val(b32)), val(b32), 32));
    CHECK(same(op2(Iop_SetV128lo64, val(x, y), val(~x)), val(~x, y), 32));
    CHECK(same(op2(Iop_SetV128lo32, val(x, y), val(~x & 0xFFFFFFFF)),
               val((x & ~0xFFFFFFFFull) | (~x & 0xFFFFFFFF), y), 32));
    CHECK(same(op1(Iop_ZeroHI64ofV128, val(x, y)), val(x), 32));
    CHECK(same(op1(Iop_ZeroHI96ofV128, val(x, y)), val(b32), 32));
    const uint64_t bit = x & 1, bit2 = y & 1;
    CHECK(u1(Iop_Not1, bit) == !bit);
    CHECK(u2(Iop_And1, bit, bit2) == (bit & bit2));
    CHECK(u2(Iop_Or1, bit, bit2) == (bit | bit2));
    CHECK(u1(Iop_32to1, b32) == (b32 & 1));
    CHECK(u1(Iop_64to1, x) == (x & 1));
    CHECK(u1(Iop_1Uto8, bit) == bit);
    CHECK(u1(Iop_1Uto64, bit) == bit);
    CHECK(u1(Iop_1Sto8, bit) == (bit ? 0xFFu : 0));
    CHECK(u1(Iop_1Sto16, bit) == (bit ? 0xFFFFu : 0));
    CHECK(u1(Iop_1Sto32, bit) == (bit ? 0xFFFFFFFFu : 0));
    CHECK(u1(Iop_1Sto64, bit) == (bit ? ~0ull : 0));
  }
}

TEST_CASE("ops: divisions match C and unsigned __int128") {
  for (int it = 0; it < 20000; ++it) {
    const uint64_t x = edgy(), y = edgy() | (rng()() % 2);
    const uint32_t d32 = static_cast<uint32_t>(y) ? static_cast<uint32_t>(y) : 7;
    const uint64_t d64 = y ? y : 7;
    CAPTURE(x);
    CAPTURE(y);
    // DivModU64to32: only cases where div does not fault (quotient fits).
    if (x / d32 <= 0xFFFFFFFFull)
      CHECK(u2(Iop_DivModU64to32, x, d32) == (((x % d32) << 32) | (x / d32)));
    const int64_t sx = static_cast<int64_t>(x);
    const int32_t sd = static_cast<int32_t>(d32);
    if (!(sd == -1 && sx == INT64_MIN)) {
      const int64_t q = sx / sd, r = sx % sd;
      if (q >= INT32_MIN && q <= INT32_MAX)
        CHECK(u2(Iop_DivModS64to32, x, d32) ==
              ((static_cast<uint64_t>(r) << 32) | static_cast<uint32_t>(q)));
    }
    const uint64_t hi = edgy() % d64;  // keeps the quotient within 64 bits
    const unsigned __int128 n = (static_cast<unsigned __int128>(hi) << 64) | x;
    CHECK(same(op2(Iop_DivModU128to64, val(x, hi), val(d64)),
               val(static_cast<uint64_t>(n / d64), static_cast<uint64_t>(n % d64)), 32));
    const __int128 sn = static_cast<__int128>(
        (static_cast<unsigned __int128>(static_cast<uint64_t>(sext(hi, 16))) << 64) | x);
    const int64_t sd64 = static_cast<int64_t>(d64);
    if (sd64 != -1) {
      const __int128 q = sn / sd64, r = sn % sd64;
      if (q >= INT64_MIN && q <= INT64_MAX)
        CHECK(same(op2(Iop_DivModS128to64,
                       val(static_cast<uint64_t>(sn),
                           static_cast<uint64_t>(static_cast<unsigned __int128>(sn) >> 64)),
                       val(d64)),
                   val(static_cast<uint64_t>(q), static_cast<uint64_t>(r)), 32));
    }
    CHECK(u2(Iop_DivU64, x, d64) == x / d64);
    CHECK(u2(Iop_DivU32, x & 0xFFFFFFFF, d32) == static_cast<uint32_t>(x) / d32);
    if (!(sd64 == -1 && sx == INT64_MIN))
      CHECK(u2(Iop_DivS64, x, d64) == static_cast<uint64_t>(sx / sd64));
    const int32_t sx32 = static_cast<int32_t>(x);
    if (!(sd == -1 && sx32 == INT32_MIN))
      CHECK(u2(Iop_DivS32, x & 0xFFFFFFFF, d32) == static_cast<uint32_t>(sx32 / sd));
    CHECK(same(op2(Iop_DivModU64to64, val(x), val(d64)), val(x / d64, x % d64), 32));
    CHECK(u2(Iop_DivModU32to32, x & 0xFFFFFFFF, d32) ==
          ((uint64_t{static_cast<uint32_t>(x) % d32} << 32) | (static_cast<uint32_t>(x) / d32)));
  }
  // Division by zero is never asked (the guest faults first); it must not
  // crash the replayer.
  for (IROp op : {Iop_DivU32, Iop_DivS32, Iop_DivU64, Iop_DivS64, Iop_DivModU64to32,
                  Iop_DivModS64to32, Iop_DivModU128to64, Iop_DivModS128to64, Iop_DivModU64to64,
                  Iop_DivModS64to64, Iop_DivModU32to32, Iop_DivModS32to32})
    CHECK_NOTHROW(op2(op, val(123, 4), val(0)));
  CHECK_NOTHROW(op2(Iop_DivS64, val(1ull << 63), val(~0ull)));
  CHECK_NOTHROW(op2(Iop_DivModS128to64, val(0, 1ull << 63), val(~0ull)));
}

// ---------------------------------------------------------------------------
// Scalar floating point.

TEST_CASE("ops: F64 arithmetic matches SSE, in round to nearest whatever the IR rounding mode") {
  // VEX's amd64 back end ignores the rounding mode of Add/Sub/Mul/Div/Sqrt
  // F64 (it never changes MXCSR/FPU control for them), so neither do we.
  for (int it = 0; it < 20000; ++it) {
    const uint64_t a = any_f64(), b = any_f64();
    if (is_nan64(a) && is_nan64(b)) continue;  // which NaN wins is operand order
    const Value rm = val(rng()() % 4);
    CAPTURE(a);
    CAPTURE(b);
    const __m128d x = _mm_set_sd(f64(a)), y = _mm_set_sd(f64(b));
    CHECK(op3(Iop_AddF64, rm, val(a), val(b)).u64() == bits64(_mm_cvtsd_f64(_mm_add_sd(x, y))));
    CHECK(op3(Iop_SubF64, rm, val(a), val(b)).u64() == bits64(_mm_cvtsd_f64(_mm_sub_sd(x, y))));
    CHECK(op3(Iop_MulF64, rm, val(a), val(b)).u64() == bits64(_mm_cvtsd_f64(_mm_mul_sd(x, y))));
    CHECK(op3(Iop_DivF64, rm, val(a), val(b)).u64() == bits64(_mm_cvtsd_f64(_mm_div_sd(x, y))));
    const uint64_t s = op2(Iop_SqrtF64, rm, val(a)).u64(), want = bits64(std::sqrt(f64(a)));
    CHECK((s == want || (is_nan64(s) && is_nan64(want))));
    CHECK(u1(Iop_NegF64, a) == (a ^ (1ull << 63)));
    CHECK(u1(Iop_AbsF64, a) == (a & ~(1ull << 63)));
    CHECK(u1(Iop_ReinterpF64asI64, a) == a);
    CHECK(u1(Iop_ReinterpI64asF64, a) == a);
    const double da = f64(a), db = f64(b);
    const uint64_t cmp = da < db ? 0x01 : da > db ? 0x00 : da == db ? 0x40 : 0x45;
    CHECK(u2(Iop_CmpF64, a, b) == cmp);
    const float fa = static_cast<float>(da), fb = static_cast<float>(db);
    const uint64_t cmp32 = fa < fb ? 0x01 : fa > fb ? 0x00 : fa == fb ? 0x40 : 0x45;
    CHECK(u2(Iop_CmpF32, bits32(fa), bits32(fb)) == cmp32);
    CHECK(u1(Iop_NegF32, bits32(fa)) == (bits32(fa) ^ 0x80000000u));
    CHECK(u1(Iop_AbsF32, bits32(fa)) == (bits32(fa) & 0x7FFFFFFFu));
  }
}

TEST_CASE(
    "ops: floating-point conversions honour the rounding mode like the CPU under fesetround") {
  for (int it = 0; it < 20000; ++it) {
    const uint64_t a = any_f64();
    const int64_t i = static_cast<int64_t>(edgy());
    const unsigned rm = static_cast<unsigned>(rng()() % 4);
    CAPTURE(a);
    CAPTURE(i);
    CAPTURE(rm);
    volatile double vd = f64(a);
    volatile int64_t vi = i;
    // cvtsd2si: out-of-range and NaN give the "integer indefinite" value.
    const int64_t want64 =
        with_rounding(rm, [&] { return static_cast<int64_t>(_mm_cvtsd_si64(_mm_set_sd(vd))); });
    const int32_t want32 = with_rounding(rm, [&] { return _mm_cvtsd_si32(_mm_set_sd(vd)); });
    CHECK(op2(Iop_F64toI64S, val(rm), val(a)).u64() == static_cast<uint64_t>(want64));
    CHECK(op2(Iop_F64toI32S, val(rm), val(a)).u64() == static_cast<uint32_t>(want32));
    if (std::fabs(f64(a)) < 9e18)
      CHECK(static_cast<int64_t>(op2(Iop_F64toI64S, val(rm), val(a)).u64()) ==
            with_rounding(rm, [&] { return static_cast<int64_t>(std::llrint(vd)); }));
    const double wantd = with_rounding(rm, [&] { return static_cast<double>(vi); });
    CHECK(op2(Iop_I64StoF64, val(rm), val(static_cast<uint64_t>(i))).u64() == bits64(wantd));
    const float wantf = with_rounding(rm, [&] { return static_cast<float>(vi); });
    CHECK(op2(Iop_I64StoF32, val(rm), val(static_cast<uint64_t>(i))).u64() == bits32(wantf));
    const int32_t i32 = static_cast<int32_t>(i);
    volatile int32_t vi32 = i32;
    const float wantf32 = with_rounding(rm, [&] { return static_cast<float>(vi32); });
    CHECK(op2(Iop_I32StoF32, val(rm), val(static_cast<uint32_t>(i32))).u64() == bits32(wantf32));
    CHECK(op1(Iop_I32StoF64, val(static_cast<uint32_t>(i32))).u64() ==
          bits64(static_cast<double>(i32)));
    const float narrowed = with_rounding(rm, [&] { return static_cast<float>(vd); });
    const uint64_t got32 = op2(Iop_F64toF32, val(rm), val(a)).u64();
    CHECK((got32 == bits32(narrowed) ||
           (std::isnan(narrowed) && std::isnan(f32(static_cast<uint32_t>(got32))))));
    const double rounded = with_rounding(rm, [&] { return std::nearbyint(vd); });
    const uint64_t gotr = op2(Iop_RoundF64toInt, val(rm), val(a)).u64();
    CHECK((gotr == bits64(rounded) || (is_nan64(gotr) && std::isnan(rounded))));
    const float fa = static_cast<float>(f64(a));
    volatile float vf = fa;
    const float roundedf = with_rounding(rm, [&] { return std::nearbyintf(vf); });
    const uint64_t gotrf = op2(Iop_RoundF32toInt, val(rm), val(bits32(fa))).u64();
    CHECK((gotrf == bits32(roundedf) ||
           (std::isnan(roundedf) && std::isnan(f32(static_cast<uint32_t>(gotrf))))));
    const uint64_t widened = op1(Iop_F32toF64, val(bits32(fa))).u64();
    CHECK((widened == bits64(static_cast<double>(fa)) || (std::isnan(fa) && is_nan64(widened))));
    // F32 arithmetic is defined with the rounding mode honoured.
    const float fb = static_cast<float>(f64(any_f64()));
    volatile float vfb = fb;
    const float sum = with_rounding(rm, [&] { return vf + vfb; }),
                quot = with_rounding(rm, [&] { return vf / vfb; });
    if (!std::isnan(sum))
      CHECK(op3(Iop_AddF32, val(rm), val(bits32(fa)), val(bits32(fb))).u64() == bits32(sum));
    if (!std::isnan(quot))
      CHECK(op3(Iop_DivF32, val(rm), val(bits32(fa)), val(bits32(fb))).u64() == bits32(quot));
  }
  // The rounding mode is restored afterwards.
  CHECK(std::fegetround() == FE_TONEAREST);
  CHECK(op2(Iop_F64toI64S, val(1), val(bits64(2.5))).u64() == 2);
  CHECK(op2(Iop_F64toI64S, val(2), val(bits64(2.5))).u64() == 3);
  CHECK(std::llrint(2.5) == 2);
  CHECK(op2(Iop_RoundF64toInt, val(3), val(bits64(-2.7))).u64() == bits64(-2.0));
}

// ---------------------------------------------------------------------------
// SIMD against SSE intrinsics.

namespace {

using Native2 = __m128i (*)(__m128i, __m128i);

#define OMNI_N2(name, expr)                                                                     \
  __attribute__((target("sse4.2,ssse3"))) __m128i name(__m128i a, [[maybe_unused]] __m128i b) { \
    return expr;                                                                                \
  }
OMNI_N2(n_add8x16, _mm_add_epi8(a, b))
OMNI_N2(n_add16x8, _mm_add_epi16(a, b))
OMNI_N2(n_add32x4, _mm_add_epi32(a, b))
OMNI_N2(n_add64x2, _mm_add_epi64(a, b))
OMNI_N2(n_sub8x16, _mm_sub_epi8(a, b))
OMNI_N2(n_sub16x8, _mm_sub_epi16(a, b))
OMNI_N2(n_sub32x4, _mm_sub_epi32(a, b))
OMNI_N2(n_sub64x2, _mm_sub_epi64(a, b))
OMNI_N2(n_qadd8u, _mm_adds_epu8(a, b))
OMNI_N2(n_qadd16u, _mm_adds_epu16(a, b))
OMNI_N2(n_qadd8s, _mm_adds_epi8(a, b))
OMNI_N2(n_qadd16s, _mm_adds_epi16(a, b))
OMNI_N2(n_qsub8u, _mm_subs_epu8(a, b))
OMNI_N2(n_qsub16u, _mm_subs_epu16(a, b))
OMNI_N2(n_qsub8s, _mm_subs_epi8(a, b))
OMNI_N2(n_qsub16s, _mm_subs_epi16(a, b))
OMNI_N2(n_mul16x8, _mm_mullo_epi16(a, b))
OMNI_N2(n_mul32x4, _mm_mullo_epi32(a, b))
OMNI_N2(n_mulhi16u, _mm_mulhi_epu16(a, b))
OMNI_N2(n_mulhi16s, _mm_mulhi_epi16(a, b))
OMNI_N2(n_avg8u, _mm_avg_epu8(a, b))
OMNI_N2(n_avg16u, _mm_avg_epu16(a, b))
OMNI_N2(n_max8s, _mm_max_epi8(a, b))
OMNI_N2(n_max16s, _mm_max_epi16(a, b))
OMNI_N2(n_max32s, _mm_max_epi32(a, b))
OMNI_N2(n_max8u, _mm_max_epu8(a, b))
OMNI_N2(n_max16u, _mm_max_epu16(a, b))
OMNI_N2(n_max32u, _mm_max_epu32(a, b))
OMNI_N2(n_min8s, _mm_min_epi8(a, b))
OMNI_N2(n_min16s, _mm_min_epi16(a, b))
OMNI_N2(n_min32s, _mm_min_epi32(a, b))
OMNI_N2(n_min8u, _mm_min_epu8(a, b))
OMNI_N2(n_min16u, _mm_min_epu16(a, b))
OMNI_N2(n_min32u, _mm_min_epu32(a, b))
OMNI_N2(n_cmpeq8, _mm_cmpeq_epi8(a, b))
OMNI_N2(n_cmpeq16, _mm_cmpeq_epi16(a, b))
OMNI_N2(n_cmpeq32, _mm_cmpeq_epi32(a, b))
OMNI_N2(n_cmpeq64, _mm_cmpeq_epi64(a, b))
OMNI_N2(n_cmpgt8, _mm_cmpgt_epi8(a, b))
OMNI_N2(n_cmpgt16, _mm_cmpgt_epi16(a, b))
OMNI_N2(n_cmpgt32, _mm_cmpgt_epi32(a, b))
OMNI_N2(n_cmpgt64, _mm_cmpgt_epi64(a, b))
OMNI_N2(n_and, _mm_and_si128(a, b))
OMNI_N2(n_or, _mm_or_si128(a, b))
OMNI_N2(n_xor, _mm_xor_si128(a, b))
// IR Interleave/Narrow take the high half from the left arg; the x86
// instructions take their destination (= the right arg) into the low half.
OMNI_N2(n_ilo8, _mm_unpacklo_epi8(b, a))
OMNI_N2(n_ilo16, _mm_unpacklo_epi16(b, a))
OMNI_N2(n_ilo32, _mm_unpacklo_epi32(b, a))
OMNI_N2(n_ilo64, _mm_unpacklo_epi64(b, a))
OMNI_N2(n_ihi8, _mm_unpackhi_epi8(b, a))
OMNI_N2(n_ihi16, _mm_unpackhi_epi16(b, a))
OMNI_N2(n_ihi32, _mm_unpackhi_epi32(b, a))
OMNI_N2(n_ihi64, _mm_unpackhi_epi64(b, a))
OMNI_N2(n_packss16, _mm_packs_epi16(b, a))
OMNI_N2(n_packus16, _mm_packus_epi16(b, a))
OMNI_N2(n_packss32, _mm_packs_epi32(b, a))
OMNI_N2(n_packus32, _mm_packus_epi32(b, a))
OMNI_N2(n_pshufb, _mm_shuffle_epi8(a, b))
OMNI_N2(n_maddubs, _mm_maddubs_epi16(a, b))
OMNI_N2(n_addpd, _mm_castpd_si128(_mm_add_pd(_mm_castsi128_pd(a), _mm_castsi128_pd(b))))
OMNI_N2(n_mulps, _mm_castps_si128(_mm_mul_ps(_mm_castsi128_ps(a), _mm_castsi128_ps(b))))
OMNI_N2(n_divpd, _mm_castpd_si128(_mm_div_pd(_mm_castsi128_pd(a), _mm_castsi128_pd(b))))
OMNI_N2(n_subps, _mm_castps_si128(_mm_sub_ps(_mm_castsi128_ps(a), _mm_castsi128_ps(b))))
OMNI_N2(n_maxpd, _mm_castpd_si128(_mm_max_pd(_mm_castsi128_pd(a), _mm_castsi128_pd(b))))
OMNI_N2(n_minps, _mm_castps_si128(_mm_min_ps(_mm_castsi128_ps(a), _mm_castsi128_ps(b))))
OMNI_N2(n_cmpltpd, _mm_castpd_si128(_mm_cmplt_pd(_mm_castsi128_pd(a), _mm_castsi128_pd(b))))
OMNI_N2(n_cmpeqps, _mm_castps_si128(_mm_cmpeq_ps(_mm_castsi128_ps(a), _mm_castsi128_ps(b))))
OMNI_N2(n_cmpleps, _mm_castps_si128(_mm_cmple_ps(_mm_castsi128_ps(a), _mm_castsi128_ps(b))))
OMNI_N2(n_cmpunordpd, _mm_castpd_si128(_mm_cmpunord_pd(_mm_castsi128_pd(a), _mm_castsi128_pd(b))))
OMNI_N2(n_addsd, _mm_castpd_si128(_mm_add_sd(_mm_castsi128_pd(a), _mm_castsi128_pd(b))))
OMNI_N2(n_mulsd, _mm_castpd_si128(_mm_mul_sd(_mm_castsi128_pd(a), _mm_castsi128_pd(b))))
OMNI_N2(n_divss, _mm_castps_si128(_mm_div_ss(_mm_castsi128_ps(a), _mm_castsi128_ps(b))))
OMNI_N2(n_maxsd, _mm_castpd_si128(_mm_max_sd(_mm_castsi128_pd(a), _mm_castsi128_pd(b))))
OMNI_N2(n_minss, _mm_castps_si128(_mm_min_ss(_mm_castsi128_ps(a), _mm_castsi128_ps(b))))
OMNI_N2(n_cmpltsd, _mm_castpd_si128(_mm_cmplt_sd(_mm_castsi128_pd(a), _mm_castsi128_pd(b))))
OMNI_N2(n_cmpless, _mm_castps_si128(_mm_cmple_ss(_mm_castsi128_ps(a), _mm_castsi128_ps(b))))
OMNI_N2(n_sqrtsd_lo, _mm_castpd_si128(_mm_sqrt_sd(_mm_castsi128_pd(a), _mm_castsi128_pd(a))))
OMNI_N2(n_sqrtps, _mm_castps_si128(_mm_sqrt_ps(_mm_castsi128_ps(a))))
#undef OMNI_N2

struct VecCase {
  IROp op;        // the 128-bit operation
  IROp op64;      // its 64-bit (MMX) form, or Iop_INVALID
  IROp op256;     // its 256-bit form, or Iop_INVALID
  Native2 native;
  bool fp = false;      // operands are floating-point lanes
  bool triop = false;   // a rounding mode comes first
};

std::vector<VecCase> vec_cases() {
  const IROp none = Iop_INVALID;
  return {
      {Iop_Add8x16, Iop_Add8x8, Iop_Add8x32, n_add8x16},
      {Iop_Add16x8, Iop_Add16x4, Iop_Add16x16, n_add16x8},
      {Iop_Add32x4, Iop_Add32x2, Iop_Add32x8, n_add32x4},
      {Iop_Add64x2, none, Iop_Add64x4, n_add64x2},
      {Iop_Sub8x16, Iop_Sub8x8, Iop_Sub8x32, n_sub8x16},
      {Iop_Sub16x8, Iop_Sub16x4, Iop_Sub16x16, n_sub16x8},
      {Iop_Sub32x4, Iop_Sub32x2, Iop_Sub32x8, n_sub32x4},
      {Iop_Sub64x2, none, Iop_Sub64x4, n_sub64x2},
      {Iop_QAdd8Ux16, Iop_QAdd8Ux8, Iop_QAdd8Ux32, n_qadd8u},
      {Iop_QAdd16Ux8, Iop_QAdd16Ux4, Iop_QAdd16Ux16, n_qadd16u},
      {Iop_QAdd8Sx16, Iop_QAdd8Sx8, Iop_QAdd8Sx32, n_qadd8s},
      {Iop_QAdd16Sx8, Iop_QAdd16Sx4, Iop_QAdd16Sx16, n_qadd16s},
      {Iop_QSub8Ux16, Iop_QSub8Ux8, Iop_QSub8Ux32, n_qsub8u},
      {Iop_QSub16Ux8, Iop_QSub16Ux4, Iop_QSub16Ux16, n_qsub16u},
      {Iop_QSub8Sx16, Iop_QSub8Sx8, Iop_QSub8Sx32, n_qsub8s},
      {Iop_QSub16Sx8, Iop_QSub16Sx4, Iop_QSub16Sx16, n_qsub16s},
      {Iop_Mul16x8, Iop_Mul16x4, Iop_Mul16x16, n_mul16x8},
      {Iop_Mul32x4, Iop_Mul32x2, Iop_Mul32x8, n_mul32x4},
      {Iop_MulHi16Ux8, Iop_MulHi16Ux4, Iop_MulHi16Ux16, n_mulhi16u},
      {Iop_MulHi16Sx8, Iop_MulHi16Sx4, Iop_MulHi16Sx16, n_mulhi16s},
      {Iop_Avg8Ux16, Iop_Avg8Ux8, Iop_Avg8Ux32, n_avg8u},
      {Iop_Avg16Ux8, Iop_Avg16Ux4, Iop_Avg16Ux16, n_avg16u},
      {Iop_Max8Sx16, none, Iop_Max8Sx32, n_max8s},
      {Iop_Max16Sx8, Iop_Max16Sx4, Iop_Max16Sx16, n_max16s},
      {Iop_Max32Sx4, none, Iop_Max32Sx8, n_max32s},
      {Iop_Max8Ux16, Iop_Max8Ux8, Iop_Max8Ux32, n_max8u},
      {Iop_Max16Ux8, none, Iop_Max16Ux16, n_max16u},
      {Iop_Max32Ux4, none, Iop_Max32Ux8, n_max32u},
      {Iop_Min8Sx16, none, Iop_Min8Sx32, n_min8s},
      {Iop_Min16Sx8, Iop_Min16Sx4, Iop_Min16Sx16, n_min16s},
      {Iop_Min32Sx4, none, Iop_Min32Sx8, n_min32s},
      {Iop_Min8Ux16, Iop_Min8Ux8, Iop_Min8Ux32, n_min8u},
      {Iop_Min16Ux8, none, Iop_Min16Ux16, n_min16u},
      {Iop_Min32Ux4, none, Iop_Min32Ux8, n_min32u},
      {Iop_CmpEQ8x16, Iop_CmpEQ8x8, Iop_CmpEQ8x32, n_cmpeq8},
      {Iop_CmpEQ16x8, Iop_CmpEQ16x4, Iop_CmpEQ16x16, n_cmpeq16},
      {Iop_CmpEQ32x4, Iop_CmpEQ32x2, Iop_CmpEQ32x8, n_cmpeq32},
      {Iop_CmpEQ64x2, none, Iop_CmpEQ64x4, n_cmpeq64},
      {Iop_CmpGT8Sx16, Iop_CmpGT8Sx8, Iop_CmpGT8Sx32, n_cmpgt8},
      {Iop_CmpGT16Sx8, Iop_CmpGT16Sx4, Iop_CmpGT16Sx16, n_cmpgt16},
      {Iop_CmpGT32Sx4, Iop_CmpGT32Sx2, Iop_CmpGT32Sx8, n_cmpgt32},
      {Iop_CmpGT64Sx2, none, Iop_CmpGT64Sx4, n_cmpgt64},
      {Iop_AndV128, none, Iop_AndV256, n_and},
      {Iop_OrV128, none, Iop_OrV256, n_or},
      {Iop_XorV128, none, Iop_XorV256, n_xor},
      {Iop_InterleaveLO8x16, none, none, n_ilo8},
      {Iop_InterleaveLO16x8, none, none, n_ilo16},
      {Iop_InterleaveLO32x4, none, none, n_ilo32},
      {Iop_InterleaveLO64x2, none, none, n_ilo64},
      {Iop_InterleaveHI8x16, none, none, n_ihi8},
      {Iop_InterleaveHI16x8, none, none, n_ihi16},
      {Iop_InterleaveHI32x4, none, none, n_ihi32},
      {Iop_InterleaveHI64x2, none, none, n_ihi64},
      {Iop_QNarrowBin16Sto8Sx16, none, none, n_packss16},
      {Iop_QNarrowBin16Sto8Ux16, none, none, n_packus16},
      {Iop_QNarrowBin32Sto16Sx8, none, none, n_packss32},
      {Iop_QNarrowBin32Sto16Ux8, none, none, n_packus32},
      {Iop_PermOrZero8x16, none, none, n_pshufb},
      {Iop_PwExtUSMulQAdd8x16, none, none, n_maddubs},
      {Iop_Add64Fx2, none, Iop_Add64Fx4, n_addpd, true, true},
      {Iop_Mul32Fx4, none, Iop_Mul32Fx8, n_mulps, true, true},
      {Iop_Div64Fx2, none, Iop_Div64Fx4, n_divpd, true, true},
      {Iop_Sub32Fx4, none, Iop_Sub32Fx8, n_subps, true, true},
      {Iop_Max64Fx2, none, Iop_Max64Fx4, n_maxpd, true},
      {Iop_Min32Fx4, none, Iop_Min32Fx8, n_minps, true},
      {Iop_CmpLT64Fx2, none, none, n_cmpltpd, true},
      {Iop_CmpEQ32Fx4, none, none, n_cmpeqps, true},
      {Iop_CmpLE32Fx4, none, none, n_cmpleps, true},
      {Iop_CmpUN64Fx2, none, none, n_cmpunordpd, true},
      {Iop_Add64F0x2, none, none, n_addsd, true},
      {Iop_Mul64F0x2, none, none, n_mulsd, true},
      {Iop_Div32F0x4, none, none, n_divss, true},
      {Iop_Max64F0x2, none, none, n_maxsd, true},
      {Iop_Min32F0x4, none, none, n_minss, true},
      {Iop_CmpLT64F0x2, none, none, n_cmpltsd, true},
      {Iop_CmpLE32F0x4, none, none, n_cmpless, true},
  };
}

// FP lanes: no two NaNs meeting in a lane, so that operand order never
// decides which one comes out (the NaN rules are checked elsewhere).
Value fp_vec(unsigned bytes, bool f64_lanes) {
  Value v;
  for (unsigned i = 0; i < bytes / 8; ++i) {
    uint64_t c;
    if (f64_lanes) {
      c = any_f64();
    } else {
      c = (uint64_t{bits32(static_cast<float>(f64(any_f64())))} << 32) |
          bits32(static_cast<float>(f64(any_f64())));
    }
    std::memcpy(v.b + 8 * i, &c, 8);
  }
  return v;
}

bool lane_is_nan(const Value& v, unsigned offset, bool f64_lane) {
  if (f64_lane) {
    uint64_t t;
    std::memcpy(&t, v.b + offset, 8);
    return is_nan64(t);
  }
  uint32_t t;
  std::memcpy(&t, v.b + offset, 4);
  return std::isnan(f32(t));
}

}  // namespace

TEST_CASE("ops: 64/128/256-bit SIMD lane operations match SSE intrinsics") {
  __builtin_cpu_init();
  REQUIRE(__builtin_cpu_supports("sse4.2"));
  REQUIRE(__builtin_cpu_supports("ssse3"));
  for (const VecCase& c : vec_cases()) {
    CAPTURE(c.op);
    const bool f64_lanes = c.op == Iop_Add64Fx2 || c.op == Iop_Div64Fx2 || c.op == Iop_Max64Fx2 ||
                           c.op == Iop_CmpLT64Fx2 || c.op == Iop_CmpUN64Fx2 ||
                           c.op == Iop_Add64F0x2 || c.op == Iop_Mul64F0x2 ||
                           c.op == Iop_Max64F0x2 || c.op == Iop_CmpLT64F0x2;
    for (int it = 0; it < 2000; ++it) {
      Value a = c.fp ? fp_vec(32, f64_lanes) : random_vec(32),
            b = c.fp ? fp_vec(32, f64_lanes) : random_vec(32);
      if (c.fp) {  // avoid NaN meeting NaN in a lane
        const unsigned lane = f64_lanes ? 8 : 4;
        for (unsigned i = 0; i < 32; i += lane)
          if (lane_is_nan(a, i, f64_lanes) && lane_is_nan(b, i, f64_lanes))
            std::memset(b.b + i, 0, lane);
      }
      if (c.op == Iop_PermOrZero8x16)  // indices VEX defines: bit 7 or 0..15
        for (unsigned i = 0; i < 16; ++i) b.b[i] &= 0x8F;
      const Value rm = val(rng()() % 4);
      auto run = [&](IROp op, const Value& x, const Value& y) {
        return c.triop ? op3(op, rm, x, y) : op2(op, x, y);
      };
      Value a16 = a, b16 = b;
      std::memset(a16.b + 16, 0, 16);
      std::memset(b16.b + 16, 0, 16);
      const Value want = vec(c.native(xmm(a), xmm(b)));
      const Value got = run(c.op, a16, b16);
      if (!same(got, want, 16)) {
        CAPTURE(hex(a, 16));
        CAPTURE(hex(b, 16));
        CAPTURE(hex(want, 16));
        CAPTURE(hex(got, 16));
        CHECK(same(got, want, 16));
        break;
      }
      if (c.op64 != Iop_INVALID) {  // the native op on the low halves
        Value a8 = val(a.u64()), b8 = val(b.u64());
        CHECK(same(op2(c.op64, a8, b8), val(vec(c.native(xmm(a8), xmm(b8))).u64()), 32));
      }
      if (c.op256 != Iop_INVALID) {  // the native op on each half
        Value w;
        const __m128i lo = c.native(xmm(a, 0), xmm(b, 0)), hi = c.native(xmm(a, 1), xmm(b, 1));
        std::memcpy(w.b, &lo, 16);
        std::memcpy(w.b + 16, &hi, 16);
        CHECK(same(run(c.op256, a, b), w, 32));
      }
    }
  }
}

TEST_CASE("ops: SIMD shifts, movemask, conversions and packing match SSE") {
  for (int it = 0; it < 5000; ++it) {
    const Value a = random_vec(32);
    const uint8_t n = static_cast<uint8_t>(rng()() % 3 == 0 ? rng()() % 256 : rng()() % 70);
    const __m128i x = xmm(a), cnt = _mm_cvtsi32_si128(n);
    Value a16 = a;
    std::memset(a16.b + 16, 0, 16);
    CAPTURE(hex(a, 32));
    CAPTURE(unsigned{n});
    // psll/psrl/psra with the count in a register: counts past the lane
    // width give zero (sign copies for arithmetic shifts).
    CHECK(same(op2(Iop_ShlN16x8, a16, val(n)), vec(_mm_sll_epi16(x, cnt)), 32));
    CHECK(same(op2(Iop_ShlN32x4, a16, val(n)), vec(_mm_sll_epi32(x, cnt)), 32));
    CHECK(same(op2(Iop_ShlN64x2, a16, val(n)), vec(_mm_sll_epi64(x, cnt)), 32));
    CHECK(same(op2(Iop_ShrN16x8, a16, val(n)), vec(_mm_srl_epi16(x, cnt)), 32));
    CHECK(same(op2(Iop_ShrN32x4, a16, val(n)), vec(_mm_srl_epi32(x, cnt)), 32));
    CHECK(same(op2(Iop_ShrN64x2, a16, val(n)), vec(_mm_srl_epi64(x, cnt)), 32));
    CHECK(same(op2(Iop_SarN16x8, a16, val(n)), vec(_mm_sra_epi16(x, cnt)), 32));
    CHECK(same(op2(Iop_SarN32x4, a16, val(n)), vec(_mm_sra_epi32(x, cnt)), 32));
    CHECK(op2(Iop_ShlN16x4, val(a.u64()), val(n)).u64() ==
          static_cast<uint64_t>(_mm_cvtsi128_si64(_mm_sll_epi16(x, cnt))));
    CHECK(op2(Iop_SarN32x2, val(a.u64()), val(n)).u64() ==
          static_cast<uint64_t>(_mm_cvtsi128_si64(_mm_sra_epi32(x, cnt))));
    {
      Value w;
      const __m128i hi = xmm(a, 1);
      const __m128i lo_r = _mm_srl_epi32(x, cnt), hi_r = _mm_srl_epi32(hi, cnt);
      std::memcpy(w.b, &lo_r, 16);
      std::memcpy(w.b + 16, &hi_r, 16);
      CHECK(same(op2(Iop_ShrN32x8, a, val(n)), w, 32));
    }
    // SarN8x16 and SarN64x2 are VEX helpers that take the amount modulo the
    // lane width: per-lane arithmetic shifts.
    Value s8, s64;
    for (unsigned i = 0; i < 16; ++i)
      s8.b[i] = static_cast<uint8_t>(static_cast<int8_t>(a.b[i]) >> (n & 7));
    for (unsigned i = 0; i < 2; ++i) {
      int64_t l;
      std::memcpy(&l, a.b + 8 * i, 8);
      l >>= (n & 63);
      std::memcpy(s64.b + 8 * i, &l, 8);
    }
    CHECK(same(op2(Iop_SarN8x16, a16, val(n)), s8, 32));
    CHECK(same(op2(Iop_SarN64x2, a16, val(n)), s64, 32));
    // movemask.
    CHECK(op1(Iop_GetMSBs8x16, a16).u64() == static_cast<uint64_t>(_mm_movemask_epi8(x)));
    CHECK(op1(Iop_GetMSBs8x8, val(a.u64())).u64() ==
          (static_cast<uint64_t>(_mm_movemask_epi8(x)) & 0xFF));
    // CmpNEZ lanes.
    CHECK(same(op1(Iop_CmpNEZ8x16, a16),
               vec(_mm_xor_si128(_mm_cmpeq_epi8(x, _mm_setzero_si128()), _mm_set1_epi8(-1))), 32));
    CHECK(same(op1(Iop_CmpNEZ32x4, a16),
               vec(_mm_xor_si128(_mm_cmpeq_epi32(x, _mm_setzero_si128()), _mm_set1_epi8(-1))), 32));
    CHECK(same(op1(Iop_NotV128, a16), vec(_mm_xor_si128(x, _mm_set1_epi8(-1))), 32));
    // Lane plumbing.
    Value hl;
    std::memcpy(hl.b, a.b + 16, 16);
    std::memcpy(hl.b + 16, a.b, 16);
    Value lo16 = a, hi16;
    std::memset(lo16.b + 16, 0, 16);
    std::memcpy(hi16.b, a.b + 16, 16);
    CHECK(same(op1(Iop_V256toV128_0, a), lo16, 32));
    CHECK(same(op1(Iop_V256toV128_1, a), hi16, 32));
    CHECK(same(op2(Iop_V128HLtoV256, lo16, hi16), hl, 32));
    uint64_t q[4];
    std::memcpy(q, a.b, 32);
    const Value quads[4] = {val(q[3]), val(q[2]), val(q[1]), val(q[0])};
    CHECK(same(eval_op(Iop_64x4toV256, quads, 4), a, 32));
    CHECK(op1(Iop_V256to64_2, a).u64() == q[2]);
    // Float <-> int vector conversions under the rounding mode.
    const unsigned rm = static_cast<unsigned>(rng()() % 4);
    const Value f = fp_vec(16, false);
    volatile __m128i vf = xmm(f), vi = x;
    const __m128i cvt = with_rounding(rm, [&] { return _mm_cvtps_epi32(_mm_castsi128_ps(vf)); });
    const __m128i cvf = with_rounding(rm, [&] { return _mm_castps_si128(_mm_cvtepi32_ps(vi)); });
    CHECK(same(op2(Iop_F32toI32Sx4, val(rm), f), vec(cvt), 32));
    CHECK(same(op2(Iop_I32StoF32x4, val(rm), a16), vec(cvf), 32));
    // Sqrt lanes.
    const Value g = fp_vec(16, false);
    CHECK(same(op2(Iop_Sqrt32Fx4, val(rm), g), vec(n_sqrtps(xmm(g), xmm(g))), 32));
    const Value h = fp_vec(16, true);
    CHECK(same(op1(Iop_Sqrt64F0x2, h), vec(n_sqrtsd_lo(xmm(h), xmm(h))), 32));
  }
}

TEST_CASE("ops: SIMD floating point follows SSE's NaN and signed-zero rules") {
  const uint64_t qnan_a = 0x7FF8000000000111, snan_b = 0x7FF0000000000222,
                 neg0 = 0x8000000000000000;
  const Value a = val(qnan_a, neg0), b = val(snan_b, 0);
  // addsd/addpd: the first operand's NaN wins, a signalling NaN comes out
  // quieted.
  CHECK(op3(Iop_Add64Fx2, val(0), a, b).u64() == qnan_a);
  CHECK(op3(Iop_Add64Fx2, val(0), b, a).u64() == (snan_b | 0x0008000000000000));
  // maxpd/minpd: if either is NaN, or both are zero, the second operand.
  const Value z = val(neg0, 0), p0 = val(0, neg0);
  CHECK(same(op2(Iop_Max64Fx2, z, p0), p0, 32));
  CHECK(same(op2(Iop_Min64Fx2, p0, z), z, 32));
  CHECK(op2(Iop_Max64F0x2, a, val(bits64(1.0))).u64() == bits64(1.0));
  // Scalar F0x2 lanes keep the first operand's upper half.
  const Value s = op2(Iop_Add64F0x2, val(bits64(1.5), 0x1234), val(bits64(2.0), 0x5678));
  CHECK(same(s, val(bits64(3.5), 0x1234), 32));
  // Square roots of negatives give the default NaN.
  CHECK(op2(Iop_SqrtF64, val(0), val(bits64(-4.0))).u64() == 0xFFF8000000000000);
  CHECK(op2(Iop_SqrtF64, val(0), val(neg0)).u64() == neg0);
  // CmpF64 encodings.
  CHECK(u2(Iop_CmpF64, bits64(1.0), bits64(2.0)) == 0x01);
  CHECK(u2(Iop_CmpF64, bits64(2.0), bits64(1.0)) == 0x00);
  CHECK(u2(Iop_CmpF64, bits64(0.0), neg0) == 0x40);
  CHECK(u2(Iop_CmpF64, qnan_a, bits64(1.0)) == 0x45);
  // Out-of-range conversions give the integer indefinite value.
  CHECK(op2(Iop_F64toI32S, val(0), val(bits64(3e9))).u64() == 0x80000000u);
  CHECK(op2(Iop_F64toI64S, val(3), val(qnan_a)).u64() == 0x8000000000000000u);
}
