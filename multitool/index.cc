#include <fmt/format.h>

#include <chrono>
#include <ostream>

#include "commands.h"
#include "omni/base/paths.h"
#include "omni/index/builder.h"
#include "omni/query/query.h"

namespace omni::cli {

namespace {
struct IndexArgs {
  std::string trace_dir;
  int zstd_level = 3;
  bool quiet = false;
  bool verify = false;
};
}  // namespace

Action register_index(CLI::App& app) {
  auto args = std::make_shared<IndexArgs>();
  app.description(
      "Build <TRACE_DIR>/index.db, the SQLite index queries read. Shows progress on a terminal.");
  app.add_option("trace_dir", args->trace_dir, "Trace directory (default: the latest recording)");
  app.add_option("--zstd-level", args->zstd_level, "zstd level of the indexed chunks")->check(CLI::Range(-7, 19));
  app.add_flag("-q,--quiet", args->quiet, "No summary line");
  app.add_flag("--verify", args->verify, "Then run `omni verify` on it (exit 1 on a divergence)");
  return [args](Io& io) {
    index::IndexOptions options;
    options.trace_dir = resolve_trace_dir(args->trace_dir);
    options.zstd_level = args->zstd_level;
    auto last = std::chrono::steady_clock::now();
    bool shown = false;
    auto progress = [&](const index::IndexProgress& p) {
      if (!io.err_is_terminal) return;
      auto now = std::chrono::steady_clock::now();
      if (now - last < std::chrono::milliseconds(250)) return;
      last = now;
      shown = true;
      double pct = p.trace_bytes_total ? 100.0 * p.trace_bytes_read / p.trace_bytes_total : 0;
      io.err << fmt::format("\romni: indexing {:5.1f}%  {} writes", pct, p.writes) << std::flush;
    };
    index::IndexStats stats = index::build_index(options, progress);
    if (shown) io.err << '\n';
    if (!args->quiet) {
      io.err << fmt::format("omni: indexed {} writes over {} instructions into {} ({} bytes, {:.3f} bytes/instruction)\n",
                            stats.writes, stats.instructions, options.trace_dir + "/index.db",
                            stats.index_bytes,
                            stats.instructions ? double(stats.index_bytes) / stats.instructions : 0.0);
      if (!stats.stream_complete) {
        query::Session session(options.trace_dir);
        query::RecordingEnd end = query::recording_end(session);
        io.err << "omni: warning: " << query::describe_end(end)
               << (end.how == query::RecordingEnd::How::Exec ? "; the index holds every event up to the exec\n"
                                                             : "; the index holds every event up to the cut\n");
      }
    }
    if (args->verify) return run_verify(options.trace_dir, 0, false, io);
    return 0;
  };
}

}  // namespace omni::cli
