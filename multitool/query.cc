#include <ostream>

#include "commands.h"
#include "omni/base/error.h"
#include "omni/base/paths.h"
#include "omni/query/query.h"

namespace omni::cli {

namespace {
struct QueryArgs {
  std::string trace_dir;
  std::string where_written;
  bool syscalls = false;
  std::optional<std::string> syscall_name;
  bool output = false;
  std::string read;
  uint32_t frame = 0;
  bool registers = false;
  bool stack = false;
  std::string calls;
  std::optional<uint32_t> tid;
  std::string at = "end";
  std::optional<uint64_t> from, to, last;
  std::string format = "json";
};
}  // namespace

Action register_query(CLI::App& app) {
  auto args = std::make_shared<QueryArgs>();
  app.description(
      "Ask about a recording; answers are JSON lines on stdout (pipe to jq), in time order.\n"
      "  omni query --where-written 0x4c2040          every write that touched that byte\n"
      "  omni query --where-written 0x4c2040:16       ... any byte of a 16-byte range\n"
      "  omni query --where-written g_counter         a global/static variable by name\n"
      "  omni query --where-written g_point.y         a field (or g_table[3], an element)\n"
      "  omni query --where-written 'g_p->b' --at T   through a pointer, followed at T (default: the end)\n"
      "  omni query DIR --where-written g_counter --from 1000 --to 900000 --last 5\n"
      "  omni query --read g_config --at 5000000      memory at a moment, with type and value\n"
      "  omni query --read '*g_p' | 'g_tab[3].name' | app::g_total   gdb-style expressions, C++ names\n"
      "  omni query --read 0x4c2040:64 --at output:3  ... when the 3rd output write happened\n"
      "  omni query --read g_x --at output~total=     ... when output containing TEXT was written\n"
      "  omni query --read local:count --at T --frame 1  a local or parameter of a call-stack frame\n"
      "  omni query --registers --at 5000000 [--tid 2] rip, rsp, all GPRs, rflags, fs_base, xmm0-15\n"
      "  omni query --stack --at output:2             the call stack when the 2nd output was written\n"
      "  omni query --where-written g_counter --stack each write with the call stack at that moment\n"
      "  omni query --calls parse_header [--last 3]   every call: times in/out, caller, args, return\n"
      "  omni query --calls 'check(int, std::string const&)'   one overload (check: all of them)\n"
      "  omni query --output                          each write to stdout/stderr, with its text\n"
      "  omni query --syscalls [--name read]          every system call, args and result\n"
      "Times are instruction counts (see `omni dump`).");
  app.add_option("trace_dir", args->trace_dir, "Trace directory (default: the latest recording)");
  app.add_option("--where-written", args->where_written,
                 "ADDRESS[:LENGTH] or VARIABLE[:LENGTH]: every write to those bytes");
  app.add_flag("--syscalls", args->syscalls, "Every system call: number, name, args, result, time");
  app.add_option("--name", args->syscall_name, "With --syscalls: only this call (read, openat...)");
  app.add_flag("--output", args->output, "Each write to stdout/stderr: time, tid, fd, bytes, text");
  app.add_option("--read", args->read, "ADDRESS[:LENGTH], VARIABLE[:LENGTH] or local:NAME: the bytes at --at");
  app.add_option("--frame", args->frame, "With --read local:NAME: the call-stack frame (0 innermost, see --stack)");
  app.add_flag("--registers", args->registers, "A thread's registers at --at (re-executed from a snapshot)");
  app.add_option("--calls", args->calls, "FUNCTION (name or entry address): every call of it, with args");
  app.add_flag("--stack", args->stack, "A thread's call stack at --at, innermost first (with --where-written: each write's stack)");
  app.add_option("--tid", args->tid, "With --registers/--stack/--read local:NAME: this thread (default: the one running then)");
  CLI::Option* at = app.add_option(
      "--at", args->at,
      "With --read/--registers/--stack: a time, end (default), output:N or output~TEXT; with --where-written: when "
      "pointers in its expression (g_p->b) are followed");
  app.add_option("--from", args->from, "Only writes (or calls) at or after this time");
  app.add_option("--to", args->to, "Only writes (or calls) at or before this time");
  app.add_option("--last", args->last, "Only the last N writes (or calls)")->check(CLI::PositiveNumber);
  app.add_option("--format", args->format, "json (default) or table")
      ->check(CLI::IsMember({"json", "table"}));
  return [args, at](Io& io) {
    int modes =
        !args->where_written.empty() + args->syscalls + args->output + !args->read.empty() + args->registers + (args->stack && args->where_written.empty()) +
        !args->calls.empty();
    if (modes != 1)
      fail("{}: give one of --where-written ADDRESS, --read ADDRESS, --registers, --stack, --calls FUNCTION, --syscalls, --output (see "
           "`omni query --help`)",
           modes ? "one question at a time" : "nothing to ask");
    if (args->tid && !args->registers && !args->stack && args->read.rfind("local:", 0) != 0)
      fail("--tid goes with --registers, --stack or --read local:NAME");
    if (args->frame && args->read.rfind("local:", 0) != 0) fail("--frame goes with --read local:NAME");
    bool write_stacks = args->stack && !args->where_written.empty();
    // An option the question does not use is an error, never silently ignored.
    if (at->count() && (args->syscalls || args->output || !args->calls.empty()))
      fail("--at goes with --read, --registers, --stack or --where-written (use --from/--to to "
           "narrow --calls)");
    if (args->tid && write_stacks) fail("--tid goes with --registers, --stack or --read local:NAME");
    if (args->syscall_name && !args->syscalls) fail("--name goes with --syscalls");
    if ((args->from || args->to || args->last) && args->where_written.empty() && args->calls.empty())
      fail("--from, --to and --last go with --where-written or --calls");
    index::IndexReader reader(resolve_trace_dir(args->trace_dir));
    if (reader.meta_int("stream_complete").value_or(0) != 1)
      io.err << "omni: warning: the recording was cut short; answers cover events up to the cut\n";
    query::Format format = args->format == "table" ? query::Format::Table : query::Format::Json;
    if (args->syscalls) {
      query::syscalls(reader, {args->syscall_name, format}, io.out);
      return 0;
    }
    if (!args->read.empty()) {
      query::read(reader, {args->read, args->at, format, args->frame, args->tid}, io.out);
      return 0;
    }
    if (args->registers) {
      query::registers(reader, {args->at, args->tid, format}, io.out);
      return 0;
    }
    if (!args->calls.empty()) {
      query::calls(reader, {args->calls, args->from, args->to, args->last, format}, io.out);
      return 0;
    }
    if (args->stack && !write_stacks) {
      query::stack(reader, {args->at, args->tid, format}, io.out);
      return 0;
    }
    if (args->output) {
      query::output(reader, format, io.out);
      return 0;
    }
    query::WhereWrittenQuery q;
    q.target = args->where_written;
    if (at->count() > 0) q.at = args->at;
    q.from = args->from;
    q.to = args->to;
    q.last = args->last;
    q.stack = write_stacks;
    q.format = format;
    query::where_written(reader, q, io.out);
    return 0;
  };
}

}  // namespace omni::cli
