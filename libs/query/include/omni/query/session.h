// One query session: the index reader, the symbols of every recorded object,
// the replayer and the memory reader it loads through, with their caches,
// for the life of one command (or one debugger connection); and the things
// every question resolves the same way: a moment, a thread at a moment, a
// target (an address, a variable or an expression). Not thread-safe.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "omni/index/reader.h"
#include "omni/replay/memory.h"
#include "omni/replay/replay.h"
#include "omni/replay/stack.h"
#include "omni/symbols/precomputed.h"
#include "omni/symbols/symbols.h"

namespace omni::query {

// Symbols for a recording: every object of its memory map, reported at its
// recorded load bias. What the index precomputed (precompute_symbols) for
// the code the recording ran is answered from the index; anything else
// (another address, variables, types, names) from the objects' files. Not
// thread-safe; the reader must outlive it.
class RecordingSymbols {
 public:
  explicit RecordingSymbols(index::IndexReader& reader);
  // Symbolizer::locate and Symbolizer::inline_chain of a handle (object_at,
  // object_holding), precomputed when the index has them.
  std::optional<symbols::Location> locate_in(int object, uint64_t pc);
  std::vector<symbols::Location> inline_chain(int object, uint64_t pc);
  // What --calls asks of the function entered at `entry` in `object`.
  symbols::FunctionAnswer function_answer(int object, uint64_t entry);
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
  // The functions `name` selects in every object, in load order, each with
  // its object (a Symbolizer handle): gdb's locations of `break NAME`.
  std::vector<std::pair<symbols::FunctionMatch, int>> find_functions_everywhere(std::string_view name);
  // Why a name may be unknown: "; PROGRAM has no symbol table (stripped)..."
  // when the program (or a library) has none, to append to an error; empty
  // when every object has one.
  std::string missing_symbols_hint();
  // The path of the first object, in load order, whose DWARF has `name`
  // only as inlined copies (Symbolizer::inlined_only); empty when none.
  std::string inlined_only(std::string_view name);
  // The object mapped at pc at `time` (a Symbolizer handle).
  std::optional<int> object_at(uint64_t pc, uint64_t time);
  // The first object, in load order, mapped at pc at some time of the recording.
  std::optional<int> object_holding(uint64_t pc);
  // gdb's locations of `break FILE:LINE` in every object
  // (Symbolizer::line_breakpoints), ascending.
  std::vector<uint64_t> line_breakpoints(std::string_view file, int line, bool* file_seen,
                                         std::optional<int>* later_line);
  // The functions executing at pc, innermost first: inlined instances, then
  // the function that holds them (empty when nothing is known).
  std::vector<symbols::Location> functions_at(uint64_t pc, uint64_t time);
  symbols::Symbolizer& symbolizer() { return symbolizer_; }

 private:
  struct Object {
    index::ObjectRow row;
    int handle;
  };
  // The first object row of `handle` (a Symbolizer handle) whose range
  // holds pc; null when none.
  const Object* row_of(int handle, uint64_t pc) const;
  // The precomputed answer at pc in the first object row of `handle`
  // holding pc; null when the index has none.
  const symbols::CodeAnswer* precomputed(int handle, uint64_t pc);
  index::IndexReader& reader_;
  bool has_precomputed_;
  std::vector<Object> objects_;
  std::map<std::pair<int64_t, uint64_t>, std::vector<symbols::CodeAnswer>> pages_;  // by object id, page
  std::map<int64_t, std::vector<symbols::FunctionAnswer>> functions_;                 // by object id, by entry
  symbols::Symbolizer symbolizer_;
};

// Computes the symbols of every address the recording in `trace_dir`
// translated and of every function it called (RecordingSymbols answers
// them without DWARF) and stores them in its index
// (index::store_symbols). `symbolizer` may be shared between the processes
// of a recording: each object's DWARF is then read once.
struct PrecomputeStats {
  uint64_t addresses = 0, functions = 0, bytes = 0;
};
PrecomputeStats precompute_symbols(const std::string& trace_dir, int zstd_level, symbols::Symbolizer& symbolizer);

// A byte range named by the user: "0x4c2040", "0x4c2040:16", "4980800",
// "g_counter", "g_counter:4", "g_point.y", "g_slots[2]", "app::g_total",
// "g_p->b", "*g_p", "g_p[2].name".
struct Range {
  uint64_t addr;
  uint64_t length;
  std::string variable;                   // the expression, for a variable
  std::optional<symbols::TypeInfo> type;  // its DWARF type, when known
  // The last byte, saturating at the top of the address space.
  uint64_t last() const { return addr + length - 1 < addr ? UINT64_MAX : addr + length - 1; }
};

// A physical stack frame with the functions executing in it, innermost
// first (inlined instances, then the function holding them; one empty
// Location when nothing is known), and `where`: what symbols say of its pc
// (of function_entry for a tail call from an unknown jump).
struct FrameRecord {
  replay::StackFrame frame;
  std::vector<symbols::Location> functions;
  std::optional<symbols::Location> where;
};

// The function name of the frame between a signal handler and the frame it
// interrupted, as gdb names it.
inline constexpr std::string_view kSignalFrameName = "<signal handler called>";

class Session {
 public:
  // Opens the index of the recording in `trace_dir`.
  explicit Session(const std::string& trace_dir);
  ~Session();

  index::IndexReader& reader() { return *reader_; }
  // Built on first use: questions about system calls or output never read
  // an object's symbols.
  RecordingSymbols& symbols();
  replay::Replayer& replayer();
  // The replayer's memory reader: one address space and chunk cache for
  // every read of the session.
  replay::MemoryReader& memory();

  // "end", "output:N" (the Nth write to stdout/stderr), "output~TEXT" (the
  // first that contains TEXT), or an instruction count; a one-line error
  // for anything else or a time past the end.
  uint64_t moment(const std::string& at);
  // `tid` (an error naming the recording's threads when it has none such),
  // else the thread running at `time`.
  uint32_t thread(std::optional<uint32_t> tid, uint64_t time);
  // The bytes `spec` names; pointers in an expression are followed in
  // memory as it was at `time` (`moment` says when that is in errors:
  // default "at time T"). Throws Error for a malformed address, an unknown
  // symbol, or a null or unmapped pointer.
  Range target(const std::string& spec, uint64_t time, std::string_view moment = {});
  // The call stack of `tid` after `time` (see replay::stack_at), with each
  // frame's functions. In a forked process the frames entered before the
  // fork come from its parent's recording (their `since` is null: they
  // began before this process's time 0).
  std::vector<replay::StackFrame> stack(uint64_t time, uint32_t tid, std::optional<uint64_t> pc0 = std::nullopt);
  std::vector<FrameRecord> describe(const std::vector<replay::StackFrame>& frames, uint64_t time);

 private:
  // A forked process's frames that were entered before its fork: its
  // parent's stack at the fork (the parent's session, recursively for a
  // chain of forks). Empty for any other process. Built on first use.
  const std::vector<replay::StackFrame>& frames_before_fork();

  std::unique_ptr<index::IndexReader> reader_;
  std::unique_ptr<RecordingSymbols> symbols_;
  std::unique_ptr<replay::Replayer> replayer_;
  std::optional<std::vector<replay::StackFrame>> before_fork_;
};

}  // namespace omni::query
