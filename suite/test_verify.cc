// `omni verify`, the self-check: it must pass on recordings of subjects and
// of real programs (every instruction re-executed, as many as `omni dump`
// counts), and fail, naming what differs, on an index whose snapshot or write
// data was changed behind its back.
#include <doctest/doctest.h>

#include <cstring>

#include "omni/index/chunk.h"
#include "omni/index/db.h"
#include "omni/replay/replay.h"
#include "omni_fixture.h"

namespace omni::test {

namespace {

struct Verified {
  RunResult run;
  Object json;
};

Verified run_verify(const fs::path& dir, const std::vector<std::string>& extra = {}) {
  std::vector<std::string> a = {"verify", dir.string(), "--json"};
  a.insert(a.end(), extra.begin(), extra.end());
  RunOptions opts;
  opts.timeout_s = 400;
  Verified v{run_omni(a, opts), {}};
  INFO("omni verify: ", v.run.describe());
  REQUIRE_FALSE(v.run.timed_out);
  try {
    v.json = parse_json_object(v.run.out);
  } catch (const std::exception& e) {
    FAIL(e.what());
  }
  return v;
}

// Passes, having re-executed every recorded instruction (omni dump's count,
// an independent total) and compared writes.
void check_passes(const fs::path& dir, const std::string& what) {
  CAPTURE(what);
  Verified v = run_verify(dir);
  INFO("omni verify: ", v.run.describe());
  CHECK(v.run.status == 0);
  CHECK(v.json["verified"].b);
  CHECK(v.json["divergence"].is_null());
  CHECK(v.json["intervals"].i > 0);
  CHECK(v.json["intervals"].i == v.json["intervals_total"].i);
  CHECK(v.json["writes"].i > 0);
  CHECK(v.json["helper_writes"].is_int());  // counted apart: their bytes come from the recording
  RunResult d = run_omni({"dump", dir.string(), "--json"});
  REQUIRE(d.status == 0);
  Object dump = parse_json_object(d.out);
  CHECK(v.json["instructions"].i == dump["instructions"].i);
  auto lines = split_lines(v.run.err);
  REQUIRE(lines.size() == 1);
  CHECK(lines[0].rfind("omni: verified ", 0) == 0);
  CHECK(lines[0].find("replay matches the recording") != std::string::npos);
}

// A subject recorded with a snapshot every 1,024 instructions (many
// intervals end where the state is compared), indexed.
Recording record_dense(const std::string& name) {
  Recording r{TempDir(), subject(name), {}, {}};
  r.dir = r.tmp / "trace";
  r.rec = run_omni({"record", "--snapshot-interval", "1024", "-o", r.dir.string(), "--", r.prog.string()});
  INFO("omni record ", name, ": ", r.rec.describe());
  REQUIRE(r.rec.status == 0);
  RunResult ix = run_omni({"index", "-q", r.dir.string()});
  REQUIRE(ix.status == 0);
  return r;
}

// A real program's recording, indexed.
Recording record_program(const std::vector<std::string>& argv) {
  Recording r{TempDir(), fs::path(argv[0]), {}, {}};
  r.dir = r.tmp / "trace";
  std::vector<std::string> a = {"record", "-o", r.dir.string(), "--"};
  a.insert(a.end(), argv.begin(), argv.end());
  r.rec = run_omni(a);
  INFO("omni record ", argv[0], ": ", r.rec.describe());
  REQUIRE(r.rec.status == 0);
  RunResult ix = run_omni({"index", "-q", r.dir.string()});
  REQUIRE(ix.status == 0);
  return r;
}

// A copy of a recording whose index can be changed.
fs::path copy_recording(const Recording& r, const TempDir& where) {
  fs::path dir = where / "copy";
  fs::copy(r.dir, dir, fs::copy_options::recursive);
  return dir;
}

std::string hex_number(uint64_t v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "0x%llx", static_cast<unsigned long long>(v));
  return buf;
}

void check_divergence_line(const RunResult& r, uint64_t time) {
  check_error(r);
  auto lines = split_lines(r.err);
  REQUIRE(!lines.empty());
  std::string want = "omni: error: divergence at time " + std::to_string(time) + ", thread 1, pc 0x";
  CHECK(lines[0].rfind(want, 0) == 0);
}

}  // namespace

TEST_CASE("verify: replay matches the recording of globals, threads, simd, atomics, deepstack") {
  for (const char* name : {"globals", "threads", "simd", "atomics", "deepstack"}) {
    Recording r = record_dense(name);
    check_passes(r.dir, name);
  }
}

TEST_CASE("verify: passes on signals that change registers outside the code, and counts them") {
  Recording r = record_dense("signals");
  CHECK(r.rec.out.find("faults=3") != std::string::npos);
  check_passes(r.dir, "signals");
  Verified v = run_verify(r.dir);
  // Each handled SIGSEGV enters the handler in the middle of the code.
  CHECK(v.json["signal_states"].i >= 3);
  CHECK(v.json["states"].i > 0);
}

