#include "ir.h"

#include <cstring>

#include "omni/base/error.h"
extern "C" {
#include "omni/trace/replay_ops.h"
}

namespace omni::replay {

unsigned type_bytes(IRType ty) {
  switch (ty) {
    case Ity_I1:
    case Ity_I8: return 1;
    case Ity_I16:
    case Ity_F16: return 2;
    case Ity_I32:
    case Ity_F32:
    case Ity_D32: return 4;
    case Ity_I64:
    case Ity_F64:
    case Ity_D64: return 8;
    case Ity_I128:
    case Ity_F128:
    case Ity_D128:
    case Ity_V128: return 16;
    case Ity_V256: return 32;
    default: fail("replay: IR type {:#x} has no size", static_cast<unsigned>(ty));
  }
}

namespace {

class Decoder {
 public:
  Decoder(const uint8_t* p, size_t size, Block& block) : p_(p), end_(p + size), b_(block) {}

  void block() {
    uint64_t ntemps = uleb();
    if (ntemps > (1u << 20)) bad("temp count");
    b_.temps.resize(ntemps);
    for (auto& t : b_.temps) t = type();
    uint64_t nstmts = uleb();
    if (nstmts > (1u << 20)) bad("statement count");
    b_.stmts.reserve(nstmts);
    for (uint64_t i = 0; i < nstmts; ++i) b_.stmts.push_back(stmt());
    b_.next = expr();
    b_.jumpkind = static_cast<IRJumpKind>(Ijk_INVALID + byte());
    b_.offs_ip = static_cast<uint32_t>(uleb());
    if (p_ != end_) bad("trailing bytes");
  }

