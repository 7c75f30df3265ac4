// Older stream versions (docs/index-format.md, "Older streams";
// libs/trace/include/omni/trace/stream_versions.h). A recording cannot be made
// again, so the decoder reads an older version where the change allows it and
// otherwise names the omni commit that reads it. The version-4 streams here are
// made from fresh recordings the way the version-4 recorder (commit e28eccc)
// wrote them: the preamble says 4, and the records version 5 added (ENTRY and
// JUMP sites, SIGNAL records, LATE_RESULT syscall records) are left out.
#include <algorithm>
#include <sstream>

#include <fmt/format.h>

#include "omni/base/error.h"
#include "omni/trace/container.h"
#include "omni/trace/decoder.h"
#include "omni/trace/stream.h"
#include "omni/trace/stream_versions.h"
#include "omni_fixture.h"

using namespace omni::test;
namespace trace = omni::trace;

namespace {

// A recording in the layout versions 4 to 6 share (no preamble flags, a
// BLOCK word only for blocks with sites, absolute times): the streams these
// tests rewrite into older versions.
Recording record_flagless(const std::string& name) {
  Recording r{TempDir(), subject(name), {}, {}};
  r.dir = r.tmp / "trace";
  r.rec = run_omni({"record", "--no-every-block", "-o", r.dir.string(), "--", r.prog.string()});
  INFO("omni record of ", name, ": ", r.rec.describe());
  REQUIRE(r.rec.status == 0);
  REQUIRE(fs::is_directory(r.dir));
  return r;
}


std::string le(std::uint64_t v, int bytes) {
  std::string s(bytes, '\0');
  store_le(s, 0, v, bytes);
  return s;
}

// The raw stream of a trace file.
std::string raw_stream(const fs::path& path) {
  trace::TraceReader reader(path.string());
  std::string stream;
  std::vector<std::uint8_t> piece;
  while (reader.next_stream(piece)) stream.append(piece.begin(), piece.end());
  REQUIRE_FALSE(reader.truncated());
  return stream;
}

// DIR/trace.omni: `original`'s INFO and END around `stream`.
fs::path write_trace(const fs::path& original, const fs::path& dir, const std::string& stream) {
  fs::create_directories(dir);
  trace::TraceReader reader(original.string());
  reader.skip_to_end();
  REQUIRE(reader.end().has_value());
  {
    trace::TraceWriter writer((dir / "trace.omni").string(), 3);
    writer.write_info(reader.info());
    writer.write_stream(reinterpret_cast<const std::uint8_t*>(stream.data()), stream.size());
    writer.write_end(*reader.end());
    writer.flush();
  }
  return dir;
}

// What version 5 added that a downgrade keeps anyway (to make damage).
struct Keep {
  bool entries = false;  // ENTRY and JUMP sites
  bool signals = false;  // SIGNAL records
  bool late = false;     // LATE_RESULT syscall records
};

struct Downgrade {
  std::string stream;
  int entry_sites = 0, jump_sites = 0, signals = 0, late_results = 0;
};

// A stream of today's version as the version-4 recorder wrote it, walking
// the records as stream.h defines them (an independent reading of the
// format): ENTRY and JUMP sites leave their BLOCK_DEFs and the site records
// they made, a block left with no sites gets no BLOCK words (the version-4
// tool wrote them only for blocks with sites), SIGNAL and LATE_RESULT
// records go, and so do version 6's SEQ records.
Downgrade to_version4(const std::string& s, Keep keep = {}) {
  REQUIRE(s.compare(0, 8, OMNI_STREAM_MAGIC) == 0);
  REQUIRE(load_le(s, 8, 4) == OMNI_STREAM_VERSION);
  Downgrade d;
  d.stream = s.substr(0, OMNI_STREAM_PREAMBLE_BYTES);
  store_le(d.stream, 8, 4, 4);
  struct Block {
    std::vector<std::pair<std::uint32_t, std::uint32_t>> sites;  // size, kind
    std::size_t kept = 0;
  };
  std::vector<Block> blocks;
  const Block* current = nullptr;
  std::size_t next = 0;
  auto dropped_kind = [&](std::uint32_t kind) {
    return !keep.entries && (kind == OMNI_SITE_ENTRY || kind == OMNI_SITE_JUMP);
  };
  std::size_t p = OMNI_STREAM_PREAMBLE_BYTES;
  while (p + 8 <= s.size()) {
    std::uint64_t w = load_le(s, p, 8);
    if (!(w & OMNI_TAG_BIT)) {
      REQUIRE(current != nullptr);
      REQUIRE(next < current->sites.size());
      auto [size, kind] = current->sites[next++];
      std::size_t n = kind == OMNI_SITE_STORE || kind == OMNI_SITE_VALUE ? 8 + size
                      : kind == OMNI_SITE_ENTRY                          ? 8
                                                                         : 16;
      if (dropped_kind(kind))
        ++(kind == OMNI_SITE_ENTRY ? d.entry_sites : d.jump_sites);
      else
        d.stream += s.substr(p, n);
      p += n;
      continue;
    }
    if (((w >> OMNI_KIND_SHIFT) & OMNI_KIND_MASK) == OMNI_KIND_BLOCK) {
      std::uint32_t id = (w >> OMNI_BLOCK_ID_SHIFT) & OMNI_BLOCK_ID_MAX;
      REQUIRE(id < blocks.size());
      current = &blocks[id];
      next = 0;
      if (current->kept) d.stream += s.substr(p, 8);
      p += 8;
      continue;
    }
    auto type = static_cast<std::uint32_t>((w >> OMNI_EXT_TYPE_SHIFT) & 0xff);
    auto length = static_cast<std::uint32_t>(w & OMNI_EXT_LEN_MASK);
    REQUIRE(p + 8 + length <= s.size());
    std::string payload = s.substr(p + 8, length);
    p += 8 + length;
    if (type == OMNI_EXT_SEQ) continue;
    if (type == OMNI_EXT_SIGNAL && !keep.signals) {
      ++d.signals;
      continue;
    }
    if (type == OMNI_EXT_SYSCALL && (load_le(payload, 72, 8) & OMNI_SYSCALL_LATE_RESULT) && !keep.late) {
      ++d.late_results;
      continue;
    }
    if (type == OMNI_EXT_MAP) REQUIRE_MESSAGE(!(load_le(payload, 24, 4) & OMNI_PROT_SHARED), "a shared mapping");
    if (type == OMNI_EXT_BLOCK_DEF) {
      auto id = static_cast<std::uint32_t>(load_le(payload, 0, 4));
      auto count = static_cast<std::uint32_t>(load_le(payload, 4, 4));
      if (id >= blocks.size()) {
        std::size_t at = current ? current - blocks.data() : 0;
        bool had = current != nullptr;
        blocks.resize(id + 1);
        if (had) current = &blocks[at];
      }
      Block& block = blocks[id];
      block.sites.clear();
      block.kept = 0;
      std::string sites;
      for (std::uint32_t i = 0; i < count; ++i) {
        std::string def = payload.substr(OMNI_BLOCK_DEF_FIXED_BYTES + i * OMNI_SITE_DEF_BYTES, OMNI_SITE_DEF_BYTES);
        auto size_kind = static_cast<std::uint32_t>(load_le(def, 12, 4));
        std::uint32_t kind = size_kind >> OMNI_SITE_KIND_SHIFT;
        block.sites.push_back({size_kind & OMNI_SITE_SIZE_MASK, kind});
        if (dropped_kind(kind)) continue;
        sites += def;
        ++block.kept;
      }
      std::string fixed = payload.substr(0, OMNI_BLOCK_DEF_FIXED_BYTES);
      store_le(fixed, 4, block.kept, 4);
      payload = fixed + sites + payload.substr(OMNI_BLOCK_DEF_FIXED_BYTES + count * OMNI_SITE_DEF_BYTES);
      w = (w & ~std::uint64_t{OMNI_EXT_LEN_MASK}) | payload.size();
    }
    d.stream += le(w, 8) + payload;
  }
  REQUIRE(p == s.size());
  return d;
}

// Every event a decoder delivers, one line each, in order.
class EventLog : public trace::EventSink {
 public:
  std::vector<std::string> lines;
  std::string output;  // fd 1's bytes

