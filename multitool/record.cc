#include <fmt/format.h>

#include <cstring>
#include <ostream>

#include "commands.h"
#include "omni/recorder/record.h"

namespace omni::cli {

namespace {
// "SIGSEGV" for 11: the name a shell would print, without the description.
std::string signal_name(int sig) {
  const char* abbrev = sigabbrev_np(sig);
  return abbrev ? fmt::format("SIG{}", abbrev) : fmt::format("signal {}", sig);
}

struct RecordArgs {
  std::string output_dir;
  int zstd_level = -1;
  uint64_t snapshot_interval = recorder::kDefaultSnapshotInterval;
  bool quiet = false;
  bool no_children = false;
  bool no_exec = false;
  bool no_every_block = false;
  std::vector<std::string> skip;
};
}  // namespace

std::vector<std::string> split_program(const CLI::App& app, std::vector<std::string>& args) {
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (arg == "--") {
      std::vector<std::string> program(args.begin() + i + 1, args.end());
      args.resize(i);
      return program;
    }
    if (arg.size() < 2 || arg[0] != '-') {
      std::vector<std::string> program(args.begin() + i, args.end());
      args.resize(i);
      return program;
    }
    // An option: skip its value when it takes one and it is not attached.
    std::string name = arg.substr(0, arg.find('='));
    bool attached = name.size() != arg.size() || (arg[1] != '-' && arg.size() > 2);
    if (arg[1] != '-') name = arg.substr(0, 2);
    const CLI::Option* option = app.get_option_no_throw(name);
    if (option && option->get_items_expected_min() > 0 && !attached) ++i;
  }
  return {};
}

Action register_record(CLI::App& app, std::vector<std::string>& program) {
  auto args = std::make_shared<RecordArgs>();
  app.description(
      "Run PROGRAM under the omni recorder (Valgrind-based) and record every memory write, the\n"
      "memory map, threads and how it ended. Its stdin/stdout/stderr pass through and omni exits\n"
      "with its status (128+N for signal N).\n  omni record [OPTIONS] [--] PROGRAM [ARGS...]     e.g. omni record ./prog arg1 arg2");
  app.add_option("-o,--output", args->output_dir,
                 "Trace directory to create (default: a new one under $XDG_DATA_HOME/omni)");
  app.add_option("--zstd-level", args->zstd_level, "zstd level while recording (speed vs size)")
      ->check(CLI::Range(-7, 19));
  app.add_option("--snapshot-interval", args->snapshot_interval,
                 fmt::format("Register snapshot at least every N instructions (default {}): --registers\n"
                             "re-executes at most N, so smaller is faster to query and larger to store",
                             recorder::kDefaultSnapshotInterval))
      ->check(CLI::Range(uint64_t{1024}, uint64_t{1} << 40));
  app.add_flag("-q,--quiet", args->quiet,
               "Do not print where the recording went (printed only when stderr is a terminal)");
  app.add_flag("--no-children", args->no_children,
               "Record the first process only: forked children run unrecorded (by default each is\n"
               "recorded as a process of its own, and omni waits until the last one has exited)");
  app.add_option("--skip", args->skip,
                 "A program that runs natively, unrecorded, when exec'd (repeatable): a name (cc1) or a\n"
                 "pattern with * and ? matched against the exec'd path (/usr/lib/gcc/*)")
      ->expected(1)
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  app.add_flag("--no-exec", args->no_exec,
               "A program the recorded one execs runs natively, unrecorded (by default it is recorded\n"
               "as a new image of that process, a process of its own in `omni dump`)");
  app.add_flag("--no-every-block", args->no_every_block,
               "Log only entries into blocks of code that write memory, call or return, as omni did before\n"
               "stream version 7 (`omni query --executions` then refuses code in other blocks; the trace is\n"
               "larger, recording about 5% faster)");
  return [args, &program](Io& io) {
    recorder::RecordOptions options;
    options.command = program;
    options.output_dir = args->output_dir;
    options.zstd_level = args->zstd_level;
    options.snapshot_interval = args->snapshot_interval;
    options.follow_forks = !args->no_children;
    options.follow_exec = !args->no_exec;
    options.skip = args->skip;
    options.every_block = !args->no_every_block;
    recorder::RecordResult result = recorder::record(options);
    // Only on a terminal: elsewhere stderr carries the program's alone, byte
    // for byte (Valgrind's own messages go to the recording's valgrind.log).
    if (!args->quiet && io.err_is_terminal) {
      std::string how = result.signal ? fmt::format("killed by {}", signal_name(result.signal))
                                      : fmt::format("status {}", result.exit_status);
      std::string more = result.forked ? fmt::format(", and {} forked process{}", result.forked,
                                                     result.forked == 1 ? "" : "es")
                                       : std::string();
      io.err << fmt::format("omni: recorded to {} ({}{}); next: omni index {}\n", result.trace_dir, how, more,
                            result.trace_dir);
    }
    // Another process connected to the recording's socket; the recording is
    // whole, but the user should know. (Only on a terminal, as above.)
    if (!result.refused.empty() && io.err_is_terminal) io.err << "omni: warning: " << result.refused << "\n";
    return result.exit_status;
  };
}

}  // namespace omni::cli
