// Memory contents: chunks (the write events, zstd-compressed, a chunk at a
// time), chunk_finals (each page's bytes as the chunk left them), write_index
// (per page and segment, which chunks wrote each granule) and initial_memory.
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
        .bind_blob(6, data_.data(), data_.size());
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

WritesWriter::WritesWriter(Database& db, Compressor& compressor, uint32_t chunk_events)
    : compressor_(compressor),
      chunk_events_(chunk_events),
      insert_chunk_(db, "INSERT INTO chunks VALUES (?,?,?,?,?,?)"),
      insert_finals_(db, "INSERT INTO chunk_finals VALUES (?,?,?,?)"),
      insert_index_(db, "INSERT INTO write_index VALUES (?,?,?,?)"),
      insert_initial_(db, "INSERT OR REPLACE INTO initial_memory (addr,data,crc) VALUES (?,?,?)") {}

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
  if (next_chunk_ % kChunksPerSegment == 0) flush_segment();
}

// Writes one row per page for the segment just completed:
// per written granule: varint granule-in-page, varint count, varint chunk-id
// deltas (the first relative to the segment's first chunk).
void WritesWriter::flush_segment() {
  if (segment_pairs_.empty()) return;
  uint32_t segment = segment_pairs_.front().second / kChunksPerSegment;
  uint32_t base = segment * kChunksPerSegment;
  std::sort(segment_pairs_.begin(), segment_pairs_.end());
  std::string blob;
  size_t i = 0;
  while (i < segment_pairs_.size()) {
    uint64_t page = segment_pairs_[i].first >> (kPageShift - kGranuleShift);
    blob.clear();
    while (i < segment_pairs_.size() && (segment_pairs_[i].first >> (kPageShift - kGranuleShift)) == page) {
      uint64_t granule = segment_pairs_[i].first;
      size_t j = i;
      while (j < segment_pairs_.size() && segment_pairs_[j].first == granule) ++j;
      put_varint(blob, granule & ((1u << (kPageShift - kGranuleShift)) - 1));
      put_varint(blob, j - i);
      uint32_t previous = base;
      for (size_t k = i; k < j; ++k) {
        put_varint(blob, segment_pairs_[k].second - previous);
        previous = segment_pairs_[k].second;
      }
      i = j;
    }
    insert_index_.bind(1, page).bind(2, segment).bind_blob(3, blob.data(), blob.size())
        .bind(4, RowCheck().integer(static_cast<int64_t>(page)).integer(segment).blob(blob.data(), blob.size()).value());
    insert_index_.run();
  }
  segment_pairs_.clear();
}

}  // namespace omni::index