  void on_write(const trace::WriteEvent& e) override {
    add("write {} {} {} {:#x} {:#x} {}", e.time, e.tid, e.by_kernel, e.pc, e.addr, hex(e.data, e.size));
  }
  void on_map(const trace::MapEvent& e) override {
    add("map {} {} {:#x} {} {} {} {}", e.time, e.event, e.start, e.length, e.prot, e.offset, e.path);
  }
  void on_thread_create(std::uint64_t t, std::uint32_t parent, std::uint32_t child) override {
    add("create {} {} {}", t, parent, child);
  }
  void on_thread_run(std::uint64_t t, std::uint32_t tid, std::uint32_t lwp) override { add("run {} {} {}", t, tid, lwp); }
  void on_thread_exit(std::uint64_t t, std::uint32_t tid) override { add("thread_exit {} {}", t, tid); }
  void on_exit(std::uint64_t t, std::int32_t code) override { add("exit {} {}", t, code); }
  void on_syscall(const trace::SyscallEvent& e) override {
    add("syscall {} {} {} {} {} {} {} {} {} {} {} late={}", e.time, e.tid, e.nr, e.args[0], e.args[1], e.args[2],
        e.args[3], e.args[4], e.args[5], e.has_result, e.has_result ? e.result : 0, e.late_result);
  }
  void on_output(std::uint64_t t, std::uint32_t tid, std::uint32_t fd, const std::uint8_t* data,
                 std::size_t size) override {
    add("output {} {} {} {}", t, tid, fd, hex(data, size));
    if (fd == 1) output.append(reinterpret_cast<const char*>(data), size);
  }
  void on_initial(std::uint64_t addr, const std::uint8_t* data, std::size_t size) override {
    add("initial {:#x} {}", addr, hex(data, size));
  }
  void on_block_def(const trace::BlockDefEvent& e) override {
    add("block_def {} {:#x} {} {}", e.id, e.addr, e.time, hex(e.ir, e.ir_size));
  }
  void on_snapshot(std::uint64_t t, std::uint32_t tid, const std::uint8_t* state, std::size_t size) override {
    add("snapshot {} {} {}", t, tid, hex(state, size));
  }
  void on_value(std::uint64_t t, std::uint32_t tid, const std::uint8_t* data, std::size_t size) override {
    add("value {} {} {}", t, tid, hex(data, size));
  }
  void on_call(const trace::BranchEvent& e) override { add("call {}", branch(e)); }
  void on_return(const trace::BranchEvent& e) override { add("return {}", branch(e)); }
  void on_jump(const trace::BranchEvent& e) override { add("jump {}", branch(e)); }
  void on_entry(const trace::BranchEvent& e) override { add("entry {}", branch(e)); }
  void on_signal(const trace::SignalEvent& e) override {
    add("signal {} {} {} {:#x} {:#x} {:#x} {:#x}", e.time, e.tid, e.signal, e.pc, e.rsp, e.handler, e.handler_rsp);
  }

