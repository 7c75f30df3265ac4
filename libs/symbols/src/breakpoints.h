// Where gdb puts a breakpoint (`break FUNCTION`, `break FILE:LINE`), so that
// omni's "executions" of a function or line are gdb's stops. Private to
// libs/symbols; Symbolizer::breakpoint_address and line_breakpoints call it.
#pragma once

#include <elfutils/libdwfl.h>

#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

namespace omni::symbols {

// gdb's address for `break *FUNCTION`'s post-prologue stop of the function
// entered at run-time address `entry` (gdb 13, amd64).
uint64_t gdb_function_breakpoint(Dwfl_Module* module, uint64_t entry);

// gdb's locations of `break FILE:LINE` in this module (run-time addresses,
// ascending); empty when no line table entry of that file has that line.
// `later_line`: the next line of that file with code, when there is one.
std::vector<uint64_t> gdb_line_breakpoints(Dwfl_Module* module, std::string_view file, int line,
                                           std::optional<int>* later_line, bool* file_seen);

}  // namespace omni::symbols
