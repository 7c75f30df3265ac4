// An index.db answers about the trace it was built from and about its own
// rows as built, or refuses (issue 8, items 2 and 5; docs/index-format.md
// "Integrity").
#include <doctest/doctest.h>

#include <cstdint>
#include <string>
#include <vector>

#include "harness.h"
#include "omni_fixture.h"

using namespace omni::test;

namespace {

// Runs one statement list on DB with the sqlite3 CLI; returns its output.
std::string sqlite(const fs::path& db, const std::string& sql) {
  RunResult s = run({"sqlite3", db.string(), sql});
  INFO("sqlite3: ", s.describe());
  REQUIRE(s.status == 0);
  return s.out;
}

// The questions every refusal covers: each kind of query, and dump.
std::vector<std::vector<std::string>> questions(const fs::path& dir) {
  const std::string d = dir.string();
  return {{"query", d, "--where-written", "g_counter"},
          {"query", d, "--syscalls"},
          {"query", d, "--output"},
          {"query", d, "--calls", "main"},
          {"dump", d},
          {"dump", d, "--json"}};
}

void check_all_refused(const fs::path& dir, const std::string& reason) {
  for (const auto& args : questions(dir)) {
    CAPTURE(args[0]);
    CAPTURE(args.size() > 2 ? args[2] : "");
    RunResult r = run_omni(args);
    check_error(r);
    CHECK(r.out.empty());
    CHECK(r.err.find(reason) != std::string::npos);
    CHECK(r.err.find("omni index " + dir.string()) != std::string::npos);
  }
}


std::uint64_t le(const std::string& b, std::size_t at, int bytes) {
  std::uint64_t v = 0;
  for (int k = bytes - 1; k >= 0; --k) v = v << 8 | static_cast<std::uint8_t>(b[at + k]);
  return v;
}
void put_le(std::string& b, std::size_t at, int bytes, std::uint64_t v) {
  for (int k = 0; k < bytes; ++k) b[at + k] = static_cast<char>(v >> (8 * k));
}

// Rewrites trace.omni's INFO frame (the first, after the 16-byte header:
// u32 kind, u32 payload bytes, u64 raw bytes, one checksummed zstd frame)
// without its recording_id line, as omni recorded before recording ids.
// The zstd CLI, not omni, decodes and encodes it.
void strip_recording_id(const fs::path& dir) {
  const fs::path trace = dir / "trace.omni";
  std::string b = read_file(trace);
  REQUIRE(le(b, 16, 4) == 1);
  const std::size_t size = le(b, 20, 4);
  const fs::path z = dir.parent_path() / "info.zst", text_path = dir.parent_path() / "info.txt";
  write_file(z, b.substr(32, size));
  RunResult d = run({"zstd", "-d", "-q", "-f", z.string(), "-o", text_path.string()});
  INFO(d.describe());
  REQUIRE(d.status == 0);
  std::string text = read_file(text_path);
  const std::size_t at = text.find("recording_id=");
  REQUIRE(at != std::string::npos);
  text.erase(at, text.find('\n', at) + 1 - at);
  write_file(text_path, text);
  RunResult c = run({"zstd", "-q", "-f", "--check", text_path.string(), "-o", z.string()});
  INFO(c.describe());
  REQUIRE(c.status == 0);
  const std::string payload = read_file(z);
  std::string head = b.substr(16, 16);
  put_le(head, 4, 4, payload.size());
  put_le(head, 8, 8, text.size());
  write_file(trace, b.substr(0, 16) + head + payload + b.substr(32 + size));
}

}  // namespace