 private:
  template <typename... Args>
  void add(fmt::format_string<Args...> format, Args&&... args) {
    lines.push_back(fmt::format(format, std::forward<Args>(args)...));
  }
  static std::string hex(const std::uint8_t* p, std::size_t n) {
    std::string s;
    for (std::size_t i = 0; i < n; ++i) s += fmt::format("{:02x}", p[i]);
    return s;
  }
  static std::string branch(const trace::BranchEvent& e) {
    return fmt::format("{} {} {:#x} {:#x} {:#x}", e.time, e.tid, e.pc, e.rsp, e.target);
  }
};

struct Decoded {
  EventLog log;
  const trace::StreamVersion* version = nullptr;
};

// Decodes `stream` in pieces of 4093 bytes (records span pieces), accepting
// `gaps`.
Decoded decode(const std::string& stream, std::uint32_t gaps) {
  Decoded d;
  trace::StreamDecoder decoder(d.log, gaps);
  const auto* bytes = reinterpret_cast<const std::uint8_t*>(stream.data());
  for (std::size_t at = 0; at < stream.size(); at += 4093)
    decoder.feed(bytes + at, std::min<std::size_t>(4093, stream.size() - at));
  CHECK(decoder.leftover() == 0);
  CHECK(decoder.saw_exit());
  d.version = decoder.version();
  return d;
}

// The decoder's error for `stream` (empty if it decodes).
std::string decode_error(const std::string& stream, std::uint32_t gaps) {
  try {
    decode(stream, gaps);
  } catch (const omni::Error& e) {
    return e.what();
  }
  return {};
}

bool starts_with(const std::string& s, const std::string& prefix) { return s.compare(0, prefix.size(), prefix) == 0; }

const trace::StreamVersion& version4() {
  const trace::StreamVersion* v = trace::find_stream_version(4);
  REQUIRE(v != nullptr);
  return *v;
}

// `omni index` of DIR fails in one line saying it cannot read `version`,
// naming a commit of this repository whose stream.h has that version; no
// index is left.
void check_refused(const fs::path& dir, unsigned version, const std::string& expect) {
  RunResult ix = run_omni({"index", dir.string()});
  INFO("omni index: ", ix.describe());
  check_error(ix);
  CHECK(ix.err.find("trace stream has version " + std::to_string(version) + ", written by an older omni") !=
        std::string::npos);
  CHECK(ix.err.find(expect) != std::string::npos);
  CHECK_FALSE(fs::exists(dir / "index.db"));
  std::size_t at = ix.err.find("as of commit ");
  REQUIRE(at != std::string::npos);
  std::string commit = ix.err.substr(at + 13, ix.err.find(' ', at + 13) - at - 13);
  RunResult show = run({"git", "-C", OMNI_SOURCE_DIR, "show", commit + ":libs/trace/include/omni/trace/stream.h"});
  if (show.status == 0)
    CHECK(show.out.find("#define OMNI_STREAM_VERSION " + std::to_string(version) + "u") != std::string::npos);
  else
    MESSAGE("no git history here to check commit " << commit << " against");
}

}  // namespace

