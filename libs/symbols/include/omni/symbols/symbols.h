// Symbols for recorded addresses, through libdwfl: each ELF object is reported
// at the load bias it had in the recording (dwfl_report_elf), then functions
// come from dwfl_module_addrdie / the ELF symbol table and source lines from
// dwfl_module_getsrc. Objects are opened lazily, one at a time; results are
// cached per module and per address.
// Not thread-safe: one Symbolizer per thread.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace omni::symbols {

struct Location {
  std::string function;  // innermost function, inlined or not; empty if unknown
  std::string file;      // source file; empty if unknown
  int line = 0;          // 0 if unknown
  bool inlined = false;  // the function is an inlined instance
};

// What Symbolizer::locate and Symbolizer::inline_chain answer at `pc`.
struct CodeAnswer {
  uint64_t pc = 0;
  std::optional<Location> location;
  std::vector<Location> chain;
};

struct Variable {
  uint64_t address;  // run-time address (bias applied)
  uint64_t size;     // bytes, from the symbol's st_size (or DWARF type if 0); 0: unknown
};

// A DWARF type, enough to decode a scalar and to describe the rest.
struct TypeInfo {
  enum class Kind { Signed, Unsigned, Float, Bool, Pointer, Enum, Struct, Union, Array, Other };
  Kind kind = Kind::Other;
  uint64_t size = 0;
  std::string name;  // as C spells it: "long", "struct point", "int[10]", "char *"; C++
                     // types with their namespaces: "const std::string &"
  bool chars = false;  // a one-dimensional array of char (signed, unsigned or plain): C text
  bool by_reference = false;  // a C++ class passed by a pointer to a copy (non-trivial copy/destructor)
};

// Memory at the moment an expression is evaluated, for the pointers it
// follows ("g_p->b", "*g_p", "g_p[2]").
struct PointerMemory {
  // The 8-byte pointer at run-time address `addr`; nullopt when any of its
  // bytes was not mapped at that moment.
  std::function<std::optional<uint64_t>(uint64_t addr)> read;
  std::string moment;  // for messages: "at time 1234"
};

// What a variable expression designates: a global/static variable `name`
// followed by accessors such as ".field", "[3]", "->next", ".inner.x",
// "[2].y", then dereferenced `derefs` times ("*g_p").
struct VariablePart {
  uint64_t address;  // run-time address of the first byte
  uint64_t size;
  TypeInfo type;
  // The last pointer followed, when one was ("g_p" for "g_p->b"), and its
  // value: the part lies in memory it points to.
  std::string pointer;
  uint64_t pointer_value = 0;
};

// A function a name selects (Symbolizer::find_functions).
struct FunctionMatch {
  uint64_t entry;    // run-time entry address
  std::string name;  // the matched ELF symbol, demangled, without its @version:
                     // "check(int)", "app::scale(int)", "pthread_mutex_lock"
};

// A formal parameter of a function, in declaration order.
struct Parameter {
  std::string name;  // empty for an unnamed parameter
  TypeInfo type;
};

// What find_local needs to know about one frame of a stopped thread.
struct FrameContext {
  // The frame's pc: for the innermost frame where it stands, for the others
  // the address of the call instruction (so that it lies inside the caller).
  uint64_t pc = 0;
  // Canonical frame address: the rsp just before the call that entered this
  // function, i.e. rsp at the function's entry + 8.
  uint64_t cfa = 0;
  // x86-64 DWARF register numbers: 0 rax, 1 rdx, 2 rcx, 3 rbx, 4 rsi, 5 rdi,
  // 6 rbp, 7 rsp, 8-15 r8-r15, 16 rip, 17-32 xmm0-15 (the low 8 bytes).
  // nullopt (or an empty function) when the value is unknown for this frame.
  std::function<std::optional<uint64_t>(int dwarf_regno)> reg;
  // Which function executing at pc the frame stands for, as an index into
  // inline_chain(object, pc): 0 the innermost (an inlined instance if pc is
  // in one), up to the out-of-line function that holds them all.
  int inline_depth = 0;
};

