// The decoder's own checks of the raw stream (docs/index-format.md, "What the
// decoder checks"): a stream damaged in ways its frame checksums cannot see -
// a faulty or hostile recorder, re-compressed with valid checksums - must make
// `omni index` fail in one line naming the damage, never index a wrong answer.
#include <cstring>
#include <zstd.h>

#include "../libs/trace/include/omni/trace/stream.h"
#include "omni_fixture.h"

using namespace omni::test;

namespace {

struct StreamFrame {
  std::size_t offset;  // of the frame header in trace.omni
  std::uint32_t size;
  std::uint64_t raw;
};

// trace.omni split into its STREAM frames and the raw stream they carry.
struct Trace {
  std::string file;
  std::vector<StreamFrame> frames;
  std::string stream;  // the STREAM frames' raw bytes, concatenated
};

Trace open_trace(const fs::path& path) {
  Trace t;
  t.file = read_file(path);
  std::size_t p = 16;
  while (p + 16 <= t.file.size()) {
    auto kind = static_cast<std::uint32_t>(load_le(t.file, p, 4));
    auto size = static_cast<std::uint32_t>(load_le(t.file, p + 4, 4));
    std::uint64_t raw = load_le(t.file, p + 8, 8);
    REQUIRE(p + 16 + size <= t.file.size());
    if (kind == 2) {
      std::string out(raw, '\0');
      std::size_t n = ZSTD_decompress(out.data(), raw, t.file.data() + p + 16, size);
      REQUIRE_FALSE(ZSTD_isError(n));
      REQUIRE(n == raw);
      t.frames.push_back({p, size, raw});
      t.stream += out;
    }
    p += 16 + size;
  }
  REQUIRE(p == t.file.size());
  REQUIRE_FALSE(t.frames.empty());
  return t;
}

// trace.omni with `stream` in place of the original raw stream: the same frame
// boundaries (the last frame takes any change of length), each frame
// recompressed with a valid checksum and its header sizes fixed.
std::string rebuild(const Trace& t, const std::string& stream) {
  std::string out = t.file.substr(0, t.frames.front().offset);
  std::size_t from = 0;
  for (std::size_t i = 0; i < t.frames.size(); ++i) {
    const StreamFrame& f = t.frames[i];
    if (i > 0) {
      // Whatever lies between STREAM frames (none, normally) stays.
      const StreamFrame& prev = t.frames[i - 1];
      std::size_t gap = prev.offset + 16 + prev.size;
      out += t.file.substr(gap, f.offset - gap);
    }
    std::size_t n = i + 1 == t.frames.size() ? stream.size() - from : f.raw;
    std::string payload = zstd_frame(stream.substr(from, n));
    from += n;
    std::string header(16, '\0');
    store_le(header, 0, 2, 4);
    store_le(header, 4, payload.size(), 4);
    store_le(header, 8, n, 8);
    out += header + payload;
  }
  const StreamFrame& last = t.frames.back();
  out += t.file.substr(last.offset + 16 + last.size);
  return out;
}

// One record of the raw stream: where it starts and, for EXT records, its type.
struct Record {
  std::size_t at;
  bool block;  // a BLOCK word
  bool ext;
  std::uint32_t type;  // OMNI_EXT_*, for ext
  std::uint32_t length;
};

// Walks the stream's records as stream.h defines them (an independent reading
// of the format, so the test finds its targets without the decoder's help).
std::vector<Record> records_of(const std::string& s) {
  REQUIRE(s.compare(0, 8, OMNI_STREAM_MAGIC) == 0);
  struct Site {
    std::uint32_t size, kind;
  };
  std::vector<std::vector<Site>> blocks;
  const std::vector<Site>* current = nullptr;
  std::size_t next = 0;
  std::vector<Record> out;
  std::size_t p = OMNI_STREAM_PREAMBLE_BYTES;
  while (p + 8 <= s.size()) {
    std::uint64_t w = load_le(s, p, 8);
    if (!(w & OMNI_TAG_BIT)) {
      REQUIRE(current != nullptr);
      REQUIRE(next < current->size());
      const Site& site = (*current)[next++];
      if (site.kind == OMNI_SITE_STORE || site.kind == OMNI_SITE_VALUE)
        p += 8 + site.size;
      else if (site.kind == OMNI_SITE_ENTRY)
        p += 8;
      else
        p += 16;
      continue;
    }
    if (((w >> OMNI_KIND_SHIFT) & OMNI_KIND_MASK) == OMNI_KIND_BLOCK) {
      std::uint32_t id = (w >> OMNI_BLOCK_ID_SHIFT) & OMNI_BLOCK_ID_MAX;
      REQUIRE(id < blocks.size());
      current = &blocks[id];
      next = 0;
      out.push_back({p, true, false, 0, 0});
      p += 8;
      continue;
    }
    Record r{p, false, true, static_cast<std::uint32_t>((w >> OMNI_EXT_TYPE_SHIFT) & 0xff),
             static_cast<std::uint32_t>(w & OMNI_EXT_LEN_MASK)};
    REQUIRE(p + 8 + r.length <= s.size());
    if (r.type == OMNI_EXT_BLOCK_DEF) {
      auto id = static_cast<std::uint32_t>(load_le(s, p + 8, 4));
      auto count = static_cast<std::uint32_t>(load_le(s, p + 12, 4));
      if (id >= blocks.size()) {
        std::size_t cur = current ? current - blocks.data() : 0;
        bool had = current != nullptr;
        blocks.resize(id + 1);
        if (had) current = &blocks[cur];
      }
      blocks[id].clear();
      for (std::uint32_t i = 0; i < count; ++i) {
        auto sk = static_cast<std::uint32_t>(
            load_le(s, p + 8 + OMNI_BLOCK_DEF_FIXED_BYTES + i * OMNI_SITE_DEF_BYTES + 12, 4));
        blocks[id].push_back({sk & OMNI_SITE_SIZE_MASK, sk >> OMNI_SITE_KIND_SHIFT});
      }
    }
    out.push_back(r);
    p += 8 + r.length;
  }
  REQUIRE(p == s.size());
  return out;
}

// `omni index` of trace.omni rewritten to carry `stream`.
RunResult index_with(const Recording& rec, const Trace& t, const std::string& stream) {
  fs::remove(rec.dir / "index.db");
  write_file(rec.dir / "trace.omni", rebuild(t, stream));
  return run_omni({"index", rec.dir.string()});
}

void check_rejected(const Recording& rec, const RunResult& ix, const std::string& what) {
  INFO("damage: ", what, "; omni index: ", ix.describe());
  check_error(ix);
  CHECK(ix.err.find("trace file is corrupt: ") != std::string::npos);
  CHECK(ix.err.find("stream byte ") != std::string::npos);
  CHECK_FALSE(fs::exists(rec.dir / "index.db"));
  CHECK_FALSE(fs::exists(rec.dir / "index.db.tmp"));
}

}  // namespace

