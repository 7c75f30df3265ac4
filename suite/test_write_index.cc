// The address index's segments and carried writers, checked in-process on
// indexes of one recording built with small chunks, so that many segments
// lie between a write and the reads of it: memory read at the moment of each
// line the program printed must hold the values the line printed.
#include <doctest/doctest.h>

#include <algorithm>
#include <cstdint>
#include <string>

#include "harness.h"
#include "omni/index/builder.h"
#include "omni/index/format.h"
#include "omni/index/reader.h"
#include "omni/replay/memory.h"
#include "omni_fixture.h"

using namespace omni::test;

namespace {

// The trace of `rec` indexed anew in a directory of its own.
fs::path reindexed(const Recording& rec, const std::string& name, uint32_t chunk_events, size_t carry_pages) {
  fs::path dir = rec.tmp / name;
  fs::create_directory(dir);
  fs::permissions(dir, fs::perms::owner_all, fs::perm_options::replace);
  fs::copy_file(rec.dir / "trace.omni", dir / "trace.omni");
  omni::index::IndexOptions options;
  options.trace_dir = dir.string();
  options.chunk_events = chunk_events;
  options.carry_pages = carry_pages;
  omni::index::build_index(options, [](const omni::index::IndexProgress&) {});
  return dir;
}

std::int64_t read_long(omni::index::IndexReader& reader, std::uint64_t addr, std::uint64_t time) {
  omni::replay::MemoryImage image = omni::replay::read_memory(reader, addr, 8, time);
  REQUIRE(std::all_of(image.mapped.begin(), image.mapped.end(), [](bool m) { return m; }));
  return le_signed(image.bytes);
}

}  // namespace

TEST_CASE("write index: memory written many segments before a read reads back as the program printed it") {
  Recording rec = record("long_ago");
  const std::uint64_t early = nm_symbol(rec.prog, "g_early").addr, late = nm_symbol(rec.prog, "g_late").addr,
                      hot0 = nm_symbol(rec.prog, "hot_page").addr;
  REQUIRE(hot0 % 4096 == 0);

  struct Variant {
    const char* name;
    fs::path dir;
    bool carry_complete;
  };
  // As `omni index` built it (one segment); 64-event chunks with every
  // writer carried; the same with the builder's memory of writers cut to
  // nothing, so that every row after the first segment has incomplete
  // carries and lookups walk back row by row.
  const std::vector<Variant> variants = {
      {"default", rec.dir, true},
      {"small chunks", reindexed(rec, "small", 64, size_t{1} << 15), true},
      {"small chunks, writers forgotten", reindexed(rec, "forgetful", 64, 0), false},
  };
  for (const Variant& v : variants) {
    CAPTURE(v.name);
    omni::index::IndexReader reader(v.dir.string());
    if (v.dir != rec.dir) {
      // Many segments between the phases' writes.
      REQUIRE(reader.chunks().size() >= 20 * omni::index::kWriteChunksPerSegment);
      // The hot page's last row: its first word, last written in phase 2,
      // is carried (not rewritten in the last segment) where the builder
      // kept the writers, and the row says so where it did not.
      auto row = reader.write_row(hot0 >> 12, UINT32_MAX);
      REQUIRE(row);
      CHECK(row->segment > 0);
      CHECK(row->carry_complete == v.carry_complete);
      std::vector<std::uint32_t> writers = reader.chunks_writing(hot0, 8);
      REQUIRE(writers.size() == 2);
      std::optional<std::uint32_t> carried = row->carried_writer(hot0 >> 3);
      if (v.carry_complete) {
        REQUIRE(carried);
        CHECK(*carried == writers.back());
      }
      CHECK(row->list(hot0 >> 3) == nullptr);
    }
    // The chunks writing a range, oldest and newest first, hopping along
    // carried writers (a page or two) or walking rows (more pages), against
    // every chunk's decoded events.
    const std::vector<std::pair<std::uint64_t, std::uint64_t>> ranges = {
        {early, 8}, {late, 8}, {hot0, 8}, {hot0 + 8, 8}, {hot0 + 4088, 16}, {hot0 - 4096, 3 * 4096}};
    std::vector<omni::index::DecodedChunk> decoded;
    for (std::uint32_t id = 0; id < reader.chunk_count(); ++id) decoded.push_back(reader.load_chunk(id));
    for (const auto& [addr, length] : ranges) {
      CAPTURE(addr);
      CAPTURE(length);
      std::vector<std::uint32_t> truth;
      for (std::uint32_t id = 0; id < decoded.size(); ++id)
        for (const omni::index::Event& e : decoded[id].events)
          if (e.addr < addr + length && e.addr + e.size > addr) {
            truth.push_back(id);
            break;
          }
      CHECK(reader.chunks_writing(addr, length) == truth);
      std::vector<std::uint32_t> newest;
      reader.chunks_writing(addr, length, true, [&](std::uint32_t id) {
        newest.push_back(id);
        return true;
      });
      CHECK(std::vector<std::uint32_t>(newest.rbegin(), newest.rend()) == truth);
    }
    int phases = 0;
    for (const omni::index::OutputRow& out : reader.output()) {
      if (out.fd != 1) continue;
      std::string line(out.data.begin(), out.data.end());
      CAPTURE(line);
      REQUIRE(kv(line, "phase"));
      ++phases;
      CHECK(std::to_string(read_long(reader, early, out.time)) == *kv(line, "g_early"));
      CHECK(std::to_string(read_long(reader, hot0, out.time)) == *kv(line, "hot0"));
      CHECK(std::to_string(read_long(reader, late, out.time)) == *kv(line, "g_late"));
    }
    CHECK(phases == 4);
  }
}
