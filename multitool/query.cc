#include <fmt/format.h>

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
  std::string executions;
  std::optional<uint32_t> tid;
  std::optional<std::string> process;
  std::optional<int64_t> pid;
  std::string at = "end";
  std::optional<uint64_t> from, to, last;
  std::string format = "json";
};

// The options questions share; each question says which it takes.
enum Shared : unsigned {
  kAt = 1,        // --at
  kTid = 2,       // --tid
  kFrame = 4,     // --frame
  kWindow = 8,    // --from, --to, --last
  kName = 16,     // --name
  kStacks = 32,   // --stack beside the question (each answer's call stack)
  // Not an option: the answer would hold every process's events (output,
  // system calls), so unrecorded child processes are worth a warning.
  kAllProcesses = 64,
};

struct Given {
  bool at;  // --at was given (its default is "end")
};

// One question: its option, what it takes, whether it is asked, and the
// library call that answers it. Adding a question is one row here.
struct Question {
  const char* usage;  // as listed in errors: "--where-written ADDRESS"
  // Registers the question's own option (its help line beside it).
  void (*add)(CLI::App&, QueryArgs&);
  unsigned takes;
  unsigned takes_for_locals;  // also taken when --read names local:NAME
  bool (*asked)(const QueryArgs&);
  void (*answer)(const QueryArgs&, const Given&, query::Session&, query::Format, std::ostream&);
};

bool reads_local(const QueryArgs& a) { return a.read.rfind("local:", 0) == 0; }

// Asks `ask` with a printer of its record kind.
template <typename Record, typename Ask>
void print(query::Format format, std::ostream& out, Ask ask, std::string header_prefix = {}) {
  query::Printer<Record> printer(format, out, std::move(header_prefix));
  ask(printer);
}

// Whether an answer that would hold every process's events (--output,
// --syscalls) is about all of them: no process named, and the recording
// has more than one.
bool all_processes(const QueryArgs& a, query::Session& session) {
  return !a.process && !a.pid && process_dirs(session.reader().trace_dir()).size() > 1;
}
// The table's columns before each record's own in such an answer.
const std::string kProcessColumns = fmt::format("{:>4} {:>8} ", "proc", "pid");

