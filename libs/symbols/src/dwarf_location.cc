// DWARF location expressions (dwarf_location.h): a stack machine over the
// DW_OP_* operations a compiler emits for variables in registers, on the
// stack or computed, with addresses relocated by the module's bias. Values
// are 64-bit; arithmetic wraps as DWARF's generic type does.
#include "dwarf_location.h"

#include <dwarf.h>

#include <functional>
#include <iterator>

#include "omni/base/error.h"

namespace omni::symbols {

namespace {

std::string register_name(uint64_t regno) {
  static constexpr const char* kNames[] = {"rax", "rdx", "rcx", "rbx", "rsi", "rdi", "rbp", "rsp", "r8",
                                           "r9",  "r10", "r11", "r12", "r13", "r14", "r15", "rip"};
  if (regno < std::size(kNames)) return kNames[regno];
  if (regno >= 17 && regno <= 32) return fmt::format("xmm{}", regno - 17);
  return fmt::format("DWARF register {}", regno);
}

// Evaluates DWARF location expressions of one frame. `what` names the
// variable in messages.
class LocationEvaluator {
 public:
  struct Result {
    LocalValue::Where where = LocalValue::Where::Memory;
    uint64_t value = 0;          // Memory: the address; Value (stack): the value
    uint64_t regno = 0;          // Register
    std::vector<uint8_t> bytes;  // Value from DW_OP_implicit_value
    bool implicit = false;
  };

  LocationEvaluator(const FrameContext& ctx, Dwarf_Addr bias, std::string what,
                    std::function<uint64_t()> frame_base)
      : ctx_(ctx), bias_(bias), what_(std::move(what)), frame_base_(std::move(frame_base)) {}

  uint64_t reg(uint64_t regno) const {
    std::optional<uint64_t> value;
    if (ctx_.reg && regno <= 0xffff) value = ctx_.reg(static_cast<int>(regno));
    if (!value)
      fail("{} lives in (or relative to) register {}, whose value is not known in this frame (pc {:#x})", what_,
           register_name(regno), ctx_.pc);
    return *value;
  }

