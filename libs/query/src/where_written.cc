// --where-written: every write to a range of bytes, from the index's
// per-granule chunk lists.
#include <fmt/format.h>

#include <deque>
#include <future>

#include "omni/base/error.h"
#include "omni/query/query.h"

namespace omni::query {

void where_written(Session& session, const WhereWrittenQuery& query, Sink<WriteRecord>& sink) {
  index::IndexReader& reader = session.reader();
  // Pointers in the target are followed at --at, else at the end.
  uint64_t follow_at = session.moment(query.at.value_or("end"));
  Range range = session.target(
      query.target, follow_at,
      query.at ? "" : fmt::format("at time {} (the end of the recording; --at picks another moment)", follow_at));
  uint64_t from = query.from.value_or(0);
  uint64_t to = query.to.value_or(UINT64_MAX);
  if (from > to) fail("--from {} is after --to {}", from, to);

  // Where a chunk lies against [from, to]: -1 before, 0 within, 1 after.
  auto place = [&](uint32_t id) {
    index::ChunkRow chunk = reader.chunk(id);
    return chunk.time_last < from ? -1 : chunk.time_first > to ? 1 : 0;
  };

  struct Match {
    index::Event event;
    std::vector<uint8_t> data;
  };
  auto keep = [&](const index::DecodedChunk& writes, std::vector<Match>& found) {
    for (const index::Event& e : writes.events) {
      if (e.time < from) continue;
      const uint8_t* data = writes.data.data() + e.data_offset;
      found.push_back({e, std::vector<uint8_t>(data, data + e.size)});
    }
  };
  auto matches_in = [&](uint32_t id, std::vector<Match>& found) {
    keep(reader.load_chunk_writes(id, range.addr, range.length, to), found);
  };

  std::vector<Match> matches;
  if (query.last) {
    // Walk back from the newest chunk until enough matches are found.
    std::deque<Match> tail;
    if (*query.last > 0)
      reader.chunks_writing(range.addr, range.length, true, [&](uint32_t id) {
        int where = place(id);
        if (where > 0) return true;
        if (where < 0) return false;
        std::vector<Match> found;
        matches_in(id, found);
        tail.insert(tail.begin(), std::make_move_iterator(found.begin()), std::make_move_iterator(found.end()));
        return tail.size() < *query.last;
      });
    while (tail.size() > *query.last) tail.pop_front();
    matches.assign(std::make_move_iterator(tail.begin()), std::make_move_iterator(tail.end()));
  }

  sink.begin();
  WriteRecord record;
  auto emit = [&](Match& m) {
    record.event = m.event;
    record.data = std::move(m.data);
    record.where = session.symbols().locate(m.event.pc, m.event.time);
    // A kernel write happened in a syscall: the stack is the caller's.
    if (query.stack)
      record.stack = session.describe(session.stack(m.event.time, m.event.tid, m.event.pc), m.event.time);
    sink.put(record);
  };
  if (query.last) {
    for (Match& m : matches) emit(m);
  } else {
    // Oldest first, answering as each chunk is read. Decoding the chunks
    // is most of a long answer (a 65,536-event chunk for the few writes of
    // a granule in it): they are taken two at a time, the second decoded on
    // another thread while this one decodes the first, and answered in
    // order.
    std::vector<uint32_t> pair;
    auto answer_pair = [&] {
      std::vector<Match> found;
      if (pair.size() == 2) {
        index::IndexReader::ChunkFrame second = reader.chunk_frame(pair[1]);
        // std::async's future waits for its thread when destroyed, so the
        // other thread is done with `second` however this one ends.
        auto decoded = std::async(std::launch::async, [&] {
          index::DecodedChunk writes;
          index::decode_chunk_writes(second.blob.data(), second.blob.size(), second.time_first, second.coding,
                                     range.addr, range.length, to, writes);
          return writes;
        });
        matches_in(pair[0], found);
        for (Match& m : found) emit(m);
        found.clear();
        keep(decoded.get(), found);
      } else if (pair.size() == 1) {
        matches_in(pair[0], found);
      }
      for (Match& m : found) emit(m);
      pair.clear();
    };
    reader.chunks_writing(range.addr, range.length, false, [&](uint32_t id) {
      int where = place(id);
      if (where < 0) return true;
      if (where > 0) return false;
      pair.push_back(id);
      if (pair.size() == 2) answer_pair();
      return true;
    });
    answer_pair();
  }
}

}  // namespace omni::query