TEST_CASE("index identity: an index.db beside another recording of the same program is refused") {
  Recording a = record("globals");
  Recording b = record("globals");
  // Both answer on their own first (so the refusal below is the swap's doing).
  for (const auto& args : questions(a.dir)) {
    RunResult r = run_omni(args);
    INFO(r.describe());
    REQUIRE(r.status == 0);
  }
  const std::string a_dump = run_omni({"dump", a.dir.string(), "--json"}).out;
  fs::copy_file(b.dir / "index.db", a.dir / "index.db", fs::copy_options::overwrite_existing);
  check_all_refused(a.dir, "was built from another recording");
  RunResult r = run_omni({"query", a.dir.string(), "--output"});
  CHECK(r.err.find("recording id") != std::string::npos);

  // Indexing again binds it to this trace.
  RunResult ix = run_omni({"index", a.dir.string()});
  INFO(ix.describe());
  REQUIRE(ix.status == 0);
  RunResult d = run_omni({"dump", a.dir.string(), "--json"});
  REQUIRE(d.status == 0);
  // The index's own size may differ by a page; what it says of the program may not.
  Object before = parse_json_object(a_dump), after = parse_json_object(d.out);
  CHECK(before["program"].s == after["program"].s);
  CHECK(before["events"].i == after["events"].i);
  CHECK(before["instructions"].i == after["instructions"].i);
}

TEST_CASE("index identity: rows deleted or meta edited with SQL are refused by every question that reads them, never answered otherwise") {
  Recording rec = record("globals");
  const fs::path db = rec.dir / "index.db";
  const fs::path good = rec.tmp / "good.db";
  fs::copy_file(db, good);
  RunResult out0 = run_omni({"query", rec.dir.string(), "--output"});
  REQUIRE(out0.status == 0);
  REQUIRE(out0.out.find("g_counter=") != std::string::npos);

  struct Damage {
    const char* name;
    std::string sql;  // ends with a SELECT changes() that must not print 0
    const char* reason;
  };
  const std::vector<Damage> damages = {
      {"a chunk", "DELETE FROM chunks WHERE id = (SELECT MAX(id) FROM chunks)", "its chunks table was changed"},
      {"write_index rows", "DELETE FROM write_index WHERE page = (SELECT MIN(page) FROM write_index)",
       "table write_index has"},
      {"a syscall", "DELETE FROM syscalls WHERE rowid = (SELECT MAX(rowid) FROM syscalls)",
       "its syscalls table was changed"},
      {"an object", "DELETE FROM objects WHERE id = (SELECT MAX(id) FROM objects)", "its objects table was changed"},
      {"meta chunks", "UPDATE meta SET value = value + 1 WHERE key = 'chunks'", "meta table was changed"},
      {"meta stream_complete", "UPDATE meta SET value = 1 - value WHERE key = 'stream_complete'",
       "meta table was changed"},
      {"a chunk and its counts, consistently",
       "DELETE FROM chunks WHERE id = (SELECT MAX(id) FROM chunks); "
       "UPDATE meta SET value = value - 1 WHERE key IN ('chunks', 'rows.chunks')",
       "meta table was changed"},
      {"meta's checksum", "DELETE FROM meta WHERE key = 'meta_hash'", "no checksum"},
  };
  // The undamaged answers: a question that does not read the damaged
  // table may answer, but only exactly these.
  std::vector<std::string> undamaged;
  for (const auto& args : questions(rec.dir)) {
    RunResult r = run_omni(args);
    REQUIRE(r.status == 0);
    undamaged.push_back(r.out);
  }
  for (const Damage& damage : damages) {
    CAPTURE(damage.name);
    fs::copy_file(good, db, fs::copy_options::overwrite_existing);
    REQUIRE(sqlite(db, damage.sql + "; SELECT changes();") != "0\n");
    size_t refused = 0;
    for (size_t i = 0; i < questions(rec.dir).size(); ++i) {
      const auto args = questions(rec.dir)[i];
      CAPTURE(args[0]);
      CAPTURE(args.size() > 2 ? args[2] : "");
      RunResult r = run_omni(args);
      if (r.status == 0) {
        CHECK(r.out == undamaged[i]);
        continue;
      }
      ++refused;
      check_error(r);
      CHECK(r.out.empty());
      CHECK(r.err.find("is damaged") != std::string::npos);
      CHECK(r.err.find(damage.reason) != std::string::npos);
    }
    CHECK(refused > 0);
  }

  // Output bytes edited in place (same length): --output refuses.
  fs::copy_file(good, db, fs::copy_options::overwrite_existing);
  REQUIRE(sqlite(db, "UPDATE output SET data = zeroblob(length(data)) WHERE seq = (SELECT MIN(seq) FROM output); "
                     "SELECT changes();") == "1\n");
  RunResult r = run_omni({"query", rec.dir.string(), "--output"});
  check_error(r);
  CHECK(r.out.empty());
  CHECK(r.err.find("output table was changed") != std::string::npos);

  // The undamaged copy answers as before.
  fs::copy_file(good, db, fs::copy_options::overwrite_existing);
  RunResult again = run_omni({"query", rec.dir.string(), "--output"});
  REQUIRE(again.status == 0);
  CHECK(again.out == out0.out);
}

