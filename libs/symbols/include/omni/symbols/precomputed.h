// Symbolizer's answers about code addresses, computed once when a recording
// is indexed and kept in its index (issue 11): a question then reads no
// DWARF for the code the recording executed, and a recording moved to a
// machine without the program's binaries or debug packages answers the
// same. This file owns the encoding of one page of such answers (the index
// stores it as an opaque, compressed and checksummed blob) and of the
// answers about one function entry.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "omni/symbols/symbols.h"

namespace omni::symbols {

// Bumped on any change to the encodings below; a decoder refuses others.
inline constexpr uint64_t kPrecomputedVersion = 1;

// `answers` sorted by pc, without duplicates.
std::string encode_code_page(const std::vector<CodeAnswer>& answers);
// Throws Error naming the index on a malformed or foreign encoding; the
// answers come back sorted by pc.
std::vector<CodeAnswer> decode_code_page(const uint8_t* data, size_t size);

// What Symbolizer answers about the function entered at `entry` (the
// questions `omni query --calls` asks of each function it reports).
struct FunctionAnswer {
  uint64_t entry = 0;
  std::vector<Parameter> params;        // Symbolizer::parameters
  std::optional<TypeInfo> return_type;  // Symbolizer::return_type
  bool returns_void = false;            // Symbolizer::returns_void
  bool clone = false;                   // Symbolizer::is_clone
};

std::string encode_functions(const std::vector<FunctionAnswer>& functions);
std::vector<FunctionAnswer> decode_functions(const uint8_t* data, size_t size);

// The answers for `entries` in `object`, by `symbolizer` (for code
// addresses: Symbolizer::code_answers).
std::vector<FunctionAnswer> compute_function_answers(Symbolizer& symbolizer, int object,
                                                     const std::vector<uint64_t>& entries);

}  // namespace omni::symbols
