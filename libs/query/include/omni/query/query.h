// Queries over an index, printing JSON Lines (or a table for a terminal).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <ostream>
#include <set>
#include <vector>
#include <string>

#include "omni/index/reader.h"
#include "omni/replay/memory.h"
#include "omni/replay/replay.h"
#include "omni/symbols/symbols.h"

namespace omni::query {

enum class Format { Json, Table };

class JsonObject;
// The "function", "file" and "line" keys of an answer, each null when
// unknown (also all three when `where` is null).
void location_fields(JsonObject& o, const symbols::Location* where);

// Symbols for a recording: every object of its memory map, reported at its
// recorded load bias. Not thread-safe.
class RecordingSymbols {
 public:
  explicit RecordingSymbols(index::IndexReader& reader);
  std::optional<symbols::Location> locate(uint64_t pc, uint64_t time);
  // A global/static variable by name, searched in load order (the program first).
  std::optional<symbols::Variable> find_variable(std::string_view name);
  // NAME followed by accessors (".field", "[3]", "->next"), dereferenced
  // `derefs` times: its address, size and type. Pointers are read from
  // `memory` (see symbols::Symbolizer::resolve_expression).
  struct Resolved {
    uint64_t address, size;
    std::optional<symbols::TypeInfo> type;  // none without DWARF
    std::string pointer;                    // the last pointer followed, if any
    uint64_t pointer_value = 0;
  };
  std::optional<Resolved> resolve(std::string_view name, std::string_view accessors, int derefs = 0,
                                  const symbols::PointerMemory* memory = nullptr, std::string_view expression = {});
  // The functions `name` selects (symbols::Symbolizer::find_functions) in
  // the first object, in load order, that has any.
  std::vector<symbols::FunctionMatch> find_functions(std::string_view name);
  // Why a name may be unknown: "; PROGRAM has no symbol table (stripped)..."
  // when the program (or a library) has none, to append to an error; empty
  // when every object has one.
  std::string missing_symbols_hint();
  // The object mapped at pc at `time` (a Symbolizer handle).
  std::optional<int> object_at(uint64_t pc, uint64_t time);
  symbols::Symbolizer& symbolizer() { return symbolizer_; }