TEST_CASE("index identity: a chunk's missing granule finals are damage, not an older value") {
  // chunk_finals is not counted at open (too many rows to count in a few
  // ms); a read that needs a deleted row must fail, not answer the value
  // from before the chunk (0 here, where the program printed 4321).
  Recording rec = record("late_global");
  REQUIRE(rec.rec.out == "g_late=4321\n");
  const fs::path db = rec.dir / "index.db";
  RunResult before = run_omni({"query", rec.dir.string(), "--read", "g_late"});
  INFO(before.describe());
  REQUIRE(before.status == 0);
  REQUIRE(parse_json_object(before.out)["value"].i == 4321);
  std::vector<Write> writes = where_written(rec.dir, "g_late");
  REQUIRE(writes.size() == 1);
  uint64_t page = parse_address(parse_json_object(before.out)["addr"].s) >> 12;
  std::string chunk = sqlite(db, "SELECT MAX(id) FROM chunks WHERE time_first <= " + std::to_string(writes[0].time));
  chunk.pop_back();  // the newline
  REQUIRE(sqlite(db, "SELECT COUNT(*) FROM chunks WHERE id > " + chunk) != "0\n");
  REQUIRE(sqlite(db, "DELETE FROM chunk_finals WHERE chunk = " + chunk + " AND page = " + std::to_string(page) +
                         "; SELECT changes();") == "1\n");
  RunResult after = run_omni({"query", rec.dir.string(), "--read", "g_late"});
  check_error(after);
  CHECK(after.out.empty());
  CHECK(after.err.find("is damaged (its chunk_finals table has no row for chunk " + chunk) != std::string::npos);
}

TEST_CASE("index identity: without meta.stream_complete query and dump agree (both refuse)") {
  Recording rec = record("globals");
  const fs::path db = rec.dir / "index.db";
  REQUIRE(sqlite(db, "DELETE FROM meta WHERE key = 'stream_complete'; SELECT changes();") == "1\n");
  // dump used to call it incomplete while query stayed silent: now both
  // refuse the index as damaged, in one line.
  check_all_refused(rec.dir, "is damaged");
}

TEST_CASE("index identity: a trace recorded without a recording id is bound by its size and INFO") {
  Recording a = record("globals", {}, 0, false);
  Recording b = record("chatty", {}, 0, false);
  strip_recording_id(a.dir);
  strip_recording_id(b.dir);
  for (const Recording* r : {&a, &b}) {
    RunResult ix = run_omni({"index", r->dir.string()});
    INFO(ix.describe());
    REQUIRE(ix.status == 0);
  }
  // Its own index answers: the id-less trace is still read.
  for (const auto& args : questions(a.dir)) {
    RunResult r = run_omni(args);
    INFO(r.describe());
    CHECK(r.status == 0);
  }
  fs::copy_file(b.dir / "index.db", a.dir / "index.db", fs::copy_options::overwrite_existing);
  check_all_refused(a.dir, "was built from another recording");
  // An index with an id beside an id-less trace of the same recording is
  // another recording's too (the trace was rewritten after indexing).
  Recording c = record("globals");
  strip_recording_id(c.dir);
  check_all_refused(c.dir, "was built from another recording");
}