// Where a local variable or parameter lives in one frame, and its type.
struct LocalValue {
  enum class Where {
    Memory,    // at `address`
    Register,  // in a register: `bytes` holds its value
    Value,     // no storage (a computed value or a constant): `bytes` holds it
  };
  Where where = Where::Memory;
  uint64_t address = 0;        // Where::Memory: run-time address
  std::vector<uint8_t> bytes;  // Register / Value: little-endian, type.size bytes
  TypeInfo type;
  std::string name;
};

class Symbolizer {
 public:
  Symbolizer();
  ~Symbolizer();
  Symbolizer(const Symbolizer&) = delete;
  Symbolizer& operator=(const Symbolizer&) = delete;

  // Registers `path`, loaded so that run-time address = link-time address +
  // `bias`. Returns a handle for the calls below; the same path and bias (a
  // library in each process of a recording) get the same handle. Nothing is
  // read here: the file is opened by the first call about its handle, its
  // separate debug file and its DWARF only by a call that needs them. A
  // file that cannot be read still gets a handle; lookups through it answer
  // nullopt.
  // `file`, when given, is asked at that first call which file holds the
  // object (a copy kept with the recording where `path` is gone or was
  // replaced); `path` names the object in answers either way.
  int add_object(const std::string& path, uint64_t bias, std::function<std::string()> file = {});

  // Source location of run-time address `pc` inside object `object`.
  std::optional<Location> locate(int object, uint64_t pc);

  // A global or static data object (STT_OBJECT / STT_TLS excluded) named
  // `name` in `object`, by its ELF symbol table: its symbol name (without an
  // @version) or its demangled name ("app::g_total", "g_map" for
  // "g_map[abi:cxx11]"); a global definition is preferred to a weak or local
  // one.
  std::optional<Variable> find_variable(int object, std::string_view name);

  // The part of variable `name` that `accessors` and `derefs` select, by the
  // variable's DWARF type (found by its address, so namespaced and static
  // variables get theirs); nullopt when `object` has no such variable or no
  // DWARF for it. Pointers are followed through `memory` (required only
  // when the expression has "->", "*" or a pointer's "[N]"). Throws Error
  // for accessors that do not fit the type (no such field, index out of
  // bounds, not a struct, array or pointer) and for a null pointer or one
  // whose bytes were not mapped, naming `expression` (the user's text).
  std::optional<VariablePart> resolve_expression(int object, std::string_view name, std::string_view accessors,
                                                 int derefs = 0, const PointerMemory* memory = nullptr,
                                                 std::string_view expression = {});

  // The functions (STT_FUNC or STT_GNU_IFUNC in the ELF symbol table) that
  // `name` selects in `object`, one per entry address, as a C or C++ user
  // writes it:
  //  - a symbol name, mangled or not, without its version ("pthread_mutex_lock"
  //    is glibc's "pthread_mutex_lock@@GLIBC_2.2.5", an alias of
  //    ___pthread_mutex_lock);
  //  - a demangled name without parameters ("check", "app::scale"): every
  //    overload;
  //  - a demangled name with parameters ("check(int, std::string const&)",
  //    spaces, "const T&" or "T const&" and std::string for
  //    std::__cxx11::basic_string<char...> as the user likes): that one;
  //  - failing all of those, the last components of a qualified name
  //    ("scale" for app::scale), as gdb's `break scale` finds it.
  // Global (or weak) definitions hide local ones of the same name, and a
  // default version (@@ or none) hides older ones (@). Empty when none.
  std::vector<FunctionMatch> find_functions(int object, std::string_view name);

  // The entry of the first of find_functions(object, name); nullopt if none.
  std::optional<uint64_t> find_function(int object, std::string_view name);

  // Whether `object`'s DWARF describes a function of that name (C name or
  // demangled C++ name, with or without parameters) that exists only as
  // inlined copies: an abstract instance (DW_AT_inline) and no out-of-line
  // definition with an address. Such a function is never called. Reads the
  // whole object's DWARF: for error messages, not lookups.
  bool inlined_only(int object, std::string_view name);