const Question kQuestions[] = {
    {"--where-written ADDRESS",
     [](CLI::App& app, QueryArgs& a) {
       app.add_option("--where-written", a.where_written,
                      "ADDRESS[:LENGTH] or VARIABLE[:LENGTH]: every write to those bytes");
     },
     kAt | kWindow | kStacks, 0, [](const QueryArgs& a) { return !a.where_written.empty(); },
     [](const QueryArgs& a, const Given& given, query::Session& session, query::Format format, std::ostream& out) {
       query::WhereWrittenQuery q{a.where_written, given.at ? std::optional(a.at) : std::nullopt, a.from, a.to, a.last,
                                  a.stack};
       print<query::WriteRecord>(format, out, [&](auto& sink) { query::where_written(session, q, sink); });
     }},
    {"--read ADDRESS",
     [](CLI::App& app, QueryArgs& a) {
       app.add_option("--read", a.read, "ADDRESS[:LENGTH], VARIABLE[:LENGTH] or local:NAME: the bytes at --at");
     },
     kAt, kTid | kFrame, [](const QueryArgs& a) { return !a.read.empty(); },
     [](const QueryArgs& a, const Given&, query::Session& session, query::Format format, std::ostream& out) {
       print<query::MemoryRecord>(format, out,
                                  [&](auto& sink) { query::read(session, {a.read, a.at, a.frame, a.tid}, sink); });
     }},
    {"--registers",
     [](CLI::App& app, QueryArgs& a) {
       app.add_flag("--registers", a.registers, "A thread's registers at --at (re-executed from a snapshot)");
     },
     kAt | kTid, 0, [](const QueryArgs& a) { return a.registers; },
     [](const QueryArgs& a, const Given&, query::Session& session, query::Format format, std::ostream& out) {
       print<query::RegistersRecord>(format, out,
                                     [&](auto& sink) { query::registers(session, {a.at, a.tid}, sink); });
     }},
    {"--stack",
     [](CLI::App& app, QueryArgs& a) {
       app.add_flag("--stack", a.stack,
                    "A thread's call stack at --at, innermost first (with --where-written: each write's stack)");
     },
     kAt | kTid, 0, [](const QueryArgs& a) { return a.stack && a.where_written.empty(); },
     [](const QueryArgs& a, const Given&, query::Session& session, query::Format format, std::ostream& out) {
       print<query::StackRecord>(format, out, [&](auto& sink) { query::stack(session, {a.at, a.tid}, sink); });
     }},
    {"--calls FUNCTION",
     [](CLI::App& app, QueryArgs& a) {
       app.add_option("--calls", a.calls, "FUNCTION (name or entry address): every call of it, with args");
     },
     kWindow, 0, [](const QueryArgs& a) { return !a.calls.empty(); },
     [](const QueryArgs& a, const Given&, query::Session& session, query::Format format, std::ostream& out) {
       print<query::CallRecord>(format, out,
                                [&](auto& sink) { query::calls(session, {a.calls, a.from, a.to, a.last}, sink); });
     }},
    {"--executions FUNCTION|FILE:LINE|ADDRESS",
     [](CLI::App& app, QueryArgs& a) {
       app.add_option("--executions", a.executions,
                      "FUNCTION, FILE:LINE or ADDRESS: every time that code ran (where gdb's break stops)");
     },
     kWindow, 0, [](const QueryArgs& a) { return !a.executions.empty(); },
     [](const QueryArgs& a, const Given&, query::Session& session, query::Format format, std::ostream& out) {
       print<query::ExecutionRecord>(format, out, [&](auto& sink) {
         query::executions(session, {a.executions, a.from, a.to, a.last}, sink);
       });
     }},
    {"--syscalls",
     [](CLI::App& app, QueryArgs& a) {
       app.add_flag("--syscalls", a.syscalls, "Every system call: number, name, args, result, time");
     },
     kName | kAllProcesses, 0, [](const QueryArgs& a) { return a.syscalls; },
     [](const QueryArgs& a, const Given&, query::Session& session, query::Format format, std::ostream& out) {
       if (all_processes(a, session))
         print<query::SyscallRecord>(
             format, out,
             [&](auto& sink) { query::syscalls_all(session.reader().trace_dir(), {a.syscall_name}, sink); },
             kProcessColumns);
       else
         print<query::SyscallRecord>(format, out,
                                     [&](auto& sink) { query::syscalls(session, {a.syscall_name}, sink); });
     }},
    {"--output",
     [](CLI::App& app, QueryArgs& a) {
       app.add_flag("--output", a.output, "Each write to stdout/stderr: time, tid, fd, bytes, text");
     },
     kAllProcesses, 0, [](const QueryArgs& a) { return a.output; },
     [](const QueryArgs& a, const Given&, query::Session& session, query::Format format, std::ostream& out) {
       if (all_processes(a, session))
         print<query::OutputRecord>(
             format, out, [&](auto& sink) { query::output_all(session.reader().trace_dir(), sink); }, kProcessColumns);
       else
         print<query::OutputRecord>(format, out, [&](auto& sink) { query::output(session, sink); });
     }},
};

// "--tid goes with --registers, --stack or --read local:NAME": the
// questions that take `option`, from the table.
std::string takers(unsigned option) {
  std::vector<std::string> names;
  for (const Question& q : kQuestions) {
    std::string flag(std::string_view(q.usage).substr(0, std::string_view(q.usage).find(' ')));
    if (q.takes & option) names.push_back(flag);
    else if (q.takes_for_locals & option) names.push_back(flag + " local:NAME");
  }
  std::string out;
  for (size_t i = 0; i < names.size(); ++i)
    out += (i == 0 ? "" : i + 1 == names.size() ? " or " : ", ") + names[i];
  return out;
}