TEST_CASE("stream validation: damage with valid checksums fails indexing in one line") {
  Recording rec = record("globals", {}, 0, /*index=*/false);
  const Trace t = open_trace(rec.dir / "trace.omni");
  const std::vector<Record> recs = records_of(t.stream);

  SUBCASE("the undamaged stream, re-encoded, still indexes") {
    RunResult ix = index_with(rec, t, t.stream);
    INFO("omni index: ", ix.describe());
    CHECK(ix.status == 0);
    CHECK(ix.err.find("warning") == std::string::npos);
    CHECK(fs::is_regular_file(rec.dir / "index.db"));
    // And answers what the program printed when it printed it.
    CHECK(std::to_string(le_signed(from_hex(read_at(rec.dir, "g_counter", "output:1")["data"].s))) ==
          kv(rec.rec.out, "g_counter").value_or("?"));
  }

  SUBCASE("a BLOCK word's time jumps by 2^35") {
    // The first BLOCK word followed by a record with a full count (TIME,
    // THREAD_RUN, SNAPSHOT, EXIT) that proves the jump impossible.
    const Record* target = nullptr;
    for (std::size_t i = 0; i < recs.size() && !target; ++i) {
      if (!recs[i].block) continue;
      for (std::size_t j = i + 1; j < recs.size(); ++j)
        if (recs[j].ext && (recs[j].type == OMNI_EXT_TIME || recs[j].type == OMNI_EXT_EXIT)) {
          target = &recs[i];
          break;
        }
    }
    REQUIRE(target != nullptr);
    std::string s = t.stream;
    std::uint64_t w = load_le(s, target->at, 8);
    std::uint64_t low = (w & OMNI_BLOCK_TIME_MASK) + (1ull << 35);
    w = (w & ~OMNI_BLOCK_TIME_MASK) | (low & OMNI_BLOCK_TIME_MASK);
    store_le(s, target->at, w, 8);
    check_rejected(rec, index_with(rec, t, s), "BLOCK time + 2^35");
  }

  SUBCASE("a full count goes backwards") {
    // The last TIME record (the EXIT record in a stream of one buffer) says
    // an earlier time than records before it.
    const Record* target = nullptr;
    for (const Record& r : recs)
      if (r.ext && r.type == OMNI_EXT_TIME) target = &r;  // the last TIME record
    if (!target)
      for (const Record& r : recs)
        if (r.ext && r.type == OMNI_EXT_EXIT) target = &r;
    REQUIRE(target != nullptr);
    std::string s = t.stream;
    std::uint64_t v = load_le(s, target->at + 8, 8);
    REQUIRE(v > 1000);  // the program ran more than a few instructions before it
    store_le(s, target->at + 8, v / 2, 8);
    check_rejected(rec, index_with(rec, t, s), "full count halved");
  }

  SUBCASE("an earlier stream version names the last omni that reads it; a later one is refused") {
    // Version 5 lacks only the order across processes, which `omni index`
    // states as unknown: it indexes (test_stream_versions). Version 4 is the
    // latest that it refuses.
    const unsigned refused = 4;
    std::string s = t.stream;
    store_le(s, 8, refused, 4);  // the preamble: magic, then the version
    RunResult ix = index_with(rec, t, s);
    INFO("omni index: ", ix.describe());
    check_error(ix);
    CHECK(ix.err.find("version " + std::to_string(refused) + ", written by an older omni") != std::string::npos);
    // The commit named is one of this repository's whose stream.h says that version.
    std::size_t at = ix.err.find("as of commit ");
    REQUIRE(at != std::string::npos);
    std::string commit = ix.err.substr(at + 13, ix.err.find(' ', at + 13) - at - 13);
    RunResult show = run({"git", "-C", OMNI_SOURCE_DIR, "show", commit + ":libs/trace/include/omni/trace/stream.h"});
    if (show.status == 0)  // a source tree without git history cannot check this
      CHECK(show.out.find("#define OMNI_STREAM_VERSION " + std::to_string(refused) + "u") != std::string::npos);
    else
      MESSAGE("no git history here to check commit " << commit << " against");
    s = t.stream;
    store_le(s, 8, OMNI_STREAM_VERSION + 1, 4);
    RunResult newer = index_with(rec, t, s);
    check_error(newer);
    CHECK(newer.err.find("written by a newer omni") != std::string::npos);
  }

  SUBCASE("a MAP record of an unknown kind, or with unknown protection bits") {
    const Record* target = nullptr;
    for (const Record& r : recs)
      if (r.ext && r.type == OMNI_EXT_MAP && !target) target = &r;
    REQUIRE(target != nullptr);
    std::string s = t.stream;
    store_le(s, target->at + 8 + 28, OMNI_MAP_BRK_SHRINK + 1, 4);  // the kind, after time, start, length, prot
    check_rejected(rec, index_with(rec, t, s), "MAP kind 7");
    s = t.stream;
    store_le(s, target->at + 8 + 24, 0x40, 4);
    check_rejected(rec, index_with(rec, t, s), "MAP prot 0x40");
  }

  SUBCASE("THREAD_RUN names a thread never created") {
    const Record* target = nullptr;
    for (const Record& r : recs)
      if (r.ext && r.type == OMNI_EXT_THREAD_RUN && !target) target = &r;
    REQUIRE(target != nullptr);
    std::string s = t.stream;
    store_le(s, target->at + 8, 77, 4);  // globals is single-threaded: Valgrind tid 1 only
    check_rejected(rec, index_with(rec, t, s), "THREAD_RUN tid 77");
  }

  SUBCASE("an EXT record's length exceeds its type's size") {
    // A TIME or EXIT record claiming 64 KiB: it would swallow the records
    // after it (the stream has them, so nothing is merely cut short).
    const Record* target = nullptr;
    for (const Record& r : recs)
      if (r.ext && (r.type == OMNI_EXT_TIME || r.type == OMNI_EXT_THREAD_RUN) && !target) target = &r;
    REQUIRE(target != nullptr);
    std::string s = t.stream;
    std::uint64_t w = load_le(s, target->at, 8);
    store_le(s, target->at, (w & ~OMNI_EXT_LEN_MASK) | 65536, 8);
    check_rejected(rec, index_with(rec, t, s), "EXT length 65536");
  }

  SUBCASE("a BLOCK_DEF whose site count does not fit its length") {
    const Record* target = nullptr;
    for (const Record& r : recs)
      if (r.ext && r.type == OMNI_EXT_BLOCK_DEF && !target) target = &r;
    REQUIRE(target != nullptr);
    std::string s = t.stream;
    store_le(s, target->at + 12, 0x10000001u, 4);  // count * 16 wraps a u32
    check_rejected(rec, index_with(rec, t, s), "BLOCK_DEF site count");
  }
}