  // Whether the function whose entry is `entry_pc` is a compiler clone with
  // a changed signature (GCC's NAME.constprop.N, NAME.isra.N, NAME.part.N:
  // parameters removed or replaced, the value returned maybe dropped), by
  // the symbols at that address. Its DWARF describes the original function,
  // so arguments decoded by the ABI from that DWARF would be wrong.
  bool is_clone(int object, uint64_t entry_pc);

  // Where gdb stops for `break FUNCTION` of the function entered at
  // run-time address `entry_pc`: past its prologue as gdb 13 (Debian 12's)
  // places it on amd64 (breakpoints.cc says how); `entry_pc` itself without
  // a frame-pointer prologue or for GCC-optimized code.
  uint64_t breakpoint_address(int object, uint64_t entry_pc);

  // Where gdb stops for `break FILE:LINE` in `object` (FILE: a path, or a
  // path's last components, "t.c" or "src/t.c"): every is_stmt address of
  // that line, one per lexical block, each past its function's prologue
  // when in it; ascending, empty when none. `file_seen`: some line of FILE
  // has code in `object`; `later_line`: the next line of FILE with code.
  std::vector<uint64_t> line_breakpoints(int object, std::string_view file, int line, bool* file_seen,
                                         std::optional<int>* later_line);

  // Whether the function symbol at `entry_pc` is a GNU indirect function
  // (STT_GNU_IFUNC): its address is the resolver's, which returns the
  // implementation the program then calls.
  bool is_ifunc(int object, uint64_t entry_pc);

  // Whether `object` has a symbol table (.symtab, in the file or in its
  // separate debug file): without one only its exported (dynamic) symbols
  // have names. False for an object that cannot be read.
  bool has_symbol_table(int object);

  // The formal parameters, in order, of the function (DW_TAG_subprogram)
  // containing run-time address `entry_pc` (normally its entry address, as
  // find_function gives it). Empty when there is no DWARF for it.
  std::vector<Parameter> parameters(int object, uint64_t entry_pc);

  // That function's return type; nullopt for void or without DWARF.
  std::optional<TypeInfo> return_type(int object, uint64_t entry_pc);

  // Whether DWARF describes that function as returning nothing (void).
  bool returns_void(int object, uint64_t entry_pc);

  // Whether that function takes variable arguments (`...`); false when there
  // is no DWARF for it.
  bool is_variadic(int object, uint64_t entry_pc);

  // The functions executing at run-time address `pc`, innermost first: each
  // inlined instance containing pc (inlined = true), then the function that
  // holds them (inlined = false). The first entry's file/line are those of
  // pc; each further entry's are those of the call site (DW_AT_call_file /
  // DW_AT_call_line) of the entry before it. Without DWARF: locate(object,
  // pc) alone when that names a function, else empty.
  std::vector<Location> inline_chain(int object, uint64_t pc);

  // locate() and inline_chain() of each of `pcs` (ascending), the same
  // answers computed for many addresses at once: the DWARF scopes are
  // looked up once per run of addresses with the same innermost scope, and
  // only the line table per address, and the ELF symbol once per run of
  // addresses between symbol and section bounds. Kept per object: another
  // process's call with the same object computes only new addresses.
  std::vector<CodeAnswer> code_answers(int object, const std::vector<uint64_t>& pcs);

  // The local variable or parameter `name` visible at ctx.pc in function
  // ctx.inline_depth of the inline chain (innermost lexical scope first, out
  // to that function's own locals and parameters), its DWARF location
  // evaluated in `ctx`. nullopt when no such name is in scope (or there is
  // no DWARF for ctx.pc, or no such inline depth). Throws Error when the variable
  // is optimized out at ctx.pc, or its location needs a register ctx does
  // not know or a DWARF operation this evaluator does not support
  // (DW_OP_piece, DW_OP_entry_value, DW_OP_deref, thread-local storage...).
  std::optional<LocalValue> find_local(int object, std::string_view name, const FrameContext& ctx);

  // Names of the locals and parameters visible at run-time address `pc` in
  // function `inline_depth` of its inline chain, in the order find_local
  // searches them (innermost scope first); empty when there is no DWARF for
  // pc.
  std::vector<std::string> local_names(int object, uint64_t pc, int inline_depth = 0);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace omni::symbols
