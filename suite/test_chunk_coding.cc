// Write chunks coded kSameInstruction (index format 15): every event comes
// back as it went in, whatever its size, pc or address, in both codings;
// a real recording's chunks are smaller than kPreviousEvent's; and an index
// of format 14 (chunks coded kPreviousEvent) still reads, with the same
// answers, and passes omni verify.
#include <doctest/doctest.h>

#include <map>
#include <random>
#include <string>
#include <vector>

#include "old_formats.h"
#include "omni/index/chunk.h"
#include "omni/index/db.h"
#include "omni_fixture.h"

namespace omni::test {

namespace {

struct Input {
  index::Event event;  // data_offset into bytes
};

// Events that exercise the model: more instructions than it has slots
// (claims and evictions), pcs 0 and UINT64_MAX, sizes 0 to 33 (the values of
// 1-8 bytes modelled), strided, repeated and random addresses, counters
// and random bytes, kernel writes, thread runs.
index::DecodedChunk synthetic_events(uint32_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<uint64_t> pcs;
  for (int i = 0; i < 6000; ++i) pcs.push_back(0x400000 + rng() % 0x100000);
  pcs.push_back(0);
  pcs.push_back(UINT64_MAX);
  const uint32_t sizes[] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 16, 33};
  std::map<uint64_t, std::pair<uint64_t, uint64_t>> per_pc;  // pc -> (next address, counter)
  index::DecodedChunk c;
  uint64_t time = 1000;
  uint32_t tid = 1;
  for (int i = 0; i < 20000; ++i) {
    time += rng() % 3;
    if (rng() % 500 == 0) tid = 1 + static_cast<uint32_t>(rng() % 3);
    uint64_t pc = pcs[rng() % (rng() % 4 == 0 ? pcs.size() : 40)];
    uint32_t size = sizes[rng() % std::size(sizes)];
    auto& [next, counter] = per_pc[pc];
    uint64_t addr;
    switch (rng() % 3) {
      case 0: addr = next ? next : 0x7ff000 + rng() % 4096; next = addr + size; break;  // a stride
      case 1: addr = 0x601000 + (pc & 0xff) * 8; break;                                 // one slot
      default: addr = rng() % 2 ? rng() : rng() % 0x10000; break;                       // anywhere
    }
    index::Event e{time, tid, rng() % 10 == 0, pc, addr, size, static_cast<uint32_t>(c.data.size())};
    ++counter;
    for (uint32_t b = 0; b < size; ++b)
      c.data.push_back(rng() % 2 ? static_cast<uint8_t>(counter >> (8 * (b % 8))) : static_cast<uint8_t>(rng()));
    c.events.push_back(e);
  }
  return c;
}

void check_same(const index::DecodedChunk& got, const index::DecodedChunk& want, size_t count) {
  REQUIRE(got.events.size() == count);
  for (size_t i = 0; i < count; ++i) {
    const index::Event &g = got.events[i], &w = want.events[i];
    CAPTURE(i);
    REQUIRE(g.time == w.time);
    REQUIRE(g.tid == w.tid);
    REQUIRE(g.by_kernel == w.by_kernel);
    REQUIRE(g.pc == w.pc);
    REQUIRE(g.addr == w.addr);
    REQUIRE(g.size == w.size);
    REQUIRE(std::equal(got.data.begin() + g.data_offset, got.data.begin() + g.data_offset + g.size,
                       want.data.begin() + w.data_offset));
  }
}

}  // namespace

