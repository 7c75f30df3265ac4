// Memory written right after a map event in the middle of a chunk (issue 7):
// the index's per-chunk finals must keep those writes for later chunks, so
// that --read, and register replay's loads, see them at any later time. The
// truth is the program's own output.
#include <doctest/doctest.h>

#include "harness.h"
#include "omni_fixture.h"

using namespace omni::test;

namespace {

std::vector<std::uint8_t> read_bytes(const fs::path& dir, std::uint64_t addr, std::uint64_t size,
                                     const std::string& at) {
  Object o = read_at(dir, hex_address(addr) + ":" + std::to_string(size), at);
  REQUIRE(o["unmapped"].array.empty());
  return from_hex(o["data"].s);
}

std::int64_t field(const std::vector<std::uint8_t>& bytes, std::size_t offset, std::size_t size) {
  return le_signed(std::vector<std::uint8_t>(bytes.begin() + offset, bytes.begin() + offset + size));
}

// struct fields { int32_t a; int16_t b; int16_t c; } as the program printed it.
struct Printed {
  std::uint64_t addr;
  std::int64_t a, b, c, sum;
};

Printed printed(const std::string& line, const std::string& name) {
  INFO("program output line: ", line);
  auto addr = kv(line, name);
  REQUIRE(addr);
  return {parse_address(*addr), std::stoll(kv(line, "a").value()), std::stoll(kv(line, "b").value()),
          std::stoll(kv(line, "c").value()), std::stoll(kv(line, "sum").value())};
}

}  // namespace

TEST_CASE("memory: fields written right after sbrk or mmap in a busy chunk read back later as printed") {
  auto rec = record("sbrk_fields");
  auto lines = split_lines(rec.rec.out);
  REQUIRE(lines.size() == 2);
  std::vector<Printed> structs = {printed(lines[0], "sbrk"), printed(lines[1], "mmap")};

  for (const Printed& p : structs) {
    CAPTURE(hex_address(p.addr));
    // At the end: every field as printed.
    auto end = read_bytes(rec.dir, p.addr, 8, "end");
    CHECK(field(end, 0, 4) == p.a);
    CHECK(field(end, 4, 2) == p.b);
    CHECK(field(end, 6, 2) == p.c);

    // b and c were written once each, with the printed values; fresh memory
    // from sbrk and mmap starts as zeros.
    auto bc = where_written(rec.dir, hex_address(p.addr + 4) + ":4");
    CHECK(bc.size() == 2);
    auto rebuilt = apply_writes(bc, p.addr + 4, 4);
    CHECK(field(rebuilt, 0, 2) == p.b);
    CHECK(field(rebuilt, 2, 2) == p.c);

    // Halfway through the loop that rewrites only a (several chunks after
    // the map event): b and c already hold their values, a the loop's.
    auto as = where_written(rec.dir, hex_address(p.addr) + ":4");
    REQUIRE(as.size() > 1000);
    const Write& middle = as[as.size() / 2];
    REQUIRE(!bc.empty());
    CHECK(middle.time > bc.back().time);
    auto mid = read_bytes(rec.dir, p.addr, 8, std::to_string(middle.time));
    CHECK(field(mid, 0, 4) == le_signed(middle.data));
    CHECK(field(mid, 4, 2) == p.b);
    CHECK(field(mid, 6, 2) == p.c);
  }

  // Register replay loads the same memory: sum_fields's return value, replayed
  // from its loads of a, b and c, is the sum the program printed.
  RunResult calls = run_omni({"query", rec.dir.string(), "--calls", "sum_fields"});
  INFO(calls.describe());
  REQUIRE(calls.status == 0);
  auto rows = parse_json_lines(calls.out);
  REQUIRE(rows.size() == structs.size());
  for (std::size_t k = 0; k < rows.size(); ++k) {
    CAPTURE(k);
    REQUIRE(rows[k]["return"].is_int());
    CHECK(rows[k]["return"].i == structs[k].sum);
  }
}
