// Robustness: recordings whose recorder is killed part-way, SIGTERM passed on,
// the privacy of trace directories, damaged trace files and indexes of another
// format version. The truth is what the tests did to the files and processes
// (and the subject's own source: spin stores 1, 2, 3... into g_progress), not
// omni's output.
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>

#include <zstd.h>

#include "background.h"
#include "omni_fixture.h"

using namespace omni::test;

namespace {

using Clock = std::chrono::steady_clock;

// suite/subjects/spin.c stores 1..kSpinN into g_progress.
constexpr std::int64_t kSpinN = 20000;

// `<build>/bin/omni ARGS...` in the background, in its own process group.
void start_omni(Background& b, const std::vector<std::string>& args, const fs::path& logs) {
  std::vector<std::string> argv = {bin("omni").string()};
  argv.insert(argv.end(), args.begin(), args.end());
  start(b, argv, logs);
}

std::string comm_of(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/comm");
  std::string s;
  std::getline(in, s);
  return s;
}

// Frames of trace.omni as docs/index-format.md describes them: 16-byte header,
// then `u32 kind, u32 payload bytes, u64 raw bytes, payload`.
struct Frame {
  std::uint32_t kind = 0, size = 0;
  std::uint64_t raw = 0;
  std::size_t offset = 0;  // of the frame header
  bool whole = false;      // header and payload both present
};
constexpr std::uint32_t kInfo = 1, kStream = 2, kEnd = 3;

std::uint32_t le32(const std::string& b, std::size_t at) {
  std::uint32_t v = 0;
  for (int k = 3; k >= 0; --k) v = v << 8 | static_cast<std::uint8_t>(b[at + k]);
  return v;
}
std::uint64_t le64(const std::string& b, std::size_t at) {
  std::uint64_t v = 0;
  for (int k = 7; k >= 0; --k) v = v << 8 | static_cast<std::uint8_t>(b[at + k]);
  return v;
}

std::vector<Frame> frames_of(const std::string& bytes) {
  std::vector<Frame> fr;
  std::size_t p = 16;
  while (p + 16 <= bytes.size()) {
    Frame f;
    f.offset = p;
    f.kind = le32(bytes, p);
    f.size = le32(bytes, p + 4);
    f.raw = le64(bytes, p + 8);
    f.whole = p + 16 + f.size <= bytes.size();
    fr.push_back(f);
    if (!f.whole) break;
    p += 16 + f.size;
  }
  return fr;
}

std::size_t whole_stream_frames(const fs::path& trace) {
  std::string b;
  try {
    b = read_file(trace);
  } catch (...) {
    return 0;
  }
  std::size_t n = 0;
  for (const auto& f : frames_of(b))
    if (f.kind == kStream && f.whole) ++n;
  return n;
}

// Starts `omni record -o DIR -- spin` and returns once the recording is well
// under way: at least 1.5 s in and at least one whole STREAM frame in
// trace.omni. REQUIREs that it is still running then.
void start_spin_recording(Background& rec, const fs::path& dir, const fs::path& logs) {
  REQUIRE(fs::exists(subject("spin")));
  // No `--`: the program needs no separation from omni's options.
  start_omni(rec, {"record", "-o", dir.string(), subject("spin").string()}, logs);
  auto t0 = Clock::now();
  while (true) {
    REQUIRE_MESSAGE(!rec.poll(), "omni record ended before it could be interrupted: "
                                     << rec.describe());
    auto elapsed = Clock::now() - t0;
    if (elapsed >= std::chrono::milliseconds(1500) && whole_stream_frames(dir / "trace.omni") >= 1)
      break;
    REQUIRE_MESSAGE(elapsed < std::chrono::seconds(60),
                    "no stream frame reached trace.omni within 60 s: " << rec.describe());
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

bool json_false(Object& o, const std::string& key) {
  return o.count(key) && o[key].is_bool() && !o[key].b;
}

// The values spin stored into g_progress, as the recording has them: every
// write must be the whole 8-byte variable.
std::vector<std::int64_t> progress_values(const fs::path& dir, const fs::path& prog,
                                          RunResult* raw = nullptr) {
  std::uint64_t a = addr_of(prog, "g_progress");
  RunResult q = run_omni({"query", dir.string(), "--where-written", "g_progress"});
  INFO("omni query: ", q.describe());
  REQUIRE(q.status == 0);
  CHECK(q.err.find("omni: error") == std::string::npos);
  std::vector<Write> ws;
  try {
    ws = parse_writes(q.out);
  } catch (const std::exception& e) {
    FAIL(e.what());
  }
  std::vector<std::int64_t> values;
  std::size_t not_whole = 0;
  for (const auto& w : ws) {
    if (w.addr != a || w.size != 8) {
      ++not_whole;
      continue;
    }
    values.push_back(le_signed(w.data));
  }
  CHECK_MESSAGE(not_whole == 0, not_whole << " writes are not the whole 8-byte g_progress at "
                                          << hex_address(a));
  if (raw) *raw = q;
  return values;
}

// 1, 2, 3, ... k with 1 <= k < kSpinN: a proper, gap-free prefix of what spin
// stores.
void check_progress_prefix(const std::vector<std::int64_t>& values) {
  REQUIRE_FALSE(values.empty());
  std::size_t first_bad = values.size();
  for (std::size_t k = 0; k < values.size(); ++k)
    if (values[k] != static_cast<std::int64_t>(k + 1)) {
      first_bad = k;
      break;
    }
  INFO("values: ", values.size(), ", first ", values.front(), ", last ", values.back(),
       ", first out of sequence at index ", first_bad,
       (first_bad < values.size() ? " value " + std::to_string(values[first_bad]) : ""));
  CHECK(first_bad == values.size());
  CHECK(values.back() < kSpinN);  // it was cut short
}

// `omni index DIR`: exit 0 (a warning on stderr is allowed, no error).
void index_ok(const fs::path& dir) {
  RunResult ix = run_omni({"index", dir.string()});
  INFO("omni index: ", ix.describe());
  REQUIRE(ix.status == 0);
  CHECK(ix.err.find("omni: error") == std::string::npos);
  REQUIRE(fs::is_regular_file(dir / "index.db"));
}

}  // namespace

TEST_CASE("robustness: valgrind SIGKILLed - omni record exits 137 and the prefix indexes") {
  TempDir t;
  fs::path dir = t / "trace";
  Background rec;
  start_spin_recording(rec, dir, t.path());
  pid_t vg = recorder_child(rec.pid);
  std::string vg_comm = comm_of(vg);
  INFO("valgrind pid ", vg, " comm ", vg_comm);
  REQUIRE(vg != rec.pid);
  REQUIRE(kill(vg, SIGKILL) == 0);
  REQUIRE(rec.wait(60));
  INFO("omni record: ", rec.describe());
  CHECK(rec.status == 137);
  CHECK(read_file(rec.out).find("g_progress=") == std::string::npos);  // spin never finished

  // omni record survived, so it finished the file: the last frame is END.
  std::string bytes = read_file(dir / "trace.omni");
  auto fr = frames_of(bytes);
  REQUIRE(fr.size() >= 3);
  CHECK(fr.front().kind == kInfo);
  CHECK(fr.back().kind == kEnd);
  CHECK(fr.back().whole);

  // Before indexing, dump reads the trace file itself; it must agree with the
  // index that the recording was cut short.
  Object before = dump_json(dir);
  CHECK_MESSAGE(json_false(before, "recording_complete"),
                "unindexed dump says recording_complete: "
                    << (before.count("recording_complete") ? before["recording_complete"].repr()
                                                           : "<absent>"));

  index_ok(dir);
  Object o = dump_json(dir);
  CHECK(json_false(o, "recording_complete"));
  CHECK(json_false(o, "complete"));
  bool by_signal = o.count("signal") && o["signal"].is_int() && o["signal"].i == 9;
  bool by_code = o.count("exit_code") && o["exit_code"].is_int() && o["exit_code"].i == 137;
  CHECK((by_signal || by_code));

  check_progress_prefix(progress_values(dir, subject("spin")));
}

TEST_CASE("robustness: omni record and valgrind SIGKILLed together - no END frame, the prefix indexes") {
  TempDir t;
  fs::path dir = t / "trace";
  Background rec;
  start_spin_recording(rec, dir, t.path());
  pid_t vg = recorder_child(rec.pid);
  REQUIRE(getpgid(vg) == rec.pid);  // in omni record's group, so one kill() gets both
  REQUIRE(kill(-rec.pid, SIGKILL) == 0);
  REQUIRE(rec.wait(60));
  CHECK(rec.status == 128 + SIGKILL);

  std::string bytes = read_file(dir / "trace.omni");
  auto fr = frames_of(bytes);
  REQUIRE(fr.size() >= 2);
  CHECK(fr.front().kind == kInfo);
  for (const auto& f : fr) CHECK(f.kind != kEnd);

  Object before = dump_json(dir);
  CHECK(json_false(before, "recording_complete"));

  index_ok(dir);
  Object o = dump_json(dir);
  CHECK(json_false(o, "recording_complete"));
  CHECK(json_false(o, "complete"));

  check_progress_prefix(progress_values(dir, subject("spin")));
}

TEST_CASE("robustness: SIGTERM to omni record is passed on - status 143 - the recording indexes") {
  TempDir t;
  fs::path dir = t / "trace";
  Background rec;
  start_spin_recording(rec, dir, t.path());
  REQUIRE(kill(rec.pid, SIGTERM) == 0);  // omni record alone, not its group
  REQUIRE(rec.wait(60));
  INFO("omni record: ", rec.describe());
  CHECK(rec.status == 143);
  CHECK(read_file(rec.out).find("g_progress=") == std::string::npos);

  index_ok(dir);
  Object o = dump_json(dir);
  bool by_signal = o.count("signal") && o["signal"].is_int() && o["signal"].i == SIGTERM;
  bool by_code = o.count("exit_code") && o["exit_code"].is_int() && o["exit_code"].i == 143;
  CHECK((by_signal || by_code));
  check_progress_prefix(progress_values(dir, subject("spin")));
}

namespace {

// Sets the process umask for a scope (children inherit it).
struct UmaskScope {
  mode_t old;
  explicit UmaskScope(mode_t m) : old(::umask(m)) {}
  ~UmaskScope() { ::umask(old); }
};

void check_private_tree(const fs::path& dir) {
  CHECK(file_mode(dir) == 0700);
  std::size_t files = 0;
  for (const auto& e : fs::recursive_directory_iterator(dir)) {
    struct stat st {};
    REQUIRE(::lstat(e.path().c_str(), &st) == 0);
    INFO(e.path(), " mode ", std::oct, (st.st_mode & 07777));
    CHECK((st.st_mode & 077) == 0);
    ++files;
  }
  CHECK(files >= 2);  // trace.omni and index.db at least
}

}  // namespace

TEST_CASE("robustness: trace directories and their files are private even with umask 0") {
  UmaskScope um(0);
  TempDir t;
  // -o DIR
  fs::path dir = t / "trace";
  RunResult r = run_omni({"record", "-o", dir.string(), "--", subject("globals").string()});
  INFO(r.describe());
  REQUIRE(r.status == 0);
  RunResult ix = run_omni({"index", dir.string()});
  REQUIRE(ix.status == 0);
  REQUIRE(fs::is_regular_file(dir / "trace.omni"));
  REQUIRE(fs::is_regular_file(dir / "index.db"));
  check_private_tree(dir);

  // The default location, $XDG_DATA_HOME/omni/<program>-<n>.
  RunOptions env;
  env.env["XDG_DATA_HOME"] = (t / "xdg").string();
  RunResult d = run_omni({"record", subject("globals").string()}, env);
  INFO(d.describe());
  REQUIRE(d.status == 0);
  fs::path root = t / "xdg" / "omni";
  REQUIRE(fs::is_directory(root));
  CHECK(file_mode(root) == 0700);
  std::vector<fs::path> recs;
  for (const auto& e : fs::directory_iterator(root))
    if (e.is_directory() && !e.is_symlink()) recs.push_back(e.path());
  REQUIRE(recs.size() == 1);
  RunResult ix2 = run_omni({"index"}, env);  // the latest recording
  INFO(ix2.describe());
  REQUIRE(ix2.status == 0);
  check_private_tree(recs[0]);
}

namespace {

// A fresh, unindexed recording of globals.
Recording unindexed_globals() { return record("globals", {}, 0, /*index=*/false); }

// After `omni index` on a damaged trace: either it succeeded and the index says
// the recording is incomplete, or it failed by the error contract and left no
// index behind. Never a crash.
void check_index_of_damaged(const fs::path& dir, const std::string& what) {
  CAPTURE(what);
  RunResult ix = run_omni({"index", dir.string()});
  INFO("omni index: ", ix.describe());
  REQUIRE_FALSE(ix.timed_out);
  CHECK(ix.exited);
  CHECK(ix.status < 128);
  if (ix.status == 0) {
    REQUIRE(fs::is_regular_file(dir / "index.db"));
    Object o = dump_json(dir);
    CHECK(json_false(o, "recording_complete"));
    CHECK(json_false(o, "complete"));
    // And it still answers queries (by address: with the cut before the
    // program's mappings, its symbols are unknown).
    std::uint64_t a = addr_of(subject("globals"), "g_counter");
    RunResult q = run_omni({"query", dir.string(), "--where-written", hex_address(a) + ":8"});
    INFO("omni query: ", q.describe());
    CHECK(q.status == 0);
  } else {
    check_error(ix);
    CHECK_FALSE(fs::exists(dir / "index.db"));
    CHECK_FALSE(fs::exists(dir / "index.db.tmp"));
  }
}

}  // namespace

TEST_CASE("robustness: truncated trace.omni - index succeeds as incomplete or fails cleanly") {
  Recording rec = unindexed_globals();
  const std::string good = read_file(rec.dir / "trace.omni");
  auto fr = frames_of(good);
  REQUIRE(fr.size() >= 3);
  REQUIRE(fr.front().kind == kInfo);
  REQUIRE(fr.back().kind == kEnd);
  std::vector<const Frame*> streams;
  for (const auto& f : fr)
    if (f.kind == kStream) streams.push_back(&f);
  REQUIRE_FALSE(streams.empty());

  std::vector<std::pair<std::string, std::size_t>> cuts;
  for (std::size_t k = 0; k < streams.size(); ++k) {
    const Frame& s = *streams[k];
    std::string n = "stream frame " + std::to_string(k);
    cuts.emplace_back(n + ": in its header", s.offset + 7);
    cuts.emplace_back(n + ": in the middle of its payload", s.offset + 16 + s.size / 2);
    cuts.emplace_back(n + ": one byte short", s.offset + 16 + s.size - 1);
  }
  cuts.emplace_back("in the END frame's header", fr.back().offset + 5);
  cuts.emplace_back("in the END frame's payload", fr.back().offset + 16 + fr.back().size / 2);
  cuts.emplace_back("in the INFO frame's payload", fr.front().offset + 16 + fr.front().size / 2);
  cuts.emplace_back("right after the file header", 16);

  for (const auto& [what, at] : cuts) {
    REQUIRE(at < good.size());
    fs::remove(rec.dir / "index.db");
    write_file(rec.dir / "trace.omni", std::string_view(good).substr(0, at));
    check_index_of_damaged(rec.dir, "truncated " + what + " (at byte " + std::to_string(at) + ")");
  }
}

TEST_CASE("robustness: flipped bytes in trace.omni - index succeeds as incomplete or fails cleanly") {
  Recording rec = unindexed_globals();
  const std::string good = read_file(rec.dir / "trace.omni");
  auto fr = frames_of(good);
  const Frame* stream = nullptr;
  for (const auto& f : fr)
    if (f.kind == kStream && (!stream || f.size > stream->size)) stream = &f;
  REQUIRE(stream);
  REQUIRE(stream->size >= 64);

  std::vector<std::pair<std::string, std::string>> damaged;
  for (int pct : {10, 25, 50, 75, 90}) {
    std::size_t at = stream->offset + 16 + stream->size * pct / 100;
    std::string b = good;
    for (std::size_t k = at; k < at + 16 && k < stream->offset + 16 + stream->size; ++k)
      b[k] = static_cast<char>(b[k] ^ 0xA5);
    damaged.emplace_back("16 bytes flipped at " + std::to_string(pct) + "% of the stream payload", b);
  }
  {
    std::string b = good;
    b[stream->offset] = 9;  // frame kind 2 -> 9
    damaged.emplace_back("unknown frame kind", b);
  }
  {
    std::string b = good;  // raw size one byte off: the frame cannot decompress to it
    std::uint64_t raw = stream->raw + 1;
    for (int k = 0; k < 8; ++k) b[stream->offset + 8 + k] = static_cast<char>(raw >> (8 * k));
    damaged.emplace_back("raw size off by one", b);
  }
  for (const auto& [what, bytes] : damaged) {
    fs::remove(rec.dir / "index.db");
    write_file(rec.dir / "trace.omni", bytes);
    check_index_of_damaged(rec.dir, what);
  }
}

TEST_CASE("robustness: trace.omni of another format version is refused") {
  Recording rec = unindexed_globals();
  std::string b = read_file(rec.dir / "trace.omni");
  REQUIRE(b.size() > 16);
  REQUIRE(std::memcmp(b.data(), "OMNITRC\0", 8) == 0);
  REQUIRE(le32(b, 8) != 99);
  b[8] = 99;
  b[9] = b[10] = b[11] = 0;
  write_file(rec.dir / "trace.omni", b);

  RunResult ix = run_omni({"index", rec.dir.string()});
  check_error(ix);
  CHECK(ix.err.find("version") != std::string::npos);
  CHECK(ix.err.find("99") != std::string::npos);
  CHECK_FALSE(fs::exists(rec.dir / "index.db"));
  CHECK_FALSE(fs::exists(rec.dir / "index.db.tmp"));
  // Unindexed dump reads the same header.
  RunResult d = run_omni({"dump", rec.dir.string(), "--json"});
  check_error(d);
  CHECK(d.err.find("version") != std::string::npos);
}

TEST_CASE("robustness: index.db of another schema version or application is refused") {
  auto rec = record("globals");
  REQUIRE_FALSE(where_written(rec.dir, "g_counter").empty());
  fs::path db = rec.dir / "index.db";

  auto sql = [&](const std::string& stmt) {
    RunResult s = run({"sqlite3", db.string(), stmt});
    INFO("sqlite3: ", s.describe());
    REQUIRE(s.status == 0);
  };
  auto pragma = [&](const std::string& name) {
    RunResult s = run({"sqlite3", db.string(), "PRAGMA " + name});
    REQUIRE(s.status == 0);
    return s.out;
  };

  SUBCASE("user_version 99") {
    sql("PRAGMA user_version=99");
    REQUIRE(pragma("user_version") == "99\n");
    for (auto args : {std::vector<std::string>{"query", rec.dir.string(), "--where-written", "g_counter"},
                      std::vector<std::string>{"dump", rec.dir.string(), "--json"}}) {
      CAPTURE(args[0]);
      RunResult r = run_omni(args);
      check_error(r);
      CHECK(r.out.empty());
      CHECK(r.err.find("version") != std::string::npos);
      CHECK(r.err.find("99") != std::string::npos);
    }
  }
  SUBCASE("application_id 0") {
    sql("PRAGMA application_id=0");
    REQUIRE(pragma("application_id") == "0\n");
    for (auto args : {std::vector<std::string>{"query", rec.dir.string(), "--where-written", "g_counter"},
                      std::vector<std::string>{"dump", rec.dir.string(), "--json"}}) {
      CAPTURE(args[0]);
      RunResult r = run_omni(args);
      check_error(r);
      CHECK(r.out.empty());
      CHECK(r.err.find("not an omni index") != std::string::npos);
    }
  }
  // Re-indexing repairs it.
  RunResult ix = run_omni({"index", rec.dir.string()});
  INFO(ix.describe());
  REQUIRE(ix.status == 0);
  CHECK_FALSE(where_written(rec.dir, "g_counter").empty());
}

// ---- hardening (issue 8): damaged metadata, lengths, FIFOs, locks, other users

namespace {

void put_le64(std::string& b, std::size_t at, std::uint64_t v) {
  for (int k = 0; k < 8; ++k) b[at + k] = static_cast<char>(v >> (8 * k));
}

}  // namespace

TEST_CASE("hardening: every flipped byte of the INFO and END frames is refused or harmless") {
  Recording rec = unindexed_globals();
  const std::string good = read_file(rec.dir / "trace.omni");
  RunResult d0 = run_omni({"dump", rec.dir.string(), "--json"});
  REQUIRE(d0.status == 0);
  auto fr = frames_of(good);
  REQUIRE(fr.front().kind == kInfo);
  REQUIRE(fr.back().kind == kEnd);
  int refused = 0, same = 0;
  for (const Frame* f : {&fr.front(), &fr.back()}) {
    for (std::size_t at = f->offset + 16; at < f->offset + 16 + f->size; ++at) {
      std::string b = good;
      b[at] = static_cast<char>(b[at] ^ 0x01);
      write_file(rec.dir / "trace.omni", b);
      CAPTURE(at);
      RunResult d = run_omni({"dump", rec.dir.string(), "--json"});
      // A clean error, or exactly the undamaged answer (a bit zstd does not
      // depend on); never a different command line or exit status.
      if (d.status == 0) {
        CHECK(d.out == d0.out);
        ++same;
      } else {
        check_error(d);
        CHECK(d.err.find("corrupt") != std::string::npos);
        ++refused;
      }
    }
  }
  MESSAGE(refused << " mutants refused, " << same << " read as the original");
  CHECK(refused > 0);
}

TEST_CASE("hardening: a stream frame claiming a huge size is refused before allocating") {
  Recording rec = unindexed_globals();
  std::string b = read_file(rec.dir / "trace.omni");
  auto fr = frames_of(b);
  const Frame* stream = nullptr;
  for (const auto& f : fr)
    if (f.kind == kStream) stream = &f;
  REQUIRE(stream);
  for (std::uint64_t raw : {std::uint64_t{1} << 33, std::uint64_t{1} << 40, ~std::uint64_t{0}}) {
    std::string m = b;
    put_le64(m, stream->offset + 8, raw);
    write_file(rec.dir / "trace.omni", m);
    CAPTURE(raw);
    // Limited to 1 GiB of address space: an allocation of the claimed size
    // would fail with bad_alloc instead of the format's own error.
    RunResult ix = run({"prlimit", "--as=1073741824", bin("omni").string(), "index", rec.dir.string()});
    check_error(ix);
    CHECK(ix.err.find("claims") != std::string::npos);
    CHECK_FALSE(fs::exists(rec.dir / "index.db.tmp"));
  }
}

TEST_CASE("hardening: a FIFO named trace.omni is refused, not waited on") {
  TempDir t;
  REQUIRE(::mkfifo((t / "trace.omni").c_str(), 0600) == 0);
  RunOptions quick;
  quick.timeout_s = 20;
  for (const auto& args : std::vector<std::vector<std::string>>{{"dump", t.path().string()},
                                                                {"index", t.path().string()}}) {
    RunResult r = run_omni(args, quick);
    CAPTURE(args[0]);
    check_error(r);
    CHECK(r.err.find("not a regular file") != std::string::npos);
  }
}

TEST_CASE("hardening: a second omni index of the same trace is refused while one runs") {
  Recording rec = record("globals");
  const std::string before = read_file(rec.dir / "index.db");
  // Hold the lock as a running `omni index` would.
  int fd = ::open((rec.dir / "index.lock").c_str(), O_RDWR | O_CREAT, 0600);
  REQUIRE(fd >= 0);
  REQUIRE(::flock(fd, LOCK_EX) == 0);
  RunResult ix = run_omni({"index", rec.dir.string()});
  check_error(ix);
  CHECK(ix.err.find("another `omni index`") != std::string::npos);
  // The good index is untouched and still answers.
  CHECK(read_file(rec.dir / "index.db") == before);
  CHECK_FALSE(fs::exists(rec.dir / "index.db.tmp"));
  ::close(fd);
  RunResult again = run_omni({"index", rec.dir.string()});
  CHECK(again.status == 0);
}

TEST_CASE("hardening: -o into a directory of another user, or a linked recordings root, is refused") {
  TempDir t;
  // An empty, world-writable directory: made private.
  fs::path open_dir = t / "open";
  fs::create_directory(open_dir);
  fs::permissions(open_dir, fs::perms::all);
  RunResult r = run_omni({"record", "-o", open_dir.string(), "--", subject("globals").string()});
  INFO(r.describe());
  REQUIRE(r.status == 0);
  CHECK(file_mode(open_dir) == 0700);
  CHECK(file_mode(open_dir / "trace.omni") == 0600);

  if (::geteuid() == 0) {
    // Another user's empty directory: refused, nothing written into it.
    fs::path theirs = t / "theirs";
    fs::create_directory(theirs);
    fs::permissions(theirs, fs::perms::all);
    REQUIRE(::chown(theirs.c_str(), 65534, 65534) == 0);
    RunResult o = run_omni({"record", "-o", theirs.string(), "--", subject("globals").string()});
    check_error(o);
    CHECK(o.err.find("another user") != std::string::npos);
    CHECK(fs::is_empty(theirs));
    CHECK(file_mode(theirs) == 0777);
  } else {
    MESSAGE("not root: cannot make a directory of another user; that part is skipped");
  }

  // $XDG_DATA_HOME/omni is a link: refused, and its target left as it was.
  fs::path target = t / "target";
  fs::create_directory(target);
  fs::permissions(target, fs::perms::all);
  fs::create_directory(t / "xdg");
  fs::create_directory_symlink(target, t / "xdg" / "omni");
  RunOptions env;
  env.env["XDG_DATA_HOME"] = (t / "xdg").string();
  RunResult l = run_omni({"record", subject("globals").string()}, env);
  check_error(l);
  CHECK(l.err.find("symbolic link") != std::string::npos);
  CHECK(file_mode(target) == 0777);
  CHECK(fs::is_empty(target));
}

TEST_CASE("hardening: an argument with a newline or an escape sequence gives a one-line error") {
  Recording rec = record("globals");
  RunResult q = run_omni({"query", rec.dir.string(), "--where-written", "no_such\nvar\x1b[31mred"});
  check_error(q);
  CHECK(q.err.find('\x1b') == std::string::npos);
  CHECK(q.err.find("\\n") != std::string::npos);
  RunResult bad = run_omni({"query", rec.dir.string(), "--bogus\noption"});
  check_error(bad);
}

TEST_CASE("hardening: a trace of the previous file format (plain INFO/END frames) still reads") {
  Recording rec = unindexed_globals();
  RunResult d0 = run_omni({"dump", rec.dir.string(), "--json"});
  REQUIRE(d0.status == 0);
  const std::string good = read_file(rec.dir / "trace.omni");
  REQUIRE(le32(good, 8) == 2);
  // Rewrite it as version 1 wrote it: INFO and END as their plain text.
  std::string old = good.substr(0, 16);
  old[8] = 1;
  for (const auto& f : frames_of(good)) {
    std::string payload = good.substr(f.offset + 16, f.size);
    if (f.kind != kStream) {
      std::string text(f.raw, '\0');
      REQUIRE(ZSTD_decompress(text.data(), text.size(), payload.data(), payload.size()) == f.raw);
      payload = text;
    }
    std::string header(16, '\0');
    for (int k = 0; k < 4; ++k) header[k] = static_cast<char>(f.kind >> (8 * k));
    for (int k = 0; k < 4; ++k) header[4 + k] = static_cast<char>(payload.size() >> (8 * k));
    put_le64(header, 8, f.kind == kStream ? f.raw : payload.size());
    old += header + payload;
  }
  write_file(rec.dir / "trace.omni", old);
  RunResult d1 = run_omni({"dump", rec.dir.string(), "--json"});
  INFO(d1.describe());
  REQUIRE(d1.status == 0);
  // The same recording, but the file is larger with plain metadata.
  Object o0 = parse_json_object(d0.out), o1 = parse_json_object(d1.out);
  CHECK(o1["trace_bytes"].i > o0["trace_bytes"].i);
  o0.erase("trace_bytes");
  o1.erase("trace_bytes");
  CHECK(Value{Value::Kind::Object, false, 0, 0, {}, {}, {o0.begin(), o0.end()}}.repr() ==
        Value{Value::Kind::Object, false, 0, 0, {}, {}, {o1.begin(), o1.end()}}.repr());
  RunResult ix = run_omni({"index", rec.dir.string()});
  CHECK(ix.status == 0);
  auto ws = where_written(rec.dir, "g_counter");
  CHECK_FALSE(ws.empty());
}

TEST_CASE("hardening: --at or --tid given to a question that does not take them is an error") {
  Recording rec = record("globals");
  for (const auto& args : std::vector<std::vector<std::string>>{
           {"--syscalls", "--at", "100"},
           {"--output", "--at", "end"},
           {"--calls", "accumulate", "--at", "100"},
           {"--where-written", "g_counter", "--stack", "--tid", "1"}}) {
    std::vector<std::string> a = {"query", rec.dir.string()};
    a.insert(a.end(), args.begin(), args.end());
    RunResult r = run_omni(a);
    CAPTURE(args[0]);
    check_error(r);
    CHECK(r.out.empty());
  }
}
