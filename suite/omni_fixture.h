// doctest-level helpers for the end-to-end tests: run omni's executables and
// check the parts of the contract every test relies on.
#pragma once

#include <doctest/doctest.h>
#include <sys/stat.h>

#include <algorithm>
#include <string>
#include <vector>

#include "harness.h"

namespace omni::test {

inline const std::vector<std::string> kSubcommands = {"record", "index", "query", "dump", "verify"};

// Runs `<build>/bin/omni ARGS...` (or the named executable).
inline RunResult run_omni(const std::vector<std::string>& args, const RunOptions& opts = {},
                      const std::string& exe = "omni") {
  REQUIRE_MESSAGE(fs::exists(bin(exe)), "omni executable missing: " << bin(exe));
  std::vector<std::string> argv = {bin(exe).string()};
  argv.insert(argv.end(), args.begin(), args.end());
  return run(argv, opts);
}

// One recording of a subject, in a private temp dir: <tmp>/trace.
struct Recording {
  TempDir tmp;
  fs::path prog;
  fs::path dir;
  RunResult rec;
};

// `omni record -o <tmp>/trace -- <subject> ARGS...`; REQUIREs the expected exit
// status, then (if `index`) `omni index DIR` with exit 0.
inline Recording record(const std::string& subject_name, const std::vector<std::string>& args = {},
                        int expect_status = 0, bool index = true) {
  Recording r{TempDir(), subject(subject_name), {}, {}};
  REQUIRE_MESSAGE(fs::exists(r.prog), "test subject missing: " << r.prog);
  REQUIRE_MESSAGE(fs::exists(bin("omni")), "omni executable missing: " << bin("omni"));
  r.dir = r.tmp / "trace";
  std::vector<std::string> a = {"record", "-o", r.dir.string(), "--", r.prog.string()};
  a.insert(a.end(), args.begin(), args.end());
  r.rec = run_omni(a);
  INFO("omni record of ", subject_name, ": ", r.rec.describe());
  REQUIRE_FALSE(r.rec.timed_out);
  REQUIRE(r.rec.status == expect_status);
  REQUIRE(fs::is_directory(r.dir));
  if (index) {
    RunResult ix = run_omni({"index", r.dir.string()});
    INFO("omni index: ", ix.describe());
    REQUIRE(ix.status == 0);
    REQUIRE(fs::is_regular_file(r.dir / "index.db"));
  }
  return r;
}

// `omni record OPTIONS... -o DIR -- /bin/gzip -c` of `lines` lines of text
// written into TMP (a real program's recording, with thousands of
// translations and snapshots), then `omni index -q DIR`; returns DIR
// (TMP/trace).
inline fs::path record_gzip_of_text(const fs::path& tmp, int lines, const std::vector<std::string>& options = {}) {
  std::string text;
  for (int i = 0; i < lines; ++i) text += "line " + std::to_string(i * 7919 % 1000) + " of some text to compress\n";
  write_file(tmp / "input.txt", text);
  fs::path dir = tmp / "trace";
  std::vector<std::string> args = {"record"};
  args.insert(args.end(), options.begin(), options.end());
  args.insert(args.end(), {"-o", dir.string(), "--", "/bin/gzip", "-c", (tmp / "input.txt").string()});
  RunResult rec = run_omni(args);
  INFO("omni record: ", rec.describe());
  REQUIRE(rec.status == 0);
  RunResult ix = run_omni({"index", "-q", dir.string()});
  INFO("omni index: ", ix.describe());
  REQUIRE(ix.status == 0);
  return dir;
}

// `omni dump DIR --json` as one object; REQUIREs exit 0.
inline Object dump_json(const fs::path& dir) {
  RunResult d = run_omni({"dump", dir.string(), "--json"});
  INFO("omni dump: ", d.describe());
  REQUIRE(d.status == 0);
  auto objs = parse_json_lines(d.out);
  REQUIRE(objs.size() == 1);
  return objs[0];
}

// `omni query DIR --where-written SPEC EXTRA...`: REQUIREs exit 0 and output that
// parses as writes; CHECKs an empty stderr and time order.
inline std::vector<Write> where_written(const fs::path& dir, const std::string& spec,
                                        const std::vector<std::string>& extra = {},
                                        std::string* raw_out = nullptr) {
  std::vector<std::string> a = {"query", dir.string(), "--where-written", spec};
  a.insert(a.end(), extra.begin(), extra.end());
  RunResult q = run_omni(a);
  INFO("omni query --where-written ", spec, ": ", q.describe());
  REQUIRE(q.status == 0);
  CHECK(q.err.empty());
  std::vector<Write> ws;
  try {
    ws = parse_writes(q.out);
  } catch (const std::exception& e) {
    FAIL(e.what());
  }
  for (std::size_t k = 1; k < ws.size(); ++k) {
    INFO("write ", k, " has time ", ws[k].time, " after ", ws[k - 1].time);
    CHECK(ws[k - 1].time <= ws[k].time);
  }
  if (raw_out) *raw_out = q.out;
  return ws;
}

// `omni query DIR --read TARGET --at AT EXTRA...`: REQUIREs exit 0 and one
// answer; CHECKs an empty stderr.
inline Object read_at(const fs::path& dir, const std::string& target, const std::string& at = "end",
                      const std::vector<std::string>& extra = {}) {
  std::vector<std::string> a = {"query", dir.string(), "--read", target, "--at", at};
  a.insert(a.end(), extra.begin(), extra.end());
  RunResult q = run_omni(a);
  INFO("omni query --read ", target, " --at ", at, ": ", q.describe());
  REQUIRE(q.status == 0);
  CHECK(q.err.empty());
  auto lines = split_lines(q.out);
  REQUIRE(lines.size() == 1);
  return parse_json_object(lines[0]);
}

// Every write returned for [lo, lo+len) must touch at least one of its bytes.
inline void check_touches(const std::vector<Write>& ws, std::uint64_t lo, std::uint64_t len) {
  for (const auto& w : ws) {
    INFO("write at ", hex_address(w.addr), " size ", w.size, " vs range ", hex_address(lo), ":",
         len);
    CHECK(w.addr < lo + len);
    CHECK(w.addr + w.size > lo);
  }
}

// The contract for every failure: exit status 1, stderr exactly one line that
// starts with "omni: error: ".
inline void check_error(const RunResult& r) {
  INFO(r.describe());
  CHECK_FALSE(r.timed_out);
  CHECK(r.status == 1);
  auto lines = split_lines(r.err);
  CHECK(lines.size() == 1);
  if (!lines.empty()) {
    CHECK(lines[0].rfind("omni: error: ", 0) == 0);
    CHECK(lines[0].size() > std::string("omni: error: ").size());
  }
  CHECK((!r.err.empty() && r.err.back() == '\n'));
}

inline std::uint64_t addr_of(const fs::path& prog, const std::string& sym) {
  try {
    return nm_symbol(prog, sym).addr;
  } catch (const std::exception& e) {
    FAIL(e.what());
  }
  return 0;
}

inline std::string base_name(const std::string& p) { return fs::path(p).filename().string(); }

inline unsigned file_mode(const fs::path& p) {
  struct stat st {};
  REQUIRE(::stat(p.c_str(), &st) == 0);
  return st.st_mode & 07777;
}

// Times of a list of writes.
inline std::vector<std::uint64_t> times_of(const std::vector<Write>& ws) {
  std::vector<std::uint64_t> t;
  for (const auto& w : ws) t.push_back(w.time);
  return t;
}

}  // namespace omni::test
