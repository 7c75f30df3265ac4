// The questions omni answers about a recording. Each takes the session, its
// own options and a Sink of its record kind (records.h): it resolves what it
// was asked through the session, calls sink.begin(), then puts its records
// in time order, streaming. docs/json.md describes each record's JSON.
#pragma once

#include <cstdint>
#include <optional>
#include <ostream>
#include <string>

#include "omni/query/records.h"
#include "omni/query/session.h"

namespace omni::query {

// Every write that touched a byte of the target, in time order.
struct WhereWrittenQuery {
  std::string target;
  std::optional<std::string> at;     // when pointers in target are followed (default: end)
  std::optional<uint64_t> from, to;  // inclusive time bounds
  std::optional<uint64_t> last;      // only the last N matches
  bool stack = false;                // add each write's call stack
};
void where_written(Session& session, const WhereWrittenQuery& query, Sink<WriteRecord>& sink);

// System calls, in time order; `name`: only that call (e.g. "read").
struct SyscallsQuery {
  std::optional<std::string> name;
};
void syscalls(Session& session, const SyscallsQuery& query, Sink<SyscallRecord>& sink);
std::string syscall_name(uint64_t nr);
std::optional<uint64_t> syscall_number(std::string_view name);

// Each write to stdout/stderr.
void output(Session& session, Sink<OutputRecord>& sink);

// The bytes of a target at a moment. "local:NAME" reads a local variable or
// parameter of call-stack frame `frame` (0 innermost, inlined functions
// counted as --stack lists them) of the thread running at `at` (or `tid`),
// located by its DWARF location against the replayed registers and the
// frame's CFA.
struct ReadQuery {
  std::string target;  // as for where-written, or local:NAME
  std::string at = "end";
  uint32_t frame = 0;
  std::optional<uint32_t> tid;
};
void read(Session& session, const ReadQuery& query, Sink<MemoryRecord>& sink);

// A thread's registers after instruction `at` (default: the thread running then).
struct RegistersQuery {
  std::string at = "end";
  std::optional<uint32_t> tid;
};
void registers(Session& session, const RegistersQuery& query, Sink<RegistersRecord>& sink);

// A thread's call stack after instruction `at`, innermost first, from the
// recorded calls and returns. A frame a tail call replaced stays, marked
// tail_call; a signal handler's caller is a kSignalFrameName frame, then
// the interrupted frame at the interrupted pc.
struct StackQuery {
  std::string at = "end";
  std::optional<uint32_t> tid;
};
void stack(Session& session, const StackQuery& query, Sink<StackRecord>& sink);

// Every call of a function (a name: all its overloads; or an entry
// address), in time order, with arguments and return value from the
// registers replayed at entry and after the return, by the SysV x86-64 ABI
// and the function's DWARF.
struct CallsQuery {
  std::string function;
  std::optional<uint64_t> from, to, last;
};
void calls(Session& session, const CallsQuery& query, Sink<CallRecord>& sink);

// What the recording and its index hold, as text or one JSON object.
void dump(const std::string& trace_dir, bool json, std::ostream& out);

}  // namespace omni::query