  Result run(Dwarf_Attribute* attr, const Dwarf_Op* ops, size_t count) const {
    std::vector<uint64_t> stack;
    auto pop = [&]() {
      if (stack.empty()) fail("{}: malformed DWARF location at pc {:#x} (stack underflow)", what_, ctx_.pc);
      uint64_t value = stack.back();
      stack.pop_back();
      return value;
    };
    // Register, stack-value and implicit-value locations are complete on
    // their own; what may follow them is DW_OP_piece, which is refused.
    auto must_be_last = [&](size_t i) {
      if (i + 1 == count) return;
      if (ops[i + 1].atom == DW_OP_piece || ops[i + 1].atom == DW_OP_bit_piece) refuse_pieces();
      fail("{}: malformed DWARF location at pc {:#x} (operations after a complete location)", what_, ctx_.pc);
    };
    for (size_t i = 0; i < count; ++i) {
      const Dwarf_Op& op = ops[i];
      uint8_t atom = op.atom;
      if (atom >= DW_OP_lit0 && atom <= DW_OP_lit31) {
        stack.push_back(atom - DW_OP_lit0);
        continue;
      }
      if (atom >= DW_OP_breg0 && atom <= DW_OP_breg31) {
        stack.push_back(reg(atom - DW_OP_breg0) + op.number);
        continue;
      }
      if ((atom >= DW_OP_reg0 && atom <= DW_OP_reg31) || atom == DW_OP_regx) {
        must_be_last(i);
        Result result;
        result.where = LocalValue::Where::Register;
        result.regno = atom == DW_OP_regx ? op.number : uint64_t{atom} - DW_OP_reg0;
        return result;
      }
      switch (atom) {
        case DW_OP_addr: stack.push_back(op.number + bias_); break;
        case DW_OP_addrx:
        case DW_OP_GNU_addr_index:
        case DW_OP_constx:
        case DW_OP_GNU_const_index: {
          Dwarf_Attribute indexed;
          Dwarf_Addr address = 0;
          if (dwarf_getlocation_attr(attr, &op, &indexed) != 0 || dwarf_formaddr(&indexed, &address) != 0)
            fail("{}: cannot read the address its DWARF location refers to: {}", what_, dwarf_errmsg(-1));
          bool relocated = atom == DW_OP_addrx || atom == DW_OP_GNU_addr_index;
          stack.push_back(relocated ? address + bias_ : address);
          break;
        }
        case DW_OP_const1u:
        case DW_OP_const2u:
        case DW_OP_const4u:
        case DW_OP_const8u:
        case DW_OP_constu:
        // libdw stores the signed constants sign-extended in `number`.
        case DW_OP_const1s:
        case DW_OP_const2s:
        case DW_OP_const4s:
        case DW_OP_const8s:
        case DW_OP_consts: stack.push_back(op.number); break;
        case DW_OP_fbreg:
          if (!frame_base_)
            fail("{}: its location is relative to a frame base, but there is none here (pc {:#x})", what_, ctx_.pc);
          stack.push_back(frame_base_() + op.number);
          break;
        case DW_OP_call_frame_cfa: stack.push_back(ctx_.cfa); break;
        case DW_OP_bregx: stack.push_back(reg(op.number) + op.number2); break;
        case DW_OP_plus_uconst: stack.push_back(pop() + op.number); break;
        case DW_OP_dup: {
          uint64_t top = pop();
          stack.insert(stack.end(), {top, top});
          break;
        }
        case DW_OP_drop: pop(); break;
        case DW_OP_over:
        case DW_OP_pick: {
          uint64_t depth = atom == DW_OP_over ? 1 : op.number;
          if (depth >= stack.size()) fail("{}: malformed DWARF location at pc {:#x} (stack underflow)", what_, ctx_.pc);
          stack.push_back(stack[stack.size() - 1 - depth]);
          break;
        }
        case DW_OP_swap: {
          uint64_t a = pop(), b = pop();
          stack.insert(stack.end(), {a, b});
          break;
        }
        case DW_OP_rot: {
          uint64_t a = pop(), b = pop(), c = pop();
          stack.insert(stack.end(), {a, c, b});
          break;
        }
        case DW_OP_neg: stack.push_back(-pop()); break;
        case DW_OP_not: stack.push_back(~pop()); break;
        case DW_OP_abs: {
          auto value = static_cast<int64_t>(pop());
          stack.push_back(static_cast<uint64_t>(value < 0 ? -value : value));
          break;
        }
        case DW_OP_plus:
        case DW_OP_minus:
        case DW_OP_mul:
        case DW_OP_and:
        case DW_OP_or:
        case DW_OP_xor:
        case DW_OP_shl:
        case DW_OP_shr:
        case DW_OP_shra:
        case DW_OP_div:
        case DW_OP_mod: {
          uint64_t b = pop(), a = pop();
          stack.push_back(binary(atom, a, b));
          break;
        }
        case DW_OP_nop: break;
        case DW_OP_stack_value: {
          must_be_last(i);
          Result result;
          result.where = LocalValue::Where::Value;
          result.value = pop();
          return result;
        }
        case DW_OP_implicit_value: {
          must_be_last(i);
          Dwarf_Block block;
          if (dwarf_getlocation_implicit_value(attr, &op, &block) != 0)
            fail("{}: cannot read its DW_OP_implicit_value: {}", what_, dwarf_errmsg(-1));
          Result result;
          result.where = LocalValue::Where::Value;
          result.implicit = true;
          result.bytes.assign(block.data, block.data + block.length);
          return result;
        }
        case DW_OP_piece:
        case DW_OP_bit_piece: refuse_pieces();
        case DW_OP_entry_value:
        case DW_OP_GNU_entry_value:
          fail("{} is not available at pc {:#x}: its value there is only described as the value a register had on "
               "entry to the function (DW_OP_entry_value), which is not supported",
               what_, ctx_.pc);
        case DW_OP_deref:
        case DW_OP_deref_size:
        case DW_OP_xderef:
        case DW_OP_xderef_size:
        case DW_OP_deref_type:
        case DW_OP_GNU_deref_type:
          fail("{}: its location at pc {:#x} needs a read of memory (DW_OP_deref), which is not supported", what_,
               ctx_.pc);
        case DW_OP_form_tls_address:
        case DW_OP_GNU_push_tls_address:
          fail("{} is thread-local; thread-local variables are not supported", what_);
        case DW_OP_implicit_pointer:
        case DW_OP_GNU_implicit_pointer:
          fail("{} is an optimized-out pointer at pc {:#x} (DW_OP_implicit_pointer); not supported", what_, ctx_.pc);
        default:
          fail("{}: its location at pc {:#x} uses DWARF operation {:#04x}, which is not supported", what_, ctx_.pc,
               atom);
      }
    }
    if (stack.empty()) fail("{}: malformed DWARF location at pc {:#x} (empty stack)", what_, ctx_.pc);
    Result result;
    result.where = LocalValue::Where::Memory;
    result.value = stack.back();
    return result;
  }

 private:
  [[noreturn]] void refuse_pieces() const {
    fail("{} is split into pieces at pc {:#x} (DW_OP_piece: parts in different registers or memory); such "
         "variables are not supported",
         what_, ctx_.pc);
  }

