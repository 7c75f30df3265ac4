#include <ostream>

#include "commands.h"
#include "omni/base/paths.h"
#include "omni/query/query.h"

namespace omni::cli {

namespace {
struct DumpArgs {
  std::string trace_dir;
  bool json = false;
};
}  // namespace

Action register_dump(CLI::App& app) {
  auto args = std::make_shared<DumpArgs>();
  app.description("Show what a recording and its index hold: command, exit, how the recording ended (exit, exec, cut short), sizes, threads, child processes not recorded, objects.");
  app.add_option("trace_dir", args->trace_dir, "Trace directory (default: the latest recording)");
  app.add_flag("--json", args->json, "One JSON object instead of text");
  return [args](Io& io) {
    query::dump(resolve_trace_dir(args->trace_dir), args->json, io.out);
    return 0;
  };
}

}  // namespace omni::cli
