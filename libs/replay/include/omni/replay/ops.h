// Pure evaluation of VEX IR operations and of the amd64 guest's clean helper
// calls, as the recorded program's superblocks use them. Which operations and
// helpers are covered is fixed by omni/trace/replay_ops.h: the recorder logs
// the result of every other one, so the two must agree exactly.
#pragma once

#include <cstdint>

extern "C" {
#include "libvex_ir.h"
}

namespace omni::replay {

// One IR value of any type up to 256 bits, little-endian in b; bytes beyond
// the type's size are zero. Ity_I1 is 0 or 1 in b[0].
struct Value {
  alignas(16) uint8_t b[32] = {};
  uint64_t u64() const;
  static Value of(uint64_t v);
};

// Result of `op` applied to args (as many as the op takes; the rounding mode
// of floating-point ops is args[0], as in VEX). Throws omni::Error when op is
// not one omni_op_supported() accepts.
Value eval_op(IROp op, const Value* args, unsigned nargs);

// The IR type of `op`'s result (VEX's typeOfPrimop, which libVEX does not
// export), for the operations omni_op_supported() accepts. Throws
// omni::Error for any other.
IRType result_type(IROp op);

// Result of the clean helper `name` (amd64g_calculate_condition, ...) on
// 64-bit args. Throws omni::Error when omni_ccall_supported(name) is false.
uint64_t eval_ccall(const char* name, const uint64_t* args, unsigned nargs);

}  // namespace omni::replay
