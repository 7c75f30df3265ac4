// Watchpoints on a recording stop only at writes that change the watched
// bytes, as gdb's `watch` does natively: the timeline's stops, forwards and
// backwards, checked in-process against gdb's watchpoint on a native run of
// a program that mostly rewrites its global with the value it holds. Once
// as `omni index` built it, once with chunks of 16 events, so that a write
// and the older one it is compared with lie in different chunks.
#include <doctest/doctest.h>

#include <cstdint>
#include <string>

#include "harness.h"
#include "omni/gdbserver/timeline.h"
#include "omni/index/builder.h"
#include "omni/query/session.h"
#include "omni_fixture.h"

using namespace omni::test;

TEST_CASE(
    "watch changes: the timeline stops at each change of a watched global and nowhere else, "
    "forwards and back") {
  Recording rec = record("rewrites", {"3"});
  WatchResult truth = gdb_watch(rec.prog, {"3"}, "g_slot");
  INFO("native gdb: ", truth.raw.describe());
  // Two changes a round; the program's other 847 writes (853 in all) leave it as it was.
  REQUIRE(truth.hits.size() == 6);
  const Symbol slot = nm_symbol(rec.prog, "g_slot");
  const std::map<std::string, Symbol> symbols = nm_symbols(rec.prog);

  fs::path small = rec.tmp / "small";
  fs::create_directory(small);
  fs::permissions(small, fs::perms::owner_all, fs::perm_options::replace);
  fs::copy_file(rec.dir / "trace.omni", small / "trace.omni");
  omni::index::IndexOptions options;
  options.trace_dir = small.string();
  options.chunk_events = 16;
  omni::index::build_index(options, [](const omni::index::IndexProgress&) {});

  for (const fs::path& dir : {rec.dir, small}) {
    CAPTURE(dir);
    omni::query::Session session(dir.string());
    omni::gdbserver::Timeline timeline(session);
    timeline.insert_watchpoint(slot.addr, 8);
    auto value_now = [&] { return std::to_string(le_signed(timeline.memory(slot.addr, 8).bytes)); };
    auto function_now = [&](uint32_t tid) {
      uint64_t pc = timeline.registers(tid).rip();
      for (const auto& [name, s] : symbols)
        if (pc >= s.addr && pc < s.addr + s.size) return name;
      return std::string("??");
    };

    std::vector<uint64_t> times;
    for (;;) {
      omni::gdbserver::Stop stop = timeline.resume(true, false);
      if (stop.why == omni::gdbserver::Stop::Why::End) break;
      REQUIRE(stop.why == omni::gdbserver::Stop::Why::Watch);
      REQUIRE(times.size() < truth.hits.size());
      CAPTURE(times.size());
      CHECK(stop.watch_addr >= slot.addr);
      CHECK(stop.watch_addr < slot.addr + 8);
      CHECK(value_now() == truth.hits[times.size()].value);
      CHECK(function_now(stop.tid) == truth.hits[times.size()].function);
      times.push_back(stop.time);
    }
    REQUIRE(times.size() == truth.hits.size());

    // Backwards from the end: just before each change, newest first, showing
    // the value it replaced.
    for (size_t k = truth.hits.size(); k-- > 0;) {
      CAPTURE(k);
      omni::gdbserver::Stop stop = timeline.resume(false, false);
      REQUIRE(stop.why == omni::gdbserver::Stop::Why::Watch);
      CHECK(stop.time == times[k] - 1);
      CHECK(value_now() == (k ? truth.hits[k - 1].value : std::string("0")));
    }
    CHECK(timeline.resume(false, false).why == omni::gdbserver::Stop::Why::Begin);
  }
}

TEST_CASE(
    "watch changes: a write after its memory was mapped anew stops, though it wrote the value "
    "written before") {
  Recording rec = record("remap_rewrite");
  REQUIRE(rec.rec.status == 0);
  std::optional<std::string> printed = kv(rec.rec.out, "addr");
  REQUIRE(printed);
  const std::uint64_t addr = std::stoull(*printed, nullptr, 16);

  omni::query::Session session(rec.dir.string());
  // The truth from memory alone: each write to the word, and whether the
  // word differs just before and just after it.
  std::vector<std::uint64_t> changes;
  std::vector<std::uint64_t> writes;
  omni::index::IndexReader& reader = session.reader();
  for (std::uint32_t id : reader.chunks_writing(addr, 8))
    for (const omni::index::Event& e : reader.load_chunk_writes(id, addr, 8).events)
      writes.push_back(e.time);
  REQUIRE(writes.size() == 6);
  auto word_at = [&](std::uint64_t t) {
    omni::replay::MemoryImage image = session.memory().read(addr, 8, t);
    return std::make_pair(image.mapped[0], le_signed(image.bytes));
  };
  for (std::uint64_t w : writes)
    if (word_at(w - 1) != word_at(w)) changes.push_back(w);
  // 0 -> 42, 0 (mapped anew) -> 42, unmapped then fresh 0 -> 7.
  REQUIRE(changes.size() == 3);

  omni::gdbserver::Timeline timeline(session);
  timeline.insert_watchpoint(addr, 8);
  std::vector<std::uint64_t> forwards, backwards;
  for (omni::gdbserver::Stop stop = timeline.resume(true, false);
       stop.why == omni::gdbserver::Stop::Why::Watch; stop = timeline.resume(true, false))
    forwards.push_back(stop.time);
  auto text = [](const std::vector<std::uint64_t>& v) {
    std::string out;
    for (std::uint64_t t : v) out += std::to_string(t) + " ";
    return out;
  };
  CAPTURE(text(writes));
  CAPTURE(text(changes));
  CHECK(text(forwards) == text(changes));
  for (omni::gdbserver::Stop stop = timeline.resume(false, false);
       stop.why == omni::gdbserver::Stop::Why::Watch; stop = timeline.resume(false, false))
    backwards.insert(backwards.begin(), stop.time + 1);
  CHECK(text(backwards) == text(changes));
}