TEST_CASE("chunk coding: every event decodes as it was encoded, in both codings, whole, until a time and by range") {
  for (uint32_t seed : {1u, 2u, 3u}) {
    index::DecodedChunk in = synthetic_events(seed);
    for (index::ChunkCoding coding : {index::ChunkCoding::kSameInstruction, index::ChunkCoding::kPreviousEvent}) {
      CAPTURE(seed);
      CAPTURE(static_cast<int>(coding));
      std::string raw = index::ChunkEncoder::encode(in, coding);
      auto bytes = reinterpret_cast<const uint8_t*>(raw.data());
      index::DecodedChunk out;
      index::decode_raw_chunk(bytes, raw.size(), in.events.front().time, coding, out);
      check_same(out, in, in.events.size());

      // Until a time: the events up to it.
      uint64_t until = in.events[in.events.size() / 3].time;
      size_t prefix = 0;
      while (prefix < in.events.size() && in.events[prefix].time <= until) ++prefix;
      std::string frame = index::compress_chunk(raw, 3);
      index::decode_chunk_into(frame.data(), frame.size(), in.events.front().time, coding, out, until);
      check_same(out, in, prefix);

      // By range: the events that wrote a byte of it, with their bytes.
      uint64_t lo = 0x601000, length = 64;
      index::DecodedChunk want;
      for (const index::Event& e : in.events)
        if (e.addr <= lo + length - 1 && e.addr + e.size > lo) {
          want.events.push_back(e);
          want.events.back().data_offset = static_cast<uint32_t>(want.data.size());
          want.data.insert(want.data.end(), in.data.begin() + e.data_offset,
                           in.data.begin() + e.data_offset + e.size);
        }
      REQUIRE(want.events.size() > 100);
      index::decode_chunk_writes(frame.data(), frame.size(), in.events.front().time, coding, lo, length,
                                 UINT64_MAX, out);
      check_same(out, want, want.events.size());

      // The other coding does not read it back (the index's version decides).
      index::ChunkCoding other = coding == index::ChunkCoding::kSameInstruction
                                     ? index::ChunkCoding::kPreviousEvent
                                     : index::ChunkCoding::kSameInstruction;
      index::decode_raw_chunk(bytes, raw.size(), in.events.front().time, other, out);
      bool same = true;
      for (size_t i = 0; i < out.events.size() && same; ++i) same = out.events[i].addr == in.events[i].addr;
      CHECK_FALSE(same);
    }
  }
}

TEST_CASE("chunk coding: gzip's chunks are smaller than as format 14 coded them, and format 14 reads the same") {
  TempDir t;
  fs::path dir = record_gzip_of_text(t.path(), 3000);

  // Its most written granule, and the moments to ask about.
  uint64_t hot = 0;
  {
    index::Database db((dir / "index.db").string(), index::Database::Mode::ReadOnly);
    index::Statement q(db, "SELECT time_first, data FROM chunks");
    std::map<uint64_t, int> writes;
    index::DecodedChunk chunk;
    while (q.step()) {
      index::decode_chunk_into(q.column_blob(1), q.column_bytes(1), q.column_u64(0),
                               index::ChunkCoding::kSameInstruction, chunk);
      for (const index::Event& e : chunk.events) ++writes[e.addr >> 3];
    }
    int most = 0;
    for (auto [granule, n] : writes)
      if (n > most) most = n, hot = granule << 3;
    MESSAGE("hot granule " << hex_address(hot) << ": " << most << " writes");
    REQUIRE(most > 100);
  }

  fs::path old = t / "old";
  fs::copy(dir, old, fs::copy_options::recursive);
  {
    index::Database db((old / "index.db").string(), index::Database::Mode::Create);
    auto [now, before] = rewrite_as_format(db, 14);
    MESSAGE("chunks: " << now << " bytes, " << before << " as format 14 coded them");
    CHECK(now < before);
  }

  RunResult dump = run_omni({"dump", dir.string(), "--json"});
  REQUIRE(dump.status == 0);
  int64_t instructions = parse_json_object(dump.out)["instructions"].i;
  REQUIRE(instructions > 8);
  std::vector<std::vector<std::string>> questions = {{"--where-written", hex_address(hot)},
                                                     {"--where-written", hex_address(hot & ~uint64_t{4095}) + ":4096"}};
  for (int64_t k = 1; k <= 7; ++k) {
    std::string at = std::to_string(instructions * k / 8);
    questions.push_back({"--registers", "--at", at});
    questions.push_back({"--stack", "--at", at});
    questions.push_back({"--read", hex_address(hot & ~uint64_t{63}) + ":256", "--at", at});
  }
  for (const auto& question : questions) {
    std::vector<std::string> a_args = {"query", dir.string()}, b_args = {"query", old.string()};
    a_args.insert(a_args.end(), question.begin(), question.end());
    b_args.insert(b_args.end(), question.begin(), question.end());
    RunResult a = run_omni(a_args), b = run_omni(b_args);
    CAPTURE(b.describe());
    REQUIRE(a.status == 0);
    CHECK(b.status == 0);
    CHECK(!a.out.empty());
    CHECK(a.out == b.out);
  }
  RunResult v = run_omni({"verify", old.string()});
  INFO("omni verify of format 14: ", v.describe());
  CHECK(v.status == 0);

  // `omni index` builds the current format over it.
  RunResult again = run_omni({"index", "-q", old.string()});
  REQUIRE(again.status == 0);
  CHECK(index_format((old / "index.db").string()) == index::kSchemaVersion);
}

}  // namespace omni::test
