#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <ostream>
#include <thread>

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
  std::string at = "0";
  bool batch = false;
  std::vector<std::string> ex;
};

// --process/--pid, and --at: the moment gdb starts at.
void add_common(CLI::App& app, ServeArgs& args) {
  app.add_option("trace_dir", args.trace_dir, "Trace directory (default: the latest recording)");
  CLI::Option* process = app.add_option("--process", args.process,
                                        "The recorded process: its number in `omni dump` or its program's name "
                                        "(default: process 1's last image)");
  app.add_option("--pid", args.pid, "The recorded process that had this pid")->excludes(process);
  app.add_option("--at", args.at,
                 "Where gdb starts: a time (instructions retired; default 0, before the first), end, output:N or "
                 "output~TEXT");
}

query::ChosenProcess chosen_of(const ServeArgs& args) {
  return query::choose_process(resolve_trace_dir(args.trace_dir), args.process, args.pid);
}

}  // namespace

Action register_serve(CLI::App& app) {
  auto args = std::make_shared<ServeArgs>();
  app.description(
      "Serve a recording to gdb (the GDB remote protocol, read-only): break, watch -l, continue,\n"
      "reverse-continue, stepi, reverse-stepi, bt, print, x, info registers and threads answer from the\n"
      "index, without running the program. `omni replay` starts gdb on it for you.\n"
      "  omni serve --gdb 127.0.0.1:2345 [DIR]     then in gdb: file PROGRAM; target remote 127.0.0.1:2345\n"
      "  omni serve --gdb :0                        a free port, printed on stderr");
  app.add_option("--gdb", args->gdb, "[HOST]:PORT to listen on (HOST: 127.0.0.1 unless given; PORT 0: a free one)")
      ->required();
  add_common(app, *args);
  return [args](Io& io) {
    std::string host = "127.0.0.1";
    size_t colon = args->gdb.rfind(':');
    if (colon == std::string::npos)
      throw Error(fmt::format("--gdb takes [HOST]:PORT (got '{}'), e.g. --gdb 127.0.0.1:2345", args->gdb));
    if (colon > 0) host = args->gdb.substr(0, colon);
    std::string port = args->gdb.substr(colon + 1);
    if (port.empty() || port.size() > 5 || port.find_first_not_of("0123456789") != std::string::npos ||
        std::stoul(port) > 65535)
      throw Error(fmt::format("--gdb's PORT must be a number from 0 to 65535 (got '{}')", port));
    query::ChosenProcess chosen = chosen_of(*args);
    query::Session session(chosen.dir);
    uint64_t start = session.moment(args->at);
    gdbserver::Listener listener(host, uint16_t(std::stoul(port)));
    io.err << fmt::format("omni: serving process {} ({}) to gdb on {}; in gdb: file {}; target remote {}\n",
                          chosen.process, chosen.program, listener.address(), chosen.program, listener.address());
    io.err.flush();
    gdbserver::serve(listener, session, start);
    return 0;
  };
}

Action register_replay(CLI::App& app) {
  auto args = std::make_shared<ServeArgs>();
  app.description(
      "Debug a recording in gdb, forwards and backwards: starts gdb on the program, connected to omni's\n"
      "server (`omni serve`), at the start of the recording or --at a moment. In gdb: break, watch -l,\n"
      "continue, reverse-continue, step, next, finish, reverse-step, bt, print, monitor when.\n"
      "  omni replay [DIR] [--at output~TEXT]");
  add_common(app, *args);
  app.add_flag("--batch", args->batch, "Run gdb in batch mode (with --ex commands; for scripts)");
  app.add_option("--ex", args->ex, "A gdb command to run after connecting (repeatable), as gdb's -ex")
      ->expected(1)
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  return [args](Io& io) {
    query::ChosenProcess chosen = chosen_of(*args);
    query::Session session(chosen.dir);
    uint64_t start = session.moment(args->at);
    gdbserver::Listener listener("127.0.0.1", 0);
    std::vector<std::string> argv = {"gdb", "-q"};
    if (args->batch) argv.push_back("-batch");
    for (std::string c : {std::string("set pagination off"), "file " + chosen.program,
                          "target remote " + listener.address()})
      argv.insert(argv.end(), {"-ex", c});
    for (const std::string& c : args->ex) argv.insert(argv.end(), {"-ex", c});
    // The server answers on a thread of this process while gdb, a child,
    // has the terminal; Ctrl-C is gdb's (this process ignores it).
    std::exception_ptr failed;
    std::thread server([&] {
      try {
        gdbserver::serve(listener, session, start);
      } catch (...) {
        failed = std::current_exception();
      }
    });
    struct sigaction ignore{}, old_int{}, old_quit{};
    ignore.sa_handler = SIG_IGN;
    sigaction(SIGINT, &ignore, &old_int);
    sigaction(SIGQUIT, &ignore, &old_quit);
    io.out.flush();
    io.err.flush();
    pid_t pid = fork();
    if (pid == 0) {
      sigaction(SIGINT, &old_int, nullptr);
      sigaction(SIGQUIT, &old_quit, nullptr);
      std::vector<char*> cargv;
      for (std::string& s : argv) cargv.push_back(s.data());
      cargv.push_back(nullptr);
      execvp("gdb", cargv.data());
      _exit(127);
    }
    int status = 0;
    if (pid > 0)
      while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
      }
    sigaction(SIGINT, &old_int, nullptr);
    sigaction(SIGQUIT, &old_quit, nullptr);
    listener.close();  // gdb may have ended without connecting
    server.join();
    if (pid < 0) throw Error("cannot start gdb: fork failed");
    if (WIFEXITED(status) && WEXITSTATUS(status) == 127)
      throw Error("cannot run gdb: is it installed? (Debian: apt-get install gdb)");
    if (failed) std::rethrow_exception(failed);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  };
}

}  // namespace omni::cli
