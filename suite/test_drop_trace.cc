// `omni index --drop-trace`: once indexed, trace.omni keeps only its INFO
// and END frames, every question answers exactly as before from the index
// alone, and the index cannot be built again (docs/design.md, "Disk").
#include <doctest/doctest.h>

#include <sys/stat.h>

#include <string>
#include <vector>

#include "harness.h"
#include "omni_fixture.h"

using namespace omni::test;

namespace {

// One of each kind of question; their answers before the drop are the truth
// (the suite checks them against gdb and the programs' output elsewhere).
std::vector<std::vector<std::string>> questions(const fs::path& dir, const std::string& mid) {
  const std::string d = dir.string();
  return {{"query", d, "--where-written", "g_counter"},
          {"query", d, "--read", "g_point", "--at", mid},
          {"query", d, "--registers", "--at", mid},
          {"query", d, "--stack", "--at", mid},
          {"query", d, "--calls", "fill_heap"},
          {"query", d, "--executions", "set_point"},
          {"query", d, "--syscalls"},
          {"query", d, "--output"}};
}

}  // namespace

TEST_CASE("drop trace: the index alone answers every question as before, and refuses to be built again") {
  Recording rec = record("globals");
  Object before = dump_json(rec.dir);
  const std::string mid = std::to_string(before["instructions"].i / 2);
  std::vector<std::string> answers;
  for (const auto& q : questions(rec.dir, mid)) {
    RunResult r = run_omni(q);
    INFO(r.describe());
    REQUIRE(r.status == 0);
    answers.push_back(r.out);
  }
  const auto full = fs::file_size(rec.dir / "trace.omni");
  // The recording is indexed already: its index is kept (the same file,
  // updated in place), not built again.
  struct stat built {};
  REQUIRE(stat((rec.dir / "index.db").c_str(), &built) == 0);

  RunResult ix = run_omni({"index", "--drop-trace", rec.dir.string()});
  INFO(ix.describe());
  REQUIRE(ix.status == 0);
  struct stat kept {};
  REQUIRE(stat((rec.dir / "index.db").c_str(), &kept) == 0);
  CHECK(kept.st_ino == built.st_ino);
  CHECK(ix.err.find("omni: kept " + (rec.dir / "index.db").string() + ", already built from this trace") !=
        std::string::npos);
  CHECK(ix.err.find("dropped " + std::to_string(full - fs::file_size(rec.dir / "trace.omni")) + " bytes") !=
        std::string::npos);
  CHECK(fs::file_size(rec.dir / "trace.omni") < 1024);
  const fs::perms mode = fs::status(rec.dir / "trace.omni").permissions() & fs::perms::all;
  CHECK(mode == (fs::perms::owner_read | fs::perms::owner_write));
  Object after = dump_json(rec.dir);
  CHECK(after["trace_stream_dropped"].i == static_cast<std::int64_t>(full));
  CHECK(after["trace_bytes"].i == static_cast<std::int64_t>(fs::file_size(rec.dir / "trace.omni")));
  CHECK(after["exit_code"].i == before["exit_code"].i);
  CHECK(after["recording_complete"].b);

  auto same_answers = [&] {
    auto qs = questions(rec.dir, mid);
    for (size_t i = 0; i < qs.size(); ++i) {
      CAPTURE(qs[i][2]);
      RunResult r = run_omni(qs[i]);
      INFO(r.describe());
      CHECK(r.status == 0);
      CHECK(r.out == answers[i]);
    }
  };
  same_answers();
  RunResult v = run_omni({"verify", rec.dir.string()});
  INFO(v.describe());
  CHECK(v.status == 0);

  // Built again: refused in one line, and the index it has stays.
  RunResult again = run_omni({"index", rec.dir.string()});
  check_error(again);
  CHECK(again.err.find("was dropped after it was indexed") != std::string::npos);
  same_answers();
  // Dropped again: the index is kept, and nothing is left to drop.
  const auto stub = fs::file_size(rec.dir / "trace.omni");
  RunResult twice = run_omni({"index", "--drop-trace", rec.dir.string()});
  INFO(twice.describe());
  CHECK(twice.status == 0);
  CHECK(twice.err.find("already built from this trace") != std::string::npos);
  CHECK(twice.err.find("dropped") == std::string::npos);
  CHECK(fs::file_size(rec.dir / "trace.omni") == stub);
  same_answers();
}

TEST_CASE("drop trace: an index of the trace is built again when --zstd-level asks for another") {
  Recording rec = record("globals");
  struct stat built {};
  REQUIRE(stat((rec.dir / "index.db").c_str(), &built) == 0);
  RunResult ix = run_omni({"index", "--drop-trace", "--zstd-level", "1", rec.dir.string()});
  INFO(ix.describe());
  REQUIRE(ix.status == 0);
  struct stat rebuilt {};
  REQUIRE(stat((rec.dir / "index.db").c_str(), &rebuilt) == 0);
  CHECK(rebuilt.st_ino != built.st_ino);
  CHECK(ix.err.find("omni: indexed ") != std::string::npos);
  CHECK(fs::file_size(rec.dir / "trace.omni") < 1024);
}

TEST_CASE("drop trace: a recording cut short keeps its event stream") {
  Recording rec = record("globals", {}, 0, false);
  // Cut: the END frame and the stream's tail are gone.
  const fs::path trace = rec.dir / "trace.omni";
  fs::resize_file(trace, fs::file_size(trace) * 9 / 10);
  const auto cut = fs::file_size(trace);
  RunResult ix = run_omni({"index", "--drop-trace", rec.dir.string()});
  INFO(ix.describe());
  REQUIRE(ix.status == 0);
  CHECK(ix.err.find("omni: warning: kept the event stream of " + rec.dir.string()) != std::string::npos);
  CHECK(fs::file_size(trace) == cut);
  CHECK(dump_json(rec.dir)["trace_stream_dropped"].is_null());
}