// The question asked, after checking that exactly one is and that every
// shared option given is one it takes: an option a question does not use
// is an error, never silently ignored.
const Question& the_question(const QueryArgs& a, const Given& given) {
  const Question* asked = nullptr;
  int count = 0;
  std::string all;
  for (const Question& q : kQuestions) {
    all += (all.empty() ? "" : ", ") + std::string(q.usage);
    if (q.asked(a)) {
      asked = &q;
      ++count;
    }
  }
  if (count != 1)
    fail("{}: give one of {} (see `omni query --help`)", count ? "one question at a time" : "nothing to ask", all);
  unsigned takes = asked->takes | (reads_local(a) ? asked->takes_for_locals : 0);
  const struct {
    unsigned option;
    bool given;
    const char* name;
  } options[] = {{kAt, given.at, "--at"},           {kTid, a.tid.has_value(), "--tid"},
                 {kFrame, a.frame != 0, "--frame"}, {kWindow, a.from.has_value(), "--from"},
                 {kWindow, a.to.has_value(), "--to"}, {kWindow, a.last.has_value(), "--last"},
                 {kName, a.syscall_name.has_value(), "--name"},
                 // --stack is a question of its own, or beside another.
                 {kStacks, a.stack && std::string_view(asked->usage) != "--stack", "--stack"}};
  for (const auto& o : options)
    if (o.given && !(takes & o.option)) fail("{} goes with {}", o.name, takers(o.option));
  return *asked;
}

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
      "  omni query --executions t.c:12 [--last 5]    every time that line ran (a breakpoint's hits)\n"
      "  omni query --output                          each write to stdout/stderr, with its text\n"
      "  omni query --syscalls [--name read]          every system call, args and result\n"
      "  omni query --process 2 --output              ... of a forked process (numbers: omni dump)\n"
      "  omni query --process wc --calls main         ask the process that ran wc (or --pid 4242)\n"
      "Times are instruction counts (see `omni dump`).");
  app.add_option("trace_dir", args->trace_dir, "Trace directory (default: the latest recording)");
  // The questions' options, in the order of their rows, then the options they share.
  for (const Question& q : kQuestions) q.add(app, *args);
  app.add_option("--name", args->syscall_name, "With --syscalls: only this call (read, openat...)");
  app.add_option("--frame", args->frame, "With --read local:NAME: the call-stack frame (0 innermost, see --stack)");
  app.add_option("--tid", args->tid, "With --registers/--stack/--read local:NAME: this thread (default: the one running then)");
  CLI::Option* at = app.add_option(
      "--at", args->at,
      "With --read/--registers/--stack: a time, end (default), output:N or output~TEXT; with --where-written: when "
      "pointers in its expression (g_p->b) are followed");
  app.add_option("--from", args->from, "Only writes (calls, executions) at or after this time");
  app.add_option("--to", args->to, "Only writes (calls, executions) at or before this time");
  app.add_option("--last", args->last, "Only the last N writes (calls, executions)")->check(CLI::PositiveNumber);
  app.add_option("--format", args->format, "json (default) or table")
      ->check(CLI::IsMember({"json", "table"}));
  CLI::Option* process = app.add_option(
      "--process", args->process,
      "Ask about this recorded process: its number in `omni dump`, or its program's name (wc, /usr/bin/wc). "
      "Default: the process omni started, as its last recorded exec left it (--process 1: as it started)");
  app.add_option("--pid", args->pid, "Ask about the recorded process that had this pid")->excludes(process);
  return [args, at](Io& io) {
    Given given{at->count() > 0};
    const Question& question = the_question(*args, given);
    std::string trace_dir = resolve_trace_dir(args->trace_dir);
    // A question about every process's events starts from the root, which
    // finds the others; any other is about one process's image.
    bool merged = (question.takes & kAllProcesses) && !args->process && !args->pid;
    query::ChosenProcess chosen;
    if (merged) chosen.dir = trace_dir;
    else chosen = query::choose_process(trace_dir, args->process, args->pid);
    query::Session session(chosen.dir);
    if (!merged && !args->process && !args->pid && chosen.processes > 1) {
      // Which of several processes the answer is about, since none was named.
      std::optional<int64_t> pid = chosen.pid ? chosen.pid : session.reader().meta_int("pid");
      io.err << fmt::format("omni: about process {} (pid {}, {}){}; the recording has {} (--process N or --pid P "
                            "picks one; `omni dump` lists them)\n",
                            chosen.process, pid ? std::to_string(*pid) : std::string("unknown"), chosen.program,
                            chosen.followed_exec ? ", the program process 1 exec'd last" : "", chosen.processes);
    }
    if (session.reader().meta_int("stream_complete").value_or(0) != 1) {
      query::RecordingEnd end = query::recording_end(session);
      // An exec that omni followed loses nothing: the rest of the process
      // is another recorded image.
      if (!(end.how == query::RecordingEnd::How::Exec && end.continued_in))
        io.err << "omni: warning: " << query::describe_end(end)
               << (end.how == query::RecordingEnd::How::Exec ? "; answers cover the program up to the exec\n"
                                                             : "; answers cover events up to the cut\n");
    }
    if (question.takes & kAllProcesses) {
      if (size_t children = query::unfollowed_children(session).size())
        io.err << fmt::format("omni: warning: {} child process{} ran unrecorded (recorded with "
                              "--no-children): {} output and system calls are not here (`omni dump` "
                              "lists {})\n",
                              children, children == 1 ? "" : "es", children == 1 ? "its" : "their",
                              children == 1 ? "it" : "them");
    }
    query::Format format = args->format == "table" ? query::Format::Table : query::Format::Json;
    question.answer(*args, given, session, format, io.out);
    io.out.flush();
    return 0;
  };
}

}  // namespace omni::cli