 private:
  [[noreturn]] void bad(const char* what) {
    fail("index is corrupt (block IR at {:#x}: {}); run `omni index` again", b_.addr, what);
  }
  uint8_t byte() {
    if (p_ >= end_) bad("truncated");
    return *p_++;
  }
  void bytes(void* out, size_t n) {
    if (static_cast<size_t>(end_ - p_) < n) bad("truncated");
    std::memcpy(out, p_, n);
    p_ += n;
  }
  uint64_t uleb() {
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      uint8_t b = byte();
      v |= static_cast<uint64_t>(b & 0x7f) << shift;
      if (!(b & 0x80)) return v;
    }
    bad("varint");
  }
  int64_t sleb() {
    int64_t v = 0;
    int shift = 0;
    uint8_t b;
    do {
      b = byte();
      v |= static_cast<int64_t>(b & 0x7f) << shift;
      shift += 7;
    } while ((b & 0x80) && shift < 64);
    if (shift < 64 && (b & 0x40)) v |= -(int64_t{1} << shift);
    return v;
  }
  std::string str() {
    uint64_t n = uleb();
    if (n > static_cast<uint64_t>(end_ - p_)) bad("string");
    std::string s(reinterpret_cast<const char*>(p_), n);
    p_ += n;
    return s;
  }
  IRType type() { return static_cast<IRType>(Ity_INVALID + byte()); }
  RegArray descr() {
    RegArray d;
    d.base = static_cast<uint32_t>(uleb());
    d.elem = type();
    d.n = static_cast<uint32_t>(uleb());
    if (d.n == 0) bad("empty register array");
    return d;
  }
  // Bits of a restricted vector constant, each one a whole byte.
  static void spread_bits(Value& v, uint32_t bits, unsigned count) {
    for (unsigned i = 0; i < count; ++i) v.b[i] = (bits >> i) & 1 ? 0xff : 0x00;
  }
  Value constant(IRType& ty) {
    Value v;
    auto tag = static_cast<IRConstTag>(Ico_U1 + byte());
    switch (tag) {
      case Ico_U1: v.b[0] = byte() ? 1 : 0; ty = Ity_I1; break;
      case Ico_U8: v.b[0] = byte(); ty = Ity_I8; break;
      case Ico_U16: bytes(v.b, 2); ty = Ity_I16; break;
      case Ico_U32: bytes(v.b, 4); ty = Ity_I32; break;
      case Ico_U64: bytes(v.b, 8); ty = Ity_I64; break;
      case Ico_F32: bytes(v.b, 4); ty = Ity_F32; break;
      case Ico_F32i: bytes(v.b, 4); ty = Ity_F32; break;
      case Ico_F64: bytes(v.b, 8); ty = Ity_F64; break;
      case Ico_F64i: bytes(v.b, 8); ty = Ity_F64; break;
      case Ico_U128:
      case Ico_V128: {
        uint16_t bits;
        bytes(&bits, 2);
        spread_bits(v, bits, 16);
        ty = tag == Ico_U128 ? Ity_I128 : Ity_V128;
        break;
      }
      case Ico_V256: {
        uint32_t bits;
        bytes(&bits, 4);
        spread_bits(v, bits, 32);
        ty = Ity_V256;
        break;
      }
      default: bad("constant tag");
    }
    return v;
  }
  int32_t add(Expr e) {
    b_.exprs.push_back(std::move(e));
    return static_cast<int32_t>(b_.exprs.size() - 1);
  }
  uint32_t add_args(const std::vector<int32_t>& args) {
    uint32_t first = static_cast<uint32_t>(b_.arg_list.size());
    for (int32_t a : args) b_.arg_list.push_back(static_cast<uint32_t>(a));
    return first;
  }
  int32_t expr() {
    if (++depth_ > 64) bad("expression depth");
    Expr e;
    e.tag = static_cast<IRExprTag>(Iex_Binder + byte());
    std::vector<int32_t> args;
    switch (e.tag) {
      case Iex_Get:
        e.offset = static_cast<uint32_t>(uleb());
        e.ty = type();
        break;
      case Iex_GetI:
        e.descr = descr();
        args.push_back(expr());
        e.bias = static_cast<int32_t>(sleb());
        e.ty = e.descr.elem;
        break;
      case Iex_RdTmp:
        e.offset = static_cast<uint32_t>(uleb());
        if (e.offset >= b_.temps.size()) bad("temp");
        e.ty = b_.temps[e.offset];
        break;
      case Iex_Qop:
      case Iex_Triop:
      case Iex_Binop:
      case Iex_Unop: {
        e.op = static_cast<IROp>(Iop_INVALID + uleb());
        unsigned n = e.tag == Iex_Qop ? 4 : e.tag == Iex_Triop ? 3 : e.tag == Iex_Binop ? 2 : 1;
        for (unsigned i = 0; i < n; ++i) args.push_back(expr());
        e.supported = omni_op_supported(e.op) != 0;
        break;
      }
      case Iex_Load:
        byte();  // endianness: always little on amd64
        e.ty = type();
        args.push_back(expr());
        break;
      case Iex_Const: e.con = constant(e.ty); break;
      case Iex_ITE:
        for (int i = 0; i < 3; ++i) args.push_back(expr());
        break;
      case Iex_CCall: {
        e.name = str();
        e.ty = type();
        uint64_t n = uleb();
        if (n > 16) bad("call arguments");
        for (uint64_t i = 0; i < n; ++i) args.push_back(expr());
        e.supported = omni_ccall_supported(e.name.c_str()) != 0;
        break;
      }
      case Iex_VECRET:
      case Iex_GSPTR: break;
      default: bad("expression tag");
    }
    e.nargs = static_cast<uint32_t>(args.size());
    e.args = add_args(args);
    --depth_;
    return add(std::move(e));
  }
  Stmt stmt() {
    Stmt s;
    s.tag = static_cast<IRStmtTag>(Ist_NoOp + byte());
    switch (s.tag) {
      case Ist_NoOp: break;
      case Ist_IMark:
        bytes(&s.addr, 8);
        s.len = static_cast<uint32_t>(uleb());
        byte();
        break;
      case Ist_AbiHint:
        s.e[0] = expr();
        sleb();
        s.e[1] = expr();
        break;
      case Ist_Put:
        s.offset = static_cast<uint32_t>(uleb());
        s.e[0] = expr();
        break;
      case Ist_PutI:
        s.descr = descr();
        s.e[0] = expr();
        s.bias = static_cast<int32_t>(sleb());
        s.e[1] = expr();
        break;
      case Ist_WrTmp:
        s.tmp = static_cast<uint32_t>(uleb());
        if (s.tmp >= b_.temps.size()) bad("temp");
        s.e[0] = expr();
        break;
      case Ist_Store:
        byte();
        s.e[0] = expr();
        s.e[1] = expr();
        break;
      case Ist_StoreG:
        byte();
        s.e[0] = expr();
        s.e[1] = expr();
        s.e[2] = expr();
        break;
      case Ist_LoadG:
        byte();
        s.cvt = static_cast<IRLoadGOp>(ILGop_INVALID + byte());
        s.tmp = static_cast<uint32_t>(uleb());
        if (s.tmp >= b_.temps.size()) bad("temp");
        s.e[0] = expr();
        s.e[1] = expr();
        s.e[2] = expr();
        break;
      case Ist_CAS: {
        s.tmp_hi = static_cast<uint32_t>(uleb());
        s.tmp = static_cast<uint32_t>(uleb());
        if (s.tmp >= b_.temps.size() || s.tmp_hi > b_.temps.size()) bad("temp");
        byte();
        s.e[0] = expr();  // addr
        bool dbl = byte() != 0;
        if (dbl) s.e[1] = expr();  // expdHi
        s.e[2] = expr();           // expdLo
        if (dbl) s.e[3] = expr();  // dataHi
        s.e[4] = expr();           // dataLo
        break;
      }
      case Ist_LLSC:
        byte();
        s.tmp = static_cast<uint32_t>(uleb());
        if (s.tmp >= b_.temps.size()) bad("temp");
        s.e[0] = expr();
        if (byte()) s.e[1] = expr();
        break;
      case Ist_Dirty: {
        s.e[0] = expr();  // guard
        s.name = str();
        uint64_t n = uleb();
        if (n > 16) bad("dirty arguments");
        for (uint64_t i = 0; i < n; ++i) expr();  // arguments: the call is not re-run
        s.tmp = static_cast<uint32_t>(uleb());
        if (s.tmp > b_.temps.size()) bad("temp");
        s.mfx = static_cast<IREffect>(Ifx_None + byte());
        if (s.mfx != Ifx_None) {
          s.e[1] = expr();
          s.msize = static_cast<uint32_t>(uleb());
        }
        uint64_t nfx = uleb();
        if (nfx > 16) bad("fxState");
        for (uint64_t i = 0; i < nfx; ++i) {
          auto fx = static_cast<IREffect>(Ifx_None + byte());
          uint32_t offset = static_cast<uint32_t>(uleb()), size = static_cast<uint32_t>(uleb());
          uint32_t repeats = static_cast<uint32_t>(uleb()), repeat_len = static_cast<uint32_t>(uleb());
          if (fx != Ifx_Write && fx != Ifx_Modify) continue;
          if (repeats > 64 || size > 4096) bad("fxState size");
          for (uint32_t r = 0; r <= repeats; ++r) {
            uint32_t off = offset + r * repeat_len, left = size;
            while (left > 0) {
              uint32_t piece = left >= 8 ? 8 : left >= 4 ? 4 : left >= 2 ? 2 : 1;
              s.fx_pieces.emplace_back(off, piece);
              off += piece;
              left -= piece;
            }
          }
        }
        break;
      }
      case Ist_MBE: byte(); break;
      case Ist_Exit: {
        s.e[0] = expr();
        IRType ty;
        s.dst = constant(ty);
        s.jk = static_cast<IRJumpKind>(Ijk_INVALID + byte());
        s.offset = static_cast<uint32_t>(uleb());
        break;
      }
      default: bad("statement tag");
    }
    return s;
  }

  const uint8_t* p_;
  const uint8_t* end_;
  Block& b_;
  int depth_ = 0;
};

}  // namespace

Block decode_block(const uint8_t* data, size_t size, uint64_t addr) {
  Block block;
  block.addr = addr;
  Decoder(data, size, block).block();
  return block;
}

}  // namespace omni::replay
