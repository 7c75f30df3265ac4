#include <fmt/format.h>

#include <map>
#include <ostream>

#include "commands.h"
#include "omni/base/error.h"
#include "omni/index/db.h"
#include "omni/trace/container.h"
#include "omni/trace/stream.h"

namespace omni::cli {

namespace {

std::string stem_subcommand(const std::string& argv0) {
  std::string base = argv0.substr(argv0.rfind('/') + 1);
  if (base.rfind("omni-", 0) == 0) return base.substr(5);
  return {};
}

// Errors are one line, and echo what the user gave: a newline or an escape
// sequence in an argument must neither split the line nor reach the terminal.
std::string one_line(std::string_view text) {
  std::string out;
  for (unsigned char c : text) {
    if (c == '\n') out += "\\n";
    else if (c == '\t') out += "\\t";
    else if (c < 0x20 || c == 0x7f) out += fmt::format("\\x{:02x}", c);
    else out += static_cast<char>(c);
  }
  return out;
}

}  // namespace

int run(std::vector<std::string> args, Io& io) {
  if (!args.empty()) {
    std::string sub = stem_subcommand(args[0]);
    if (sub == "record" || sub == "index" || sub == "query" || sub == "dump" || sub == "verify")
      args.insert(args.begin() + 1, sub);
  }

  CLI::App app{
      "omni: an omniscient debugger. Record a program once, then ask what happened at any moment.\n\n"
      "  omni record ./prog args...                 run and record prog\n"
      "  omni index                                 index the latest recording\n"
      "  omni query --where-written g_counter       every write to a variable or address range\n"
      "  omni dump                                  what a recording and its index hold\n"
      "  omni verify                                replay the recording and check it against itself\n\n"
      "Recordings live in $XDG_DATA_HOME/omni (or ~/.local/share/omni); index, query and dump\n"
      "take a trace directory as their first argument, or use the latest recording.",
      "omni"};
  app.require_subcommand(1);
  // The versions come from the formats' owners, so they cannot go stale.
  app.set_version_flag("--version", fmt::format("omni 0.1.0 (trace file format {}, event stream {}, index format {})",
                                                trace::kContainerVersion, OMNI_STREAM_VERSION,
                                                index::kSchemaVersion));

  std::map<CLI::App*, Action> actions;
  auto add = [&](const char* name, const char* description, Action (*reg)(CLI::App&)) {
    CLI::App* sub = app.add_subcommand(name, description);
    actions[sub] = reg(*sub);
  };
  std::vector<std::string> program;
  CLI::App* record = app.add_subcommand("record", "Run a program and record every memory write it makes");
  actions[record] = register_record(*record, program);
  add("index", "Build the SQLite index of a recording (needed before queries)", register_index);
  add("query", "Ask questions about a recording; answers are JSON lines", register_query);
  add("dump", "Show what a recording and its index hold", register_dump);
  add("verify", "Self-check: replay the recording and compare it with what was recorded", register_verify);
  add("serve", "Serve a recording to gdb: continue and reverse-continue without running it", register_serve);
  add("replay", "Debug a recording in gdb, forwards and backwards (starts gdb on omni serve)", register_replay);

  // `omni [--help|--version] record OPTIONS PROGRAM ARGS...`: PROGRAM ARGS
  // are the program's, whatever they look like.
  for (size_t i = 1; i < args.size(); ++i) {
    if (args[i] == "record") {
      std::vector<std::string> rest(args.begin() + i + 1, args.end());
      program = split_program(*record, rest);
      args.resize(i + 1);
      args.insert(args.end(), rest.begin(), rest.end());
      break;
    }
    if (args[i].empty() || args[i][0] != '-') break;
  }
  std::vector<std::string> reversed(args.rbegin(), args.rend() - (args.empty() ? 0 : 1));
  try {
    app.parse(reversed);
  } catch (const CLI::CallForHelp&) {
    io.out << app.help();
    return 0;
  } catch (const CLI::CallForAllHelp&) {
    io.out << app.help("", CLI::AppFormatMode::All);
    return 0;
  } catch (const CLI::CallForVersion&) {
    io.out << app.version() << '\n';
    return 0;
  } catch (const CLI::ParseError& e) {
    // A subcommand's own --help arrives as CallForHelp thrown from it.
    if (e.get_exit_code() == 0) {
      for (CLI::App* sub : app.get_subcommands()) {
        io.out << sub->help();
        return 0;
      }
      io.out << app.help();
      return 0;
    }
    std::string what = e.what();
    if (what.empty()) what = "invalid command line";
    io.err << "omni: error: " << one_line(what) << " (see `omni --help`)\n";
    return 1;
  }

  try {
    for (CLI::App* sub : app.get_subcommands()) return actions.at(sub)(io);
    return 1;
  } catch (const Error& e) {
    io.out.flush();
    io.err << "omni: error: " << one_line(e.what()) << '\n';
    return 1;
  } catch (const std::exception& e) {
    io.out.flush();
    io.err << "omni: error: " << one_line(e.what()) << '\n';
    return 1;
  }
}

}  // namespace omni::cli
