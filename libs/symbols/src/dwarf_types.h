// DWARF types, internal to libs/symbols: a type DIE as C or C++ spells it
// and the TypeInfo that says how to decode a value of it.
#pragma once

#include <elfutils/libdw.h>

#include <optional>
#include <string>

#include "omni/symbols/symbols.h"

namespace omni::symbols {

// The DW_AT_type of `die` (through DW_AT_abstract_origin and
// DW_AT_specification); none: void, or no type given.
std::optional<Dwarf_Die> type_of(Dwarf_Die* die);
// Follows typedefs and qualifiers to the type that says what the bytes are.
std::optional<Dwarf_Die> strip(std::optional<Dwarf_Die> type);
// A DWARF type as C or C++ spells it ("void" for none; "?" only for a DIE
// that is no type at all).
std::string type_name(std::optional<Dwarf_Die> type);
// The name, kind and size of a declared type (its typedefs and qualifiers
// named, its kind and size those of the type under them).
TypeInfo describe(std::optional<Dwarf_Die> declared);

}  // namespace omni::symbols