TEST_CASE("verify: gzip and sqlite3 recordings replay exactly") {
  TempDir t;
  std::string text;
  for (int i = 0; i < 200; ++i) text += "line " + std::to_string(i * 7919 % 1000) + " of some text to compress\n";
  write_file(t / "input.txt", text);
  Recording gz = record_program({"/bin/gzip", "-c", (t / "input.txt").string()});
  check_passes(gz.dir, "gzip");
  Recording sq = record_program(
      {"/usr/bin/sqlite3", ":memory:", "create table t(a, b); insert into t values (1, 'x'), (2, 'y'); "
                                        "select sum(a), group_concat(b) from t;"});
  CHECK(sq.rec.out == "3|x,y\n");
  check_passes(sq.dir, "sqlite3");
}

// Both found the bug where the index dropped a chunk's memory finals for
// writes made after an mmap/brk within the same chunk: bigcopy's memcpy
// replayed a zero from its freshly mmapped source block; python3 jumped to
// code never run.
TEST_CASE("verify: bigcopy (memory written right after an mmap in a busy chunk)") {
  Recording r = record("bigcopy");
  check_passes(r.dir, "bigcopy");
}

TEST_CASE("verify: python3 (memory written right after an mmap in a busy chunk)") {
  Recording r = record_program({"/usr/bin/python3", "-c", "print(sum(range(1000)))"});
  CHECK(r.rec.out == "499500\n");
  check_passes(r.dir, "python3");
}

TEST_CASE("verify: --sample, omni index --verify and the omni-verify stub") {
  Recording r = record_dense("globals");
  Verified v = run_verify(r.dir, {"--sample", "3"});
  CHECK(v.run.status == 0);
  CHECK(v.json["intervals"].i == 3);
  CHECK(v.json["intervals_total"].i > 3);
  CHECK(v.run.err.find("verified 3 of ") != std::string::npos);

  RunResult ix = run_omni({"index", "--verify", r.dir.string()});
  INFO(ix.describe());
  CHECK(ix.status == 0);
  CHECK(ix.err.find("omni: verified ") != std::string::npos);

  RunResult stub = run_omni({r.dir.string()}, {}, "omni-verify");
  INFO(stub.describe());
  CHECK(stub.status == 0);
  CHECK(stub.err.rfind("omni: verified ", 0) == 0);

  TempDir empty;
  check_error(run_omni({"verify", (empty / "none").string()}));
}

TEST_CASE("verify: a register snapshot changed in the index is a divergence naming the register") {
  Recording r = record_dense("globals");
  TempDir t;
  fs::path dir = copy_recording(r, t);
  // A snapshot reached by replay: one full interval after the thread's
  // previous snapshot, with no system call between.
  struct Snap {
    uint64_t time;
    int64_t seq;
  };
  std::vector<Snap> snaps;
  std::vector<uint64_t> syscalls;
  {
    index::Database db((dir / "index.db").string(), index::Database::Mode::ReadOnly);
    index::Statement q(db, "SELECT time, seq FROM snapshots WHERE tid = 1 ORDER BY time, seq");
    while (q.step()) snaps.push_back({q.column_u64(0), q.column_int(1)});
    index::Statement s(db, "SELECT time FROM syscalls WHERE tid = 1 ORDER BY time");
    while (s.step()) syscalls.push_back(s.column_u64(0));
  }
  std::vector<Snap> candidates;
  for (size_t i = 1; i + 1 < snaps.size(); ++i) {
    const Snap &p = snaps[i - 1], &s = snaps[i];
    if (s.time - p.time < 1024 || snaps[i + 1].time == s.time) continue;
    bool call = std::any_of(syscalls.begin(), syscalls.end(), [&](uint64_t c) { return c > p.time && c <= s.time; });
    if (!call) candidates.push_back(s);
  }
  REQUIRE(candidates.size() > 2);
  Snap target = candidates[candidates.size() / 2];

  uint64_t original = 0, changed = 0;
  {
    index::Database db((dir / "index.db").string(), index::Database::Mode::Create);
    index::Statement q(db, "SELECT state FROM snapshots WHERE tid = 1 AND time = ? AND seq = ?");
    q.bind(1, target.time).bind(2, target.seq);
    REQUIRE(q.step());
    std::vector<uint8_t> state;
    // A state may be compressed with the snapshots' dictionary (its frame
    // names it); the changed one is stored without.
    if (uint32_t id = index::frame_dictionary_id(q.column_blob(0), q.column_bytes(0))) {
      index::Statement d(db, "SELECT dict FROM snapshot_dicts WHERE id = ?");
      d.bind(1, static_cast<int64_t>(id));
      REQUIRE(d.step());
      auto bytes = static_cast<const char*>(d.column_blob(0));
      index::ZstdDictionary dict(std::string(bytes, bytes + d.column_bytes(0)), 3, "snapshot dictionary");
      dict.decompress(q.column_blob(0), q.column_bytes(0), "snapshot", state);
    } else {
      index::decompress_frame(q.column_blob(0), q.column_bytes(0), "snapshot", state);
    }
    size_t rax = replay::gpr_offset(0);
    REQUIRE(state.size() > rax + 8);
    std::memcpy(&original, state.data() + rax, 8);
    changed = original ^ 0x5a5a000000ull;
    std::memcpy(state.data() + rax, &changed, 8);
    std::string blob = index::compress_chunk(std::string(state.begin(), state.end()), 3);
    q.reset();
    index::Statement u(db, "UPDATE snapshots SET state = ? WHERE tid = 1 AND time = ? AND seq = ?");
    u.bind_blob(1, blob.data(), blob.size()).bind(2, target.time).bind(3, target.seq).run();
  }

  Verified v = run_verify(dir);
  INFO("omni verify: ", v.run.describe());
  check_divergence_line(v.run, target.time);
  CHECK(v.run.err.find(": rax expected " + hex_number(changed) + " got " + hex_number(original)) !=
        std::string::npos);
  CHECK_FALSE(v.json["verified"].b);
  REQUIRE(!v.json["divergence"].is_null());
  Object d;
  for (const auto& [k, val] : v.json["divergence"].object) d[k] = val;
  CHECK(d["kind"].s == "register");
  CHECK(d["what"].s == "rax");
  CHECK(d["time"].i == static_cast<int64_t>(target.time));
  CHECK(d["expected"].s == hex_number(changed));
  CHECK(d["got"].s == hex_number(original));
}

