// Memory contents: chunks (the write events, zstd-compressed, a chunk at a
// time), chunk_finals (each page's bytes as the chunk left them), write_index
// (per page and segment, which chunks wrote each granule, and which chunk
// wrote it last before) and initial_memory.
// Chunk ids are dense and in time order; the address index of a segment is
// written once all of its chunks are numbered (docs/index-format.md).
#include <algorithm>

#include "builder_tables.h"
#include "integrity.h"
#include "varint.h"

namespace omni::index {

class WritesWriter::ChunkJob final : public CompressJob {
 public:
  ChunkJob(WritesWriter& writer, uint32_t id, uint64_t time_first, uint64_t time_last, uint64_t events,
           std::string raw, std::vector<FinalsClear> clears)
      : writer_(writer),
        id_(id),
        time_first_(time_first),
        time_last_(time_last),
        events_(events),
        raw_bytes_(raw.size()),
        data_(std::move(raw)),
        clears_(std::move(clears)) {}

  size_t queued_bytes() const override { return data_.size(); }

  void compress(int level) override {
    // Memory replaced while the chunk was open is forgotten between the
    // events it came between. (Readers take a chunk's rows only for memory
    // mapped before the chunk began.)
    finals_ = encode_finals(data_, time_first_, level, writer_.worker_.shadow, clears_);
    data_ = compress_chunk(data_, level);
  }

  void store() override {
    for (const auto& [page, row] : finals_)
      writer_.insert_finals_.bind(1, id_).bind(2, page).bind_blob(3, row.data(), row.size())
          .bind(4, RowCheck().integer(id_).integer(static_cast<int64_t>(page)).value()).run();
    writer_.insert_chunk_.bind(1, id_)
        .bind(2, time_first_)
        .bind(3, time_last_)
        .bind(4, events_)
        .bind(5, raw_bytes_)
        .bind_blob(6, data_.data(), data_.size())
        .bind(7, chunk_row_crc(id_, static_cast<int64_t>(time_first_), static_cast<int64_t>(time_last_),
                               static_cast<int64_t>(events_), static_cast<int64_t>(raw_bytes_)));
    writer_.insert_chunk_.run();
  }