TEST_CASE("stream versions: one entry per version, the current one last, older ones naming their commit") {
  const auto& table = trace::kStreamVersions;
  for (std::size_t i = 0; i < std::size(table); ++i) {
    CAPTURE(i);
    CHECK(table[i].version == i + 1);
    const bool current = table[i].version == OMNI_STREAM_VERSION;
    CHECK((table[i].last_reader == nullptr) == current);
    // A readable older version holds a subset of the current one's records
    // and flags, and says what it lacks; an unreadable one says why.
    if (table[i].readable && !current) {
      const auto& now = table[std::size(table) - 1];
      CHECK((table[i].ext_types & ~now.ext_types) == 0);
      CHECK((table[i].site_kinds & ~now.site_kinds) == 0);
      CHECK((table[i].syscall_flags & ~now.syscall_flags) == 0);
      CHECK((table[i].map_prot & ~now.map_prot) == 0);
      // Version 6 differs from 7 only in the preamble flags 7 may carry
      // (every block entry, delta times; --no-every-block writes none): it
      // lacks nothing a --no-every-block recording has.
      if (table[i].version == 6) {
        CHECK(table[i].gaps == 0);
        CHECK(OMNI_STREAM_VERSION == 7);
      } else {
        CHECK(table[i].gaps != 0);
        CHECK_FALSE(trace::describe_stream_gaps(table[i].gaps).empty());
      }
    }
    if (!table[i].readable) CHECK(std::string(table[i].unreadable_because).size() > 0);
  }
  CHECK(trace::find_stream_version(0) == nullptr);
  CHECK(trace::find_stream_version(OMNI_STREAM_VERSION + 1) == nullptr);
}