TEST_CASE("verify: a write event's data changed in the index is a divergence naming the write") {
  Recording r = record_dense("globals");
  TempDir t;
  fs::path dir = copy_recording(r, t);
  index::Event target{};
  std::vector<uint8_t> original, changed;
  {
    index::Database db((dir / "index.db").string(), index::Database::Mode::Create);
    index::Statement q(db, "SELECT id, time_first, data FROM chunks ORDER BY id");
    REQUIRE(q.step());
    int64_t id = q.column_int(0);
    uint64_t time_first = q.column_u64(1);
    std::vector<uint8_t> raw;
    index::decompress_frame(q.column_blob(2), q.column_bytes(2), "chunk", raw);
    q.reset();
    index::DecodedChunk chunk;
    index::decode_raw_chunk(raw.data(), raw.size(), time_first, index::ChunkCoding::kSameInstruction, chunk);
    // Re-encoded unchanged, the chunk is the same bytes.
    REQUIRE(index::ChunkEncoder::encode(chunk, index::ChunkCoding::kSameInstruction) ==
            std::string(raw.begin(), raw.end()));
    // A program write alone at its instruction, in the middle of the chunk.
    std::vector<index::Event> alone;
    for (size_t i = 0; i < chunk.events.size(); ++i) {
      const index::Event& e = chunk.events[i];
      bool shared = (i > 0 && chunk.events[i - 1].time == e.time) ||
                    (i + 1 < chunk.events.size() && chunk.events[i + 1].time == e.time);
      if (!e.by_kernel && e.tid == 1 && e.size >= 1 && e.size <= 16 && !shared) alone.push_back(e);
    }
    REQUIRE(alone.size() > 10);
    target = alone[alone.size() / 2];
    original.assign(chunk.data.begin() + target.data_offset, chunk.data.begin() + target.data_offset + target.size);
    chunk.data[target.data_offset] ^= 0xff;
    changed = original;
    changed[0] ^= 0xff;
    std::string blob =
        index::compress_chunk(index::ChunkEncoder::encode(chunk, index::ChunkCoding::kSameInstruction), 3);
    index::Statement u(db, "UPDATE chunks SET data = ? WHERE id = ?");
    u.bind_blob(1, blob.data(), blob.size()).bind(2, id).run();
  }
  // The index now says so.
  auto ws = where_written(dir, hex_address(target.addr) + ":" + std::to_string(target.size), {"--from",
      std::to_string(target.time), "--to", std::to_string(target.time)});
  REQUIRE(ws.size() == 1);
  CHECK(ws[0].data == changed);

  Verified v = run_verify(dir);
  INFO("omni verify: ", v.run.describe());
  check_divergence_line(v.run, target.time);
  std::string what = "write to " + hex_address(target.addr) + " (" + std::to_string(target.size) + " bytes)";
  CHECK(v.run.err.find(what + " expected " + to_hex(changed) + " got " + to_hex(original)) != std::string::npos);
  REQUIRE(!v.json["divergence"].is_null());
  Object d;
  for (const auto& [k, val] : v.json["divergence"].object) d[k] = val;
  CHECK(d["kind"].s == "write");
  CHECK(d["time"].i == static_cast<int64_t>(target.time));
  CHECK(d["pc"].s == hex_address(target.pc));
  CHECK(d["expected"].s == to_hex(changed));
  CHECK(d["got"].s == to_hex(original));
}

}  // namespace omni::test
