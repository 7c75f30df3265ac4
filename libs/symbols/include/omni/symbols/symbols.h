// Symbols for recorded addresses, through libdwfl: each ELF object is reported
// at the load bias it had in the recording (dwfl_report_elf), then functions
// come from dwfl_module_addrdie / the ELF symbol table and source lines from
// dwfl_module_getsrc. Results are cached per module and per address.
// Not thread-safe: one Symbolizer per thread.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace omni::symbols {

// What the recorder's memory map says about one loaded ELF object.
struct ElfInfo {
  std::string build_id;     // lowercase hex, empty if the file has none
  uint64_t first_load_vaddr;  // p_vaddr of the PT_LOAD with the lowest vaddr, page-aligned down
  uint64_t first_load_offset; // its p_offset, page-aligned down
};

// Reads the ELF headers of `path`; nullopt if it is not a readable ELF file.
std::optional<ElfInfo> read_elf_info(const std::string& path);

struct Location {
  std::string function;  // innermost function, inlined or not; empty if unknown
  std::string file;      // source file; empty if unknown
  int line = 0;          // 0 if unknown
  bool inlined = false;  // the function is an inlined instance
};

struct Variable {
  uint64_t address;  // run-time address (bias applied)
  uint64_t size;     // bytes, from the symbol's st_size (or DWARF type if 0)
};

// A DWARF type, enough to decode a scalar and to describe the rest.
struct TypeInfo {
  enum class Kind { Signed, Unsigned, Float, Bool, Pointer, Enum, Struct, Union, Array, Other };
  Kind kind = Kind::Other;
  uint64_t size = 0;
  std::string name;  // as C spells it: "long", "struct point", "int[10]", "char *"
};

// Part of a global/static variable: `name` followed by accessors such as
// ".field", "[3]", ".inner.x", "[2].y".
struct VariablePart {
  uint64_t offset;  // from the variable's first byte
  uint64_t size;
  TypeInfo type;
};

class Symbolizer {
 public:
  Symbolizer();
  ~Symbolizer();
  Symbolizer(const Symbolizer&) = delete;
  Symbolizer& operator=(const Symbolizer&) = delete;

  // Registers `path`, loaded so that run-time address = link-time address +
  // `bias`. Returns a handle for the calls below. A file that cannot be read
  // still gets a handle; lookups through it answer nullopt.
  int add_object(const std::string& path, uint64_t bias);

  // Source location of run-time address `pc` inside object `object`.
  std::optional<Location> locate(int object, uint64_t pc);

  // A global or static data object (STT_OBJECT / STT_TLS excluded) named
  // `name` in `object`, by its ELF symbol table.
  std::optional<Variable> find_variable(int object, std::string_view name);

  // The part of variable `name` that `accessors` selects, by the variable's
  // DWARF type; nullopt when `object` has no DWARF for the variable. Throws
  // Error for accessors that do not fit the type (no such field, index out of
  // bounds, not a struct or array).
  std::optional<VariablePart> resolve_expression(int object, std::string_view name,
                                                 std::string_view accessors);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace omni::symbols
