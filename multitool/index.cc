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
      "Build <TRACE_DIR>/index.db, the SQLite index queries read, and one for every other recorded\n"
      "process (<TRACE_DIR>/processes/N/index.db). Shows progress on a terminal.");
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
    std::vector<ProcessDir> processes = process_dirs(options.trace_dir);
    index::IndexStats stats = index::build_index(options, progress);
    if (shown) io.err << '\n';
    shown = false;
    if (!args->quiet) {
      io.err << fmt::format("omni: indexed {} writes over {} instructions into {} ({} bytes, {:.3f} bytes/instruction)\n",
                            stats.writes, stats.instructions, options.trace_dir + "/index.db",
                            stats.index_bytes,
                            stats.instructions ? double(stats.index_bytes) / stats.instructions : 0.0);
      query::RecordingEnd end;
      if (!stats.stream_complete) {
        query::Session session(options.trace_dir);
        end = query::recording_end(session);
      }
      if (!stats.stream_complete && !(end.how == query::RecordingEnd::How::Exec && end.continued_in)) {
        io.err << "omni: warning: " << query::describe_end(end)
               << (end.how == query::RecordingEnd::How::Exec ? "; the index holds every event up to the exec\n"
                                                             : "; the index holds every event up to the cut\n");
      }
    }
    // Every other recorded process: an index of its own, in its directory.
    index::IndexStats forked;
    size_t forked_incomplete = 0, forked_exec = 0;
    for (size_t i = 1; i < processes.size(); ++i) {
      index::IndexOptions each = options;
      each.trace_dir = processes[i].dir;
      index::IndexStats s = index::build_index(each, [&](const index::IndexProgress&) {
        if (!io.err_is_terminal) return;
        auto now = std::chrono::steady_clock::now();
        if (now - last < std::chrono::milliseconds(250)) return;
        last = now;
        shown = true;
        io.err << fmt::format("\romni: indexing process {} of {}", i + 1, processes.size()) << std::flush;
      });
      forked.writes += s.writes;
      forked.instructions += s.instructions;
      forked.index_bytes += s.index_bytes;
      if (!s.stream_complete) {
        query::Session session(each.trace_dir);
        query::RecordingEnd end = query::recording_end(session);
        if (end.how != query::RecordingEnd::How::Exec) ++forked_incomplete;
        else if (!end.continued_in) ++forked_exec;
      }
    }
    if (shown) io.err << '\n';
    if (!args->quiet && processes.size() > 1)
      io.err << fmt::format("omni: indexed {} more process{} (forked or exec'd; `omni dump` lists them): {} writes over {} "
                            "instructions, {} bytes{}{}\n",
                            processes.size() - 1, processes.size() == 2 ? "" : "es", forked.writes,
                            forked.instructions, forked.index_bytes,
                            forked_exec ? fmt::format(", {} ended by an exec not recorded",
                                                      forked_exec)
                                        : "",
                            forked_incomplete ? fmt::format(", {} cut short", forked_incomplete) : "");
    if (args->verify) {
      for (const ProcessDir& p : processes) {
        // A process killed before its tool handed anything over holds no
        // instruction to replay.
        if (p.process != 1 && query::Session(p.dir).reader().meta_int("instructions").value_or(0) == 0) {
          io.err << fmt::format("omni: process {} recorded no instructions (killed at its start): nothing to "
                                "verify\n",
                                p.process);
          continue;
        }
        if (int rc = run_verify(p.dir, 0, false, io); rc != 0) return rc;
      }
    }
    return 0;
  };
}

}  // namespace omni::cli
