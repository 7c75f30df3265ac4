// DWARF location expressions, internal to libs/symbols: where a variable is
// in one frame at one pc, by evaluating its DW_AT_location (DW_OP_*) with
// the frame's registers, its CFA (DW_OP_call_frame_cfa) and its function's
// DW_AT_frame_base (DW_OP_fbreg). An expression is evaluated exactly or
// refused: a location this cannot follow (pieces, entry values, memory
// reads, thread-local storage) fails in one line naming the variable and why.
#pragma once

#include <elfutils/libdw.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "omni/symbols/symbols.h"

namespace omni::symbols {

// Sets local.where and, by it, local.address (Memory) or local.bytes
// (Register, Value: local.type.size of them, 8 for a type of no known size)
// for the variable whose DW_AT_location is `location`, at ctx.pc. `bias` is
// the module's DWARF bias; `frame_function` is the out-of-line function
// whose frame this is (its DW_AT_frame_base); `what` names the variable in
// messages.
void evaluate_location(Dwarf_Attribute* location, const FrameContext& ctx, Dwarf_Addr bias,
                       const std::optional<Dwarf_Die>& frame_function, const std::string& what, LocalValue& local);

// Little-endian bytes of `value`, `size` of them (sign- or zero-extended
// past 8).
std::vector<uint8_t> le_bytes(uint64_t value, uint64_t size, bool sign_extend);

}  // namespace omni::symbols
