// The multitool's subcommands. Each registers its options on a CLI11 app and
// runs by calling one library function; main() registers them explicitly.
#pragma once

#include <CLI/CLI.hpp>

#include <cstdint>
#include <functional>
#include <iosfwd>
#include <string>
#include <vector>

namespace omni::cli {

// Where a subcommand writes; tests inject string streams.
struct Io {
  std::ostream& out;
  std::ostream& err;
  bool err_is_terminal;
};

// A registered subcommand's action, run after parsing; returns the exit status.
using Action = std::function<int(Io&)>;

// `program` receives PROGRAM and its arguments, which run() splits off the
// command line before CLI11 parses it (see split_program).
Action register_record(CLI::App& app, std::vector<std::string>& program);
Action register_index(CLI::App& app);
Action register_query(CLI::App& app);
Action register_dump(CLI::App& app);
Action register_verify(CLI::App& app);
Action register_serve(CLI::App& app);
Action register_replay(CLI::App& app);

// `omni verify`'s work, also run by `omni index --verify`: the summary line
// on io.err (JSON on io.out), or the first divergence thrown as an Error.
int run_verify(const std::string& trace_dir, uint64_t sample, bool json, Io& io);

// Splits `args` (what follows "record") at PROGRAM: the first argument that is
// neither one of `app`'s options nor an option's value, or what follows a
// `--`. Returns PROGRAM and its arguments, leaving omni's options in `args`.
// CLI11 alone would parse options after PROGRAM as omni's, or hand a `--` back
// to the parent command.
std::vector<std::string> split_program(const CLI::App& app, std::vector<std::string>& args);

// The whole command line: parses `args` (args[0] is the program name, whose
// stem may name the subcommand, e.g. "omni-query") and runs it. Errors are
// printed as one line "omni: error: ..." on io.err, returning 1.
int run(std::vector<std::string> args, Io& io);

}  // namespace omni::cli