 private:
  WritesWriter& writer_;
  uint32_t id_;
  uint64_t time_first_, time_last_, events_, raw_bytes_;
  std::string data_;  // raw when queued, compressed once compress() ran
  std::vector<FinalsClear> clears_;
  std::vector<std::pair<uint64_t, std::string>> finals_;  // chunk_finals rows by page
};

WritesWriter::WritesWriter(Database& db, Compressor& compressor, uint32_t chunk_events, size_t carry_pages)
    : compressor_(compressor),
      chunk_events_(chunk_events),
      insert_chunk_(db, "INSERT INTO chunks (id, time_first, time_last, events, raw_bytes, data, crc) VALUES (?,?,?,?,?,?,?)"),
      insert_finals_(db, "INSERT INTO chunk_finals (chunk, page, data, crc) VALUES (?,?,?,?)"),
      insert_index_(db, "INSERT INTO write_index (page, segment, granules, crc) VALUES (?,?,?,?)"),
      insert_initial_(db, "INSERT OR REPLACE INTO initial_memory (addr,data,crc) VALUES (?,?,?)"),
      carry_pages_(carry_pages) {}

void WritesWriter::forget(uint64_t start, uint64_t end) { clears_.push_back({encoder_.events(), start, end}); }

void WritesWriter::initial(uint64_t addr, const uint8_t* data, size_t size) {
  insert_initial_.bind(1, addr).bind_blob(2, data, size)
      .bind(3, RowCheck().integer(static_cast<int64_t>(addr)).blob(data, size).value());
  insert_initial_.run();
}

void WritesWriter::finish() {
  if (encoder_.events()) finish_chunk();
  flush_segment();
}

void WritesWriter::finish_chunk() {
  uint32_t id = next_chunk_++;
  std::sort(chunk_granules_.begin(), chunk_granules_.end());
  chunk_granules_.erase(std::unique(chunk_granules_.begin(), chunk_granules_.end()), chunk_granules_.end());
  for (uint64_t granule : chunk_granules_) segment_pairs_.emplace_back(granule, id);
  chunk_granules_.clear();
  seen_granules_.fill(0);
  uint64_t time_first = encoder_.time_first(), time_last = encoder_.time_last(), events = encoder_.events();
  std::vector<FinalsClear> clears = std::move(clears_);
  clears_.clear();
  compressor_.submit(
      std::make_unique<ChunkJob>(*this, id, time_first, time_last, events, encoder_.finish(), std::move(clears)));
  if (next_chunk_ % kWriteChunksPerSegment == 0) flush_segment();
}

// Writes one row per page for the segment just completed: a flags byte
// (kWriteRowCarryComplete), varint granule count, then per written granule:
// varint granule-in-page, varint count, varint chunk-id deltas (the first
// relative to the segment's first chunk); then the carried writers: varint
// count, then per granule of the page written before the segment: varint
// granule-in-page delta (the first from 0), varint distance back from the
// segment's first chunk to the last chunk that wrote it.
void WritesWriter::flush_segment() {
  if (segment_pairs_.empty()) return;
  uint32_t segment = write_segment_of_chunk(segment_pairs_.front().second);
  uint32_t base = segment * kWriteChunksPerSegment;
  std::sort(segment_pairs_.begin(), segment_pairs_.end());
  if (last_writers_.size() > carry_pages_) {
    // Forgetting costs lookups only: rows from here on say that their
    // carries are incomplete, and readers walk back through earlier rows.
    last_writers_.clear();
    carry_lossy_ = true;
  }
  constexpr uint64_t kGranuleMask = (1u << (kPageShift - kGranuleShift)) - 1;
  std::string blob, lists;
  size_t i = 0;
  while (i < segment_pairs_.size()) {
    uint64_t page = segment_pairs_[i].first >> (kPageShift - kGranuleShift);
    auto& writers = last_writers_[page];
    if (!writers) writers = std::make_unique<std::array<uint32_t, kGranulesPerPage>>();
    lists.clear();
    size_t granules = 0;
    size_t first = i;
    while (i < segment_pairs_.size() && (segment_pairs_[i].first >> (kPageShift - kGranuleShift)) == page) {
      uint64_t granule = segment_pairs_[i].first;
      size_t j = i;
      while (j < segment_pairs_.size() && segment_pairs_[j].first == granule) ++j;
      put_varint(lists, granule & kGranuleMask);
      put_varint(lists, j - i);
      uint32_t previous = base;
      for (size_t k = i; k < j; ++k) {
        put_varint(lists, segment_pairs_[k].second - previous);
        previous = segment_pairs_[k].second;
      }
      ++granules;
      i = j;
    }
    blob.assign(1, static_cast<char>(carry_lossy_ ? 0 : kWriteRowCarryComplete));
    put_varint(blob, granules);
    blob += lists;
    size_t carried = 0;
    for (uint32_t w : *writers) carried += w != 0;
    put_varint(blob, carried);
    uint64_t previous = 0;
    for (uint64_t g = 0; g < kGranulesPerPage; ++g) {
      if ((*writers)[g] == 0) continue;
      put_varint(blob, g - previous);
      previous = g;
      put_varint(blob, base - ((*writers)[g] - 1));
    }
    // The segment's last writer of each granule (pairs sort by chunk within
    // a granule), for the rows of later segments.
    for (size_t k = first; k < i; ++k) (*writers)[segment_pairs_[k].first & kGranuleMask] = segment_pairs_[k].second + 1;
    insert_index_.bind(1, page).bind(2, segment).bind_blob(3, blob.data(), blob.size())
        .bind(4, RowCheck().integer(static_cast<int64_t>(page)).integer(segment).blob(blob.data(), blob.size()).value());
    insert_index_.run();
  }
  segment_pairs_.clear();
}

}  // namespace omni::index