TEST_CASE("stream versions: a version-4 stream decodes into the same events, less what version 5 added") {
  // A failed execve (a LATE_RESULT record in version 5) and signal handlers
  // (SIGNAL records); both call libc through PLT stubs (ENTRY sites).
  for (const char* name : {"execve_missing", "sig_handlers"}) {
    CAPTURE(name);
    Recording rec = record_flagless(name);
    const std::string v5 = raw_stream(rec.dir / "trace.omni");
    const Downgrade v4 = to_version4(v5);
    CHECK(v4.entry_sites > 0);
    Decoded now = decode(v5, 0);
    Decoded old = decode(v4.stream, version4().gaps);
    REQUIRE(now.version != nullptr);
    REQUIRE(old.version != nullptr);
    CHECK(now.version->version == OMNI_STREAM_VERSION);
    CHECK(old.version->version == 4);

    // The independent truth: the version-5 stream's events, less those the
    // version-4 recorder did not write.
    std::vector<std::string> expect;
    int entries = 0, jumps = 0, signals = 0, late = 0;
    for (const std::string& line : now.log.lines) {
      if (starts_with(line, "entry ")) ++entries;
      else if (starts_with(line, "jump ")) ++jumps;
      else if (starts_with(line, "signal ")) ++signals;
      else if (starts_with(line, "syscall ") && line.ends_with("late=true")) ++late;
      else expect.push_back(line);
    }
    CHECK(entries == v4.entry_sites);
    CHECK(jumps == v4.jump_sites);
    CHECK(signals == v4.signals);
    CHECK(late == v4.late_results);
    CHECK(old.log.lines.size() == expect.size());
    auto [differ, _] = std::mismatch(old.log.lines.begin(), old.log.lines.end(), expect.begin(), expect.end());
    if (differ != old.log.lines.end()) {
      std::size_t at = differ - old.log.lines.begin();
      FAIL_CHECK("event " << at << " differs: version 4 " << *differ << " / version 5 "
                          << (at < expect.size() ? expect[at] : std::string("(none)")));
    }
    // And what the program printed, byte for byte.
    CHECK(old.log.output == rec.rec.out);

    if (std::string(name) == "execve_missing") {
      // The failed execve: version 5 gives its result, -ENOENT as the program
      // printed; version 4 has the call without one, and no result at all.
      REQUIRE(late == 1);
      CHECK(rec.rec.out.find("execve=-1 errno=2\n") != std::string::npos);
      int execves = 0;
      for (const std::string& line : old.log.lines) {
        std::istringstream fields(line);
        std::string word, time, tid, nr;
        fields >> word >> time >> tid >> nr;
        if (word != "syscall" || nr != "59") continue;  // execve
        ++execves;
        CHECK(line.ends_with(" false 0 late=false"));  // has_result false
      }
      CHECK(execves == 1);
      bool found = false;
      for (const std::string& line : now.log.lines)
        if (starts_with(line, "syscall ") && line.ends_with(" true -2 late=true")) found = true;
      CHECK(found);
    } else {
      CHECK(signals > 0);
      CHECK(rec.rec.out.find("usr1=3") != std::string::npos);
    }
  }
}

TEST_CASE("stream versions: an older stream omni cannot answer exactly is refused naming the omni that reads it") {
  Recording rec = record_flagless("execve_missing");
  const std::string v5 = raw_stream(rec.dir / "trace.omni");
  const Downgrade v4 = to_version4(v5);

  SUBCASE("version 4: omni index names what it lacks and commit e28eccc") {
    fs::path dir = write_trace(rec.dir / "trace.omni", rec.tmp / "v4", v4.stream);
    check_refused(dir, 4, "as of commit e28eccc");
    RunResult ix = run_omni({"index", dir.string()});
    for (std::uint32_t gap = 1; gap <= trace::kGapSharedMappings; gap <<= 1)
      if (version4().gaps & gap) CHECK(ix.err.find(trace::describe_stream_gaps(gap)) != std::string::npos);
    // The decoder itself reads it for a reader that accepts those gaps.
    CHECK(decode_error(v4.stream, version4().gaps).empty());
    CHECK(decode_error(v4.stream, version4().gaps & ~trace::kGapLateResults).find("failed execve results") !=
          std::string::npos);
  }

  SUBCASE("version 3 (and 1, 2): another encoding, refused naming its commit") {
    std::string v3 = v4.stream;
    store_le(v3, 8, 3, 4);
    check_refused(write_trace(rec.dir / "trace.omni", rec.tmp / "v3", v3), 3, "as of commit 6abe7e2");
    for (unsigned v : {1u, 2u}) {
      std::string s = v4.stream;
      store_le(s, 8, v, 4);
      std::string error = decode_error(s, ~0u);
      CHECK(error.find("cannot read it") != std::string::npos);
      CHECK(error.find(trace::find_stream_version(v)->last_reader) != std::string::npos);
    }
  }

  SUBCASE("a later version is a newer omni's") {
    std::string s = v5;
    store_le(s, 8, OMNI_STREAM_VERSION + 1, 4);
    CHECK(decode_error(s, ~0u).find("written by a newer omni") != std::string::npos);
  }
}