 private:
  struct Object {
    index::ObjectRow row;
    int handle;
  };
  std::vector<Object> objects_;
  symbols::Symbolizer symbolizer_;
};

// A byte range named by the user: "0x4c2040", "0x4c2040:16", "4980800",
// "g_counter", "g_counter:4", "g_point.y", "g_slots[2]", "app::g_total",
// "g_p->b", "*g_p", "g_p[2].name". Pointers are followed in memory as it was
// at `time` (an expression that follows one needs `reader` and `time`).
// Throws Error for a malformed address, an unknown symbol, or a null or
// unmapped pointer.
struct Range {
  uint64_t addr;
  uint64_t length;
  std::string variable;                   // the expression, for a variable
  std::optional<symbols::TypeInfo> type;  // its DWARF type, when known
  // The last byte, saturating at the top of the address space.
  uint64_t last() const { return addr + length - 1 < addr ? UINT64_MAX : addr + length - 1; }
};
Range parse_range(const std::string& spec, RecordingSymbols& symbols, index::IndexReader* reader = nullptr,
                  std::optional<uint64_t> time = std::nullopt, std::string_view moment = {});

struct WhereWrittenQuery {
  std::string target;
  std::optional<std::string> at;     // when pointers in target are followed (default: end)
  std::optional<uint64_t> from, to;  // inclusive time bounds
  std::optional<uint64_t> last;      // only the last N matches
  bool stack = false;                // add each write's call stack ("stack")
  Format format = Format::Json;
};

// Every write that touched a byte of the target, in time order. Returns the
// number of writes printed.
uint64_t where_written(index::IndexReader& reader, const WhereWrittenQuery& query, std::ostream& out);

// System calls, in time order: {"time", "tid", "nr", "name", "args" (six
// signed integers), "result" (null when the call did not return)}.
struct SyscallsQuery {
  std::optional<std::string> name;  // only this call (e.g. "read")
  Format format = Format::Json;
};
uint64_t syscalls(index::IndexReader& reader, const SyscallsQuery& query, std::ostream& out);
std::string syscall_name(uint64_t nr);
std::optional<uint64_t> syscall_number(std::string_view name);

// Each write to stdout/stderr: {"time", "tid", "fd", "data" (hex), "text"}.
uint64_t output(index::IndexReader& reader, Format format, std::ostream& out);

// "end", "output:N" (the Nth write to stdout/stderr), "output~TEXT" (the first
// that contains TEXT), or an instruction count.
uint64_t resolve_time(index::IndexReader& reader, const std::string& at);

// {"at", "addr", "size", "data" (hex, "--" for an unmapped byte), "unmapped":
// [{"addr", "size"}]}.
// "local:NAME" reads a local variable or parameter of call-stack frame
// `frame` (0 innermost) of the thread running at `at` (or `tid`), located by
// its DWARF location against the replayed registers and the frame's CFA.
struct ReadQuery {
  std::string target;  // as for where-written, or local:NAME
  std::string at = "end";
  Format format = Format::Json;
  uint32_t frame = 0;
  std::optional<uint32_t> tid;
};
uint64_t read(index::IndexReader& reader, const ReadQuery& query, std::ostream& out);

// Registers of a thread after instruction `at`: {"at", "tid", "rip",
// "function", "file", "line", "rax".."r15", "rflags", "fs_base", "xmm0".."xmm15"
// (memory-order hex), "note" (when the thread was not running then),
// "replayed" (instructions re-executed from the nearest snapshot)}.
struct RegistersQuery {
  std::string at = "end";
  std::optional<uint32_t> tid;  // default: the thread running then
  Format format = Format::Json;
};
uint64_t registers(index::IndexReader& reader, const RegistersQuery& query, std::ostream& out);

// The call stack of a thread after instruction `at`, innermost first, from
// the recorded calls and returns: {"at", "tid", "frames": [{"pc",
// "function", "file", "line", "inline", "since" (time the frame was
// entered; null for the outermost), "tail_call", "signal"}]}. A frame a
// tail call replaced stays, marked "tail_call" (its pc is the jump; gdb
// shows it only where DWARF call-site information lets it); a signal
// handler's caller is a "<signal handler called>" frame ("pc" null,
// "signal": the number), then the interrupted frame at the interrupted pc.
struct StackQuery {
  std::string at = "end";
  std::optional<uint32_t> tid;
  Format format = Format::Json;
};
uint64_t stack(index::IndexReader& reader, const StackQuery& query, std::ostream& out);

// The function name of the frame between a signal handler and the frame it
// interrupted, as gdb names it.
inline constexpr std::string_view kSignalFrameName = "<signal handler called>";

struct StackFrame {
  uint64_t pc;                   // innermost: where the thread is; others: the call instruction
                                 // (or where a signal interrupted it); 0 for a signal frame
  std::optional<uint64_t> since; // when the frame was entered (its call's time)
  std::optional<uint64_t> cfa;   // its canonical frame address (rsp before the call)
  std::optional<uint32_t> signal;  // set: the "<signal handler called>" frame of that signal
  // The frame made a tail call (the frame before it in the list): its stack
  // frame is gone. pc is its jump instruction, 0 when unknown (an indirect
  // jump), and then function_entry says which function it was.
  bool tail_call = false;
  std::optional<uint64_t> function_entry;
};
// pc0: the innermost frame's pc when known (else replayed with `replayer`).
std::vector<StackFrame> stack_at(index::IndexReader& reader, uint64_t time, std::optional<uint32_t> tid,
                                 replay::Replayer* replayer, std::optional<uint64_t> pc0 = std::nullopt);
// The "frames" list of --stack.
std::string frames_json(const std::vector<StackFrame>& frames, RecordingSymbols& symbols, uint64_t time);

// Every call of a function, in time order: {"time" (of the call
// instruction), "end_time" (of the return; null when it had not returned
// when the recording ended), "ended" ("returned", "unwound", "replaced";
// null while open), "kind" ("call", "tail_call", "signal"), "signal", "tid",
// "function", "entry", "caller", "pc" (the call instruction), "args":
// [{"name", "type", "value"}], "return" (only for a call that returned)}.
// Arguments and the return value come from the registers replayed at entry
// and after the return, by the SysV x86-64 ABI and the function's DWARF.
struct CallsQuery {
  std::string function;  // a name, or an address
  std::optional<uint64_t> from, to, last;
  Format format = Format::Json;
};
uint64_t calls(index::IndexReader& reader, const CallsQuery& query, std::ostream& out);

// A scalar decoded by its DWARF type. None: an aggregate, or a type omni
// does not decode.
struct Scalar {
  enum class Kind { None, Signed, Unsigned, Bool, Pointer, Float, Double } kind = Kind::None;
  int64_t s = 0;   // Signed (and Enum)
  uint64_t u = 0;  // Unsigned, Bool, Pointer
  double d = 0;    // Float (a float's value, widened), Double
};
Scalar decode_scalar(const symbols::TypeInfo& type, const uint8_t* bytes, size_t size);
// As JSON: a number, true/false, "0x..." for a pointer, "nan"/"inf"/"-inf"
// strings (JSON has no such numbers), null for None.
std::string scalar_json(const Scalar& value);

// What the recording and its index hold, as text or one JSON object.
void dump(const std::string& trace_dir, bool json, std::ostream& out);

}  // namespace omni::query
