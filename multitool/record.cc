#include <fmt/format.h>

#include <ostream>

#include "commands.h"
#include "omni/recorder/record.h"

namespace omni::cli {

namespace {
struct RecordArgs {
  std::string output_dir;
  int zstd_level = -1;
  bool quiet = false;
  std::vector<std::string> command;
};
}  // namespace

Action register_record(CLI::App& app) {
  auto args = std::make_shared<RecordArgs>();
  app.description(
      "Run PROGRAM under the omni recorder (Valgrind-based) and record every memory write, the\n"
      "memory map, threads and how it ended. Its stdin/stdout/stderr pass through and omni exits\n"
      "with its status (128+N for signal N). Example: omni record ./prog arg1 arg2");
  app.add_option("-o,--output", args->output_dir,
                 "Trace directory to create (default: a new one under $XDG_DATA_HOME/omni)");
  app.add_option("--zstd-level", args->zstd_level, "zstd level while recording (speed vs size)")
      ->check(CLI::Range(-7, 19));
  app.add_flag("-q,--quiet", args->quiet,
               "Do not print where the recording went (printed only when stderr is a terminal)");
  app.add_option("command", args->command, "PROGRAM [ARGS...]");
  app.prefix_command();
  return [args, &app](Io& io) {
    recorder::RecordOptions options;
    options.command = args->command;
    for (const auto& extra : app.remaining()) options.command.push_back(extra);
    options.output_dir = args->output_dir;
    options.zstd_level = args->zstd_level;
    recorder::RecordResult result = recorder::record(options);
    // Only on a terminal: elsewhere stderr carries the program's alone.
    if (!args->quiet && io.err_is_terminal)
      io.err << fmt::format("omni: recorded to {} (status {}); next: omni index {}\n", result.trace_dir,
                            result.exit_status, result.trace_dir);
    return result.exit_status;
  };
}

}  // namespace omni::cli