TEST_CASE("stream versions: a version-5 record in a version-4 stream is damage") {
  Recording sig = record_flagless("sig_handlers");
  Recording exe = record_flagless("execve_missing");
  const std::string sig5 = raw_stream(sig.dir / "trace.omni");
  const std::string exe5 = raw_stream(exe.dir / "trace.omni");
  const std::uint32_t gaps = version4().gaps;
  auto check_corrupt = [&](const std::string& stream, std::initializer_list<std::string> what) {
    std::string error = decode_error(stream, gaps);
    INFO("error: ", error);
    CHECK(starts_with(error, "trace file is corrupt: "));
    for (const std::string& part : what) CHECK(error.find(part) != std::string::npos);
    CHECK(error.find("stream byte ") != std::string::npos);
  };

  SUBCASE("ENTRY and JUMP sites") {
    Keep keep;
    keep.entries = true;
    // The first ENTRY (kind 4) or JUMP (kind 5) site defined.
    check_corrupt(to_version4(sig5, keep).stream, {" site ", "has kind ", " in a version-4 stream (a later version's)"});
  }
  SUBCASE("a SIGNAL record") {
    Keep keep;
    keep.signals = true;
    check_corrupt(to_version4(sig5, keep).stream, {"SIGNAL record in a version-4 stream"});
  }
  SUBCASE("a LATE_RESULT syscall record") {
    Keep keep;
    keep.late = true;
    check_corrupt(to_version4(exe5, keep).stream, {"SYSCALL with flags 0x2 in a version-4 stream"});
  }
  SUBCASE("a shared mapping") {
    std::string s = to_version4(exe5).stream;
    // The first MAP record's prot (payload bytes 24-27) gets OMNI_PROT_SHARED.
    std::size_t p = OMNI_STREAM_PREAMBLE_BYTES;
    bool done = false;
    while (!done && p + 8 <= s.size()) {
      std::uint64_t w = load_le(s, p, 8);
      REQUIRE((w & OMNI_TAG_BIT) != 0);  // the first records are EXT ones (MAP, INITIAL, TIME...)
      REQUIRE(((w >> OMNI_KIND_SHIFT) & OMNI_KIND_MASK) == OMNI_KIND_EXT);
      if (((w >> OMNI_EXT_TYPE_SHIFT) & 0xff) == OMNI_EXT_MAP) {
        store_le(s, p + 8 + 24, load_le(s, p + 8 + 24, 4) | OMNI_PROT_SHARED, 4);
        done = true;
      }
      p += 8 + (w & OMNI_EXT_LEN_MASK);
    }
    REQUIRE(done);
    check_corrupt(s, {"MAP with protection bits", "in a version-4 stream"});
    // The same bit in a version-5 stream is a shared mapping, not damage.
    CHECK(decode_error(s.replace(8, 4, le(5, 4)), 0).find("MAP with protection bits") == std::string::npos);
  }
}

TEST_CASE("stream versions: a version-5 process tree (no SEQ records) indexes, one order across its processes is refused") {
  Recording r = record_flagless("process_tree");
  // Each process's stream as the version-5 recorder wrote it: today's
  // without SEQ records (everything else kept), preamble 5.
  TempDir t;
  fs::path old = t / "v5";
  Keep all;
  all.entries = all.signals = all.late = true;
  size_t processes = 0;
  for (const auto& entry : fs::recursive_directory_iterator(r.dir)) {
    if (entry.path().filename() != "trace.omni") continue;
    fs::path rel = fs::relative(entry.path().parent_path(), r.dir);
    std::string s = raw_stream(entry.path());
    if (!s.empty()) {  // a process killed before its tool handed anything over has none
      s = to_version4(s, all).stream;
      store_le(s, 8, 5, 4);
    }
    write_trace(entry.path(), old / rel, s);
    ++processes;
  }
  REQUIRE(processes == 6);
  RunResult ix = run_omni({"index", old.string()});
  INFO("omni index: ", ix.describe());
  REQUIRE(ix.status == 0);
  // Per process, answers as before.
  RunResult one = run_omni({"query", old.string(), "--process", "2", "--output"});
  CHECK(one.status == 0);
  CHECK(one.out.find("child0 g_value 100") != std::string::npos);
  // Across processes: no order to give, said in one line.
  RunResult all_out = run_omni({"query", old.string(), "--output"});
  check_error(all_out);
  CHECK(all_out.err.find("has no order among the other processes'") != std::string::npos);
}