  uint64_t binary(uint8_t atom, uint64_t a, uint64_t b) const {
    switch (atom) {
      case DW_OP_plus: return a + b;
      case DW_OP_minus: return a - b;
      case DW_OP_mul: return a * b;
      case DW_OP_and: return a & b;
      case DW_OP_or: return a | b;
      case DW_OP_xor: return a ^ b;
      case DW_OP_shl: return b >= 64 ? 0 : a << b;
      case DW_OP_shr: return b >= 64 ? 0 : a >> b;
      case DW_OP_shra: return static_cast<uint64_t>(static_cast<int64_t>(a) >> (b >= 64 ? 63 : b));
      default: break;
    }
    if (b == 0) fail("{}: malformed DWARF location at pc {:#x} (division by zero)", what_, ctx_.pc);
    if (atom == DW_OP_div) {
      if (static_cast<int64_t>(b) == -1) return -a;  // avoids INT64_MIN / -1
      return static_cast<uint64_t>(static_cast<int64_t>(a) / static_cast<int64_t>(b));
    }
    return a % b;  // DW_OP_mod is unsigned
  }

  const FrameContext& ctx_;
  Dwarf_Addr bias_;
  std::string what_;
  std::function<uint64_t()> frame_base_;
};

}  // namespace

// Little-endian bytes of `value`, `size` of them (sign- or zero-extended
// past 8).
std::vector<uint8_t> le_bytes(uint64_t value, uint64_t size, bool sign_extend) {
  std::vector<uint8_t> out(size, (sign_extend && (value >> 63) != 0) ? 0xff : 0);
  for (uint64_t i = 0; i < size && i < 8; ++i) out[i] = static_cast<uint8_t>(value >> (8 * i));
  return out;
}

void evaluate_location(Dwarf_Attribute* location, const FrameContext& ctx, Dwarf_Addr bias,
                       const std::optional<Dwarf_Die>& frame_function, const std::string& what, LocalValue& local) {
  const uint64_t dwarf_pc = ctx.pc - bias;
  // Register and computed values carry the value itself; beyond 8 bytes a
  // register read cannot hold it.
  auto value_size = [&]() -> uint64_t {
    if (local.type.size > 8)
      fail("{} is a {}-byte {} held in a register or computed at pc {:#x}; only values of up to 8 bytes are "
           "supported there",
           what, local.type.size, local.type.name, ctx.pc);
    return local.type.size == 0 ? 8 : local.type.size;
  };

  Dwarf_Op* ops = nullptr;
  size_t count = 0;
  int n = dwarf_getlocation_addr(location, dwarf_pc, &ops, &count, 1);
  if (n < 0) fail("{}: cannot read its DWARF location: {}", what, dwarf_errmsg(-1));
  if (n == 0 || count == 0) fail("{} is optimized out at pc {:#x}", what, ctx.pc);

  // DW_AT_frame_base, evaluated only when the location uses DW_OP_fbreg.
  auto frame_base = [&ctx, &what, frame_function, dwarf_pc, bias]() -> uint64_t {
    Dwarf_Die function;
    Dwarf_Attribute base_attr;
    if (frame_function) function = *frame_function;
    if (!frame_function || dwarf_attr_integrate(&function, DW_AT_frame_base, &base_attr) == nullptr)
      fail("{}: its location is relative to the frame base, but its function has none", what);
    Dwarf_Op* base_ops = nullptr;
    size_t base_count = 0;
    int found_base = dwarf_getlocation_addr(&base_attr, dwarf_pc, &base_ops, &base_count, 1);
    if (found_base <= 0 || base_count == 0)
      fail("{}: the frame base of its function is not known at pc {:#x}", what, ctx.pc);
    LocationEvaluator evaluator(ctx, bias, "the frame base of " + what, nullptr);
    auto base = evaluator.run(&base_attr, base_ops, base_count);
    switch (base.where) {
      case LocalValue::Where::Memory: return base.value;
      case LocalValue::Where::Register: return evaluator.reg(base.regno);  // the register holds the base
      case LocalValue::Where::Value:
        if (base.implicit) fail("{}: unsupported frame base (DW_OP_implicit_value)", what);
        return base.value;
    }
    return 0;
  };
  LocationEvaluator evaluator(ctx, bias, what, frame_base);
  auto result = evaluator.run(location, ops, count);
  local.where = result.where;
  switch (result.where) {
    case LocalValue::Where::Memory: local.address = result.value; break;
    case LocalValue::Where::Register: {
      uint64_t size = value_size();
      local.bytes = le_bytes(evaluator.reg(result.regno), size, false);
      break;
    }
    case LocalValue::Where::Value:
      if (result.implicit) {
        local.bytes = std::move(result.bytes);
        if (local.type.size != 0) local.bytes.resize(local.type.size, 0);
      } else {
        local.bytes = le_bytes(result.value, value_size(), false);
      }
      break;
  }
}

}  // namespace omni::symbols
