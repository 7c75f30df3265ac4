// The address index, checked in-process on a real recording: which chunks a
// where-written query decompresses.
#include <doctest/doctest.h>

#include "harness.h"
#include "omni/index/reader.h"
#include "omni_fixture.h"

using namespace omni::test;

TEST_CASE("index: a quiet variable beside a hot one reads only the chunks that wrote it") {
  auto rec = record("neighbours");
  Symbol pair = nm_symbol(rec.prog, "g_pair");
  REQUIRE(pair.size == 16);
  const std::uint64_t hot = pair.addr, quiet = pair.addr + 8;

  // The truth about which chunks wrote what comes from the query's answers
  // (checked against the program below) and the chunks' time ranges.
  auto quiet_writes = where_written(rec.dir, hex_address(quiet) + ":8");
  REQUIRE(quiet_writes.size() == 2);
  CHECK(le_signed(quiet_writes.back().data) == 2);
  CHECK(kv(rec.rec.out, "g_quiet") == std::string("2"));
  auto hot_writes = where_written(rec.dir, hex_address(hot) + ":8");
  CHECK(hot_writes.size() == 300000);

  omni::index::IndexReader reader(rec.dir.string());
  const auto& chunks = reader.chunks();
  auto chunk_of = [&](std::uint64_t time) {
    for (const auto& c : chunks)
      if (c.time_first <= time && time <= c.time_last) return c.id;
    FAIL("no chunk holds time ", time);
    return 0u;
  };
  std::vector<std::uint32_t> expected;
  for (const auto& w : quiet_writes) expected.push_back(chunk_of(w.time));
  std::sort(expected.begin(), expected.end());
  expected.erase(std::unique(expected.begin(), expected.end()), expected.end());

  std::vector<std::uint32_t> hot_chunks = reader.chunks_writing(hot, 8);
  REQUIRE(hot_chunks.size() >= 4);  // the hot loop spans several chunks
  // The quiet variable's lookup names exactly the chunks holding its writes,
  // not the hot neighbour's.
  CHECK(reader.chunks_writing(quiet, 8) == expected);
  // The whole cache line needs both.
  CHECK(reader.chunks_writing(hot, 16).size() == hot_chunks.size());
}
