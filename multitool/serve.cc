#include <ostream>

#include "commands.h"
#include "omni/base/error.h"
#include "omni/base/paths.h"
#include "omni/gdbserver/server.h"
#include "omni/query/query.h"

namespace omni::cli {

namespace {
struct ServeArgs {
  std::string gdb;
  std::string trace_dir;
  std::optional<std::string> process;
  std::optional<int64_t> pid;
};
}  // namespace

Action register_serve(CLI::App& app) {
  auto args = std::make_shared<ServeArgs>();
  app.description(
      "Serve a recording to gdb (the GDB remote protocol, read-only): break, watch -l, continue,\n"
      "reverse-continue, stepi, reverse-stepi, bt, print, x, info registers and threads answer from the\n"
      "index, without running the program.\n"
      "  omni serve --gdb 127.0.0.1:2345 [DIR]     then in gdb: file PROGRAM; target remote 127.0.0.1:2345\n"
      "  omni serve --gdb :0                        a free port, printed on stderr");
  app.add_option("--gdb", args->gdb, "[HOST]:PORT to listen on (HOST: 127.0.0.1 unless given; PORT 0: a free one)")
      ->required();
  app.add_option("trace_dir", args->trace_dir, "Trace directory (default: the latest recording)");
  CLI::Option* process = app.add_option("--process", args->process,
                                        "The recorded process to serve: its number in `omni dump` or its program's "
                                        "name (default: process 1's last image)");
  app.add_option("--pid", args->pid, "The recorded process that had this pid")->excludes(process);
  return [args](Io& io) {
    gdbserver::ServeOptions options;
    size_t colon = args->gdb.rfind(':');
    if (colon == std::string::npos)
      throw Error(fmt::format("--gdb takes [HOST]:PORT (got '{}'), e.g. --gdb 127.0.0.1:2345", args->gdb));
    if (colon > 0) options.host = args->gdb.substr(0, colon);
    std::string port = args->gdb.substr(colon + 1);
    if (port.empty() || port.size() > 5 || port.find_first_not_of("0123456789") != std::string::npos ||
        std::stoul(port) > 65535)
      throw Error(fmt::format("--gdb's PORT must be a number from 0 to 65535 (got '{}')", port));
    options.port = uint16_t(std::stoul(port));
    query::ChosenProcess chosen = query::choose_process(resolve_trace_dir(args->trace_dir), args->process, args->pid);
    options.trace_dir = chosen.dir;
    gdbserver::serve(options, [&](const std::string& address) {
      io.err << fmt::format("omni: serving process {} ({}) to gdb on {}; in gdb: file {}; target remote {}\n",
                            chosen.process, chosen.program, address, chosen.program, address);
      io.err.flush();
    });
    return 0;
  };
}

}  // namespace omni::cli
