#include <fmt/format.h>

#include <sys/stat.h>

#include <chrono>
#include <functional>
#include <map>
#include <optional>
#include <ostream>

#include "commands.h"
#include "omni/base/error.h"
#include "omni/base/paths.h"
#include "omni/index/builder.h"
#include "omni/index/files.h"
#include "omni/query/query.h"
#include "omni/query/session.h"

namespace omni::cli {

namespace {
struct IndexArgs {
  std::string trace_dir;
  int zstd_level = 3;
  bool quiet = false;
  bool verify = false;
  bool no_symbols = false;
  bool no_files = false;
  bool drop_trace = false;
  CLI::Option* zstd_level_option = nullptr;
};

}  // namespace

Action register_index(CLI::App& app) {
  auto args = std::make_shared<IndexArgs>();
  app.description(
      "Build <TRACE_DIR>/index.db, the SQLite index queries read, and one for every other recorded\n"
      "process (<TRACE_DIR>/processes/N/index.db). Shows progress on a terminal.");
  app.add_option("trace_dir", args->trace_dir, "Trace directory (default: the latest recording)");
  args->zstd_level_option =
      app.add_option("--zstd-level", args->zstd_level, "zstd level of the indexed chunks")->check(CLI::Range(-7, 19));
  app.add_flag("-q,--quiet", args->quiet, "No summary line");
  app.add_flag("--no-symbols", args->no_symbols,
               "Do not precompute the symbols of the code the recording ran (questions then read each\n"
               "object's DWARF, and need the program's files)");
  app.add_flag("--no-files", args->no_files,
               "Do not keep copies of the recorded ELF objects (the program and its libraries) in\n"
               "<TRACE_DIR>/files/ (replay and symbols then need them where they were recorded)");
  app.add_flag("--drop-trace", args->drop_trace,
               "Once indexed, keep only the header of <TRACE_DIR>/trace.omni (its INFO and END frames):\n"
               "the index answers every question without the event stream, in about half the disk, but\n"
               "can never be built again (not after an omni upgrade that changes the index format\n"
               "either). A process whose recording was cut short keeps its stream. An index already\n"
               "built from the trace (with its symbols, and no --zstd-level given) is kept, not built again");
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
    // One symbolizer for every process: a library's DWARF is read once.
    symbols::Symbolizer symbolizer;
    // The copies made for earlier processes, hard-linked for later ones.
    std::map<std::string, std::string> copies_made;
    index::FileCopies copies;
    uint64_t dropped = 0;  // bytes of event streams dropped (--drop-trace)
    size_t kept_indexes = 0;  // current indexes --drop-trace kept instead of building
    // The index, then the symbols of the code it ran (query::precompute_symbols).
    auto build = [&](const index::IndexOptions& each, const std::function<void(const index::IndexProgress&)>& shows) {
      // Dropping the stream of a recording indexed already needs no new
      // index (and one whose stream is dropped cannot be built at all).
      std::optional<index::IndexStats> current;
      if (args->drop_trace && args->zstd_level_option->count() == 0)
        current = index::current_index(each.trace_dir, !args->no_symbols);
      if (current) ++kept_indexes;
      index::IndexStats s = current ? *current : index::build_index(each, shows);
      // The index is complete without them: a failure (a full disk) costs
      // answers once the files are gone, not answers now.
      if (!args->no_files) try {
          index::FileCopies c =
              index::copy_recorded_files(each.trace_dir, index::IndexReader(each.trace_dir).objects(), copies_made);
          copies.files += c.files;
          copies.bytes += c.bytes;
          copies.missing += c.missing;
        } catch (const Error& e) {
          io.err << fmt::format("omni: warning: the recorded files of {} were not copied into it ({})\n",
                                each.trace_dir, e.what());
        }
      // The index is complete without them: a failure costs speed (and
      // answers once the binaries are gone), not answers.
      if (!args->no_symbols && !current) try {
          query::precompute_symbols(each.trace_dir, each.zstd_level, symbolizer);
        } catch (const Error& e) {
          io.err << fmt::format("omni: warning: the symbols of {} were not precomputed ({}); questions read the "
                                "binaries' debug information instead\n",
                                each.trace_dir, e.what());
        }
      // Last: everything above may still read the trace.
      if (args->drop_trace) try {
          dropped += index::drop_trace_stream(each.trace_dir);
        } catch (const Error& e) {
          io.err << fmt::format("omni: warning: kept the event stream of {} ({})\n", each.trace_dir, e.what());
        }
      struct stat st;
      if (stat((each.trace_dir + "/index.db").c_str(), &st) == 0) s.index_bytes = static_cast<uint64_t>(st.st_size);
      return s;
    };
    index::IndexStats stats = build(options, progress);
    const bool main_kept = kept_indexes > 0;
    if (shown) io.err << '\n';
    shown = false;
    if (!args->quiet) {
      std::string kept;
      if (copies.files)
        kept = fmt::format("; kept {} file{} it mapped ({} bytes) in {}/files", copies.files,
                           copies.files == 1 ? "" : "s", copies.bytes, options.trace_dir);
      if (copies.missing)
        kept += fmt::format("; {} file{} changed or gone since the recording, not kept", copies.missing,
                            copies.missing == 1 ? "" : "s");
      if (dropped)
        kept += fmt::format("; dropped {} bytes of trace.omni's event stream (the index alone answers, and "
                            "cannot be built again)",
                            dropped);
      const double per_instruction = stats.instructions ? double(stats.index_bytes) / stats.instructions : 0.0;
      if (main_kept)
        io.err << fmt::format("omni: kept {}, already built from this trace ({} writes over {} instructions, {} bytes, "
                              "{:.3f} bytes/instruction){}\n",
                              options.trace_dir + "/index.db", stats.writes, stats.instructions, stats.index_bytes,
                              per_instruction, kept);
      else
        io.err << fmt::format("omni: indexed {} writes over {} instructions into {} ({} bytes, {:.3f} bytes/instruction){}\n",
                              stats.writes, stats.instructions, options.trace_dir + "/index.db", stats.index_bytes,
                              per_instruction, kept);
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
      index::IndexStats s = build(each, [&](const index::IndexProgress&) {
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
                            "instructions, {} bytes{}{}{}\n",
                            processes.size() - 1, processes.size() == 2 ? "" : "es", forked.writes,
                            forked.instructions, forked.index_bytes,
                            forked_exec ? fmt::format(", {} ended by an exec not recorded",
                                                      forked_exec)
                                        : "",
                            forked_incomplete ? fmt::format(", {} cut short", forked_incomplete) : "",
                            kept_indexes > size_t{main_kept}
                                ? fmt::format("; kept {} already built", kept_indexes - size_t{main_kept})
                                : "");
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
