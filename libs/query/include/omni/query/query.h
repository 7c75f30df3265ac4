// The questions omni answers about a recording. Each takes the session, its
// own options and a Sink of its record kind (records.h): it resolves what it
// was asked through the session, calls sink.begin(), then puts its records
// in time order, streaming. docs/json.md describes each record's JSON.
#pragma once

#include <cstdint>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

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

// The same about every recorded process of the recording in `trace_dir`, in
// the recording's one order across processes (each call's place when it
// was made, stream.h OMNI_EXT_SEQ), each record naming its process. Fails
// in one line when a process's recording has no such order (an older
// stream).
void syscalls_all(const std::string& trace_dir, const SyscallsQuery& query, Sink<SyscallRecord>& sink);
void output_all(const std::string& trace_dir, Sink<OutputRecord>& sink);

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

// Every time the code at a breakpoint ran, without running it: the
// executions of FUNCTION (where gdb's `break FUNCTION` stops: past its
// prologue; an indirect function's implementation the recording chose),
// FILE:LINE (every location gdb's `break FILE:LINE` has) or ADDRESS, in time
// order (replay::Executions).
struct ExecutionsQuery {
  std::string target;
  std::optional<uint64_t> from, to, last;
};
void executions(Session& session, const ExecutionsQuery& query, Sink<ExecutionRecord>& sink);

// What the recording and its index hold, as text or one JSON object.
void dump(const std::string& trace_dir, bool json, std::ostream& out);

// How the recorded program's stream ended, from the index's typed fact
// (meta ended_by; an index without it: exit when the stream is complete,
// else cut). Exec: the program's last system call was an execve that
// succeeded; the new image ran natively, unrecorded, unless continued_in
// names the recorded image that followed it.
struct RecordingEnd {
  enum class How { Exit, Exec, Cut } how = How::Cut;
  bool tampered = false;  // cut where something else used the recorder's channel
  struct Exec {
    uint64_t time;
    uint32_t tid;
    std::string call;                                // execve or execveat
    std::optional<std::string> path;                 // none: not readable in the recording
    std::optional<std::vector<std::string>> argv;    // likewise
  };
  std::optional<Exec> exec;  // How::Exec only
  // How::Exec: the recorded process (its number) that is the new image,
  // when omni followed the exec.
  std::optional<uint32_t> continued_in;
};
RecordingEnd recording_end(Session& session);
// One sentence for warnings: "the recording ends where the program called
// execve("/bin/ls", ...) at time T: the new image ran unrecorded" (or the
// process that continues it),
// or "the recording was cut short" (tampered: and where).
std::string describe_end(const RecordingEnd& end);

// A child process the program started (fork, vfork, clone or clone3 of a
// process, not a thread) with its result in the recording that omni did not
// record (omni record --no-children). In time order.
struct UnfollowedChild {
  int64_t pid;
  uint64_t time;
  uint32_t tid;
  std::string call;                // fork, vfork, clone, clone3
  std::optional<uint64_t> flags;   // clone's and clone3's flags (clone3: when readable)
};
std::vector<UnfollowedChild> unfollowed_children(Session& session);

// One recorded process of a recording (omni record follows forks; each
// process other than the root has a trace directory of its own,
// base/paths.h process_dirs). From its index when it has one, else from its
// trace file's INFO and END frames.
struct RecordedProcess {
  uint32_t process = 1;  // 1: the root
  std::string dir;
  std::optional<int64_t> pid, ppid;
  uint32_t parent = 0;   // the parent's process number; 0: none recorded
  std::string origin;    // "root" or "fork"
  std::string program;  // its path, as it was started or exec'd
  std::vector<std::string> args;
  std::string started;  // wall clock, ISO 8601, when omni record saw it start
  bool indexed = false;
  // Indexed: its write events, and its first and last place in the
  // recording's one order (its system calls' gseq numbers).
  std::optional<int64_t> events;
  std::optional<std::pair<uint64_t, uint64_t>> gseq_span;
  bool complete = false;  // the whole stream, up to its exit
  std::optional<int64_t> exit_code, signal, instructions;
  // exit_code/signal are what the parent's wait4 got (the process ended
  // without its tool's word: SIGKILL).
  bool status_from_parent = false;
  // The recorded image that followed this one's exec (0: none).
  uint32_t exec_into = 0;
  // Indexed: how its stream ended ("exit", "exec", "cut"); an "exec"
  // without exec_into ran a program unrecorded (--skip, --no-exec, setuid).
  std::string ended_by;
};
std::vector<RecordedProcess> recorded_processes(const std::string& trace_dir);

// The process a per-process question is about, as the user named it:
// `process` is a number `omni dump` shows or a program's name (its file
// name, or its path, as it was exec'd), `pid` an OS pid. A name or pid that
// several recorded processes had is an error listing them, as is one that
// none had. Neither given: process 1's last image (the program it exec'd
// last, recorded; itself when it exec'd nothing).
struct ChosenProcess {
  std::string dir;  // its trace directory
  uint32_t process = 1;
  std::optional<int64_t> pid;  // as its trace says (the root's: from its index)
  std::string program;         // the program's path as it was started
  size_t processes = 1;        // how many the recording holds
  // Chosen by default, and not process 1: process 1 exec'd it.
  bool followed_exec = false;
};
ChosenProcess choose_process(const std::string& trace_dir, const std::optional<std::string>& process,
                             std::optional<int64_t> pid);

}  // namespace omni::query
