// Block entries (docs/index-format.md): exec_chunks, every entry into a
// block the stream logs (a BLOCK word), kExecsPerChunk to a chunk, in time
// order, with the moments that stop a thread mid-block (a signal's
// delivery, the exit) as boundary entries; and exec_blocks, which chunks
// hold entries of each block, or that a block's entries are not in the
// stream at all (a block without sites, before stream version 7). How far an entry got is not
// stored: the next entry's time bounds it (one thread runs at a time), and
// the query reads the block's IR.
#include <algorithm>

#include "builder_tables.h"
#include "integrity.h"
#include "varint.h"

namespace omni::index {

class ExecsWriter::ChunkJob final : public CompressJob {
 public:
  ChunkJob(ExecsWriter& writer, uint32_t id, const std::vector<ExecEntry>& entries, std::optional<uint64_t> time_end,
           std::vector<uint32_t> blocks)
      : writer_(writer), id_(id), time_first_(entries.front().time), time_last_(entries.back().time),
        time_end_(time_end), entries_(entries.size()), data_(encode_execs(entries)), blocks_(std::move(blocks)) {
    std::sort(blocks_.begin(), blocks_.end());
  }

  size_t queued_bytes() const override { return data_.size(); }
  void compress(int level) override { data_ = compress_chunk(data_, level); }
  void store() override {
    Statement& insert = writer_.insert_chunk_;
    insert.bind(1, id_).bind(2, time_first_).bind(3, time_last_).bind(5, entries_)
        .bind_blob(6, data_.data(), data_.size());
    if (time_end_) insert.bind(4, *time_end_);
    else insert.bind_null(4);
    insert.run();
    writer_.chunk_stored(id_, blocks_);
  }

 private:
  ExecsWriter& writer_;
  uint32_t id_;
  uint64_t time_first_, time_last_;
  std::optional<uint64_t> time_end_;
  uint64_t entries_;
  std::string data_;  // raw when queued, compressed once compress() ran
  std::vector<uint32_t> blocks_;  // distinct, ascending
};

// Writes the last segment's exec_blocks rows once every chunk before it is
// stored (jobs are stored in submission order).
class ExecsWriter::FlushJob final : public CompressJob {
 public:
  explicit FlushJob(ExecsWriter& writer) : writer_(writer) {}
  size_t queued_bytes() const override { return 0; }
  void compress(int) override {}
  void store() override { writer_.flush_segment(); }

 private:
  ExecsWriter& writer_;
};

ExecsWriter::ExecsWriter(Database& db, Compressor& compressor)
    : compressor_(compressor),
      insert_chunk_(db, "INSERT INTO exec_chunks VALUES (?,?,?,?,?,?)"),
      insert_block_(db, "INSERT INTO exec_blocks VALUES (?,?,?,?)") {
  open_.reserve(kExecsPerChunk);
}

void ExecsWriter::insert_block(uint32_t block, int64_t segment, const std::string& chunks) {
  insert_block_.bind(1, block).bind(2, segment).bind_blob(3, chunks.data(), chunks.size())
      .bind(4, exec_block_row_crc(block, segment, chunks.data(), chunks.size()))
      .run();
}

void ExecsWriter::block_def(const trace::BlockDefEvent& def) {
  if (def.sites == 0) siteless_.push_back(def.id);
}

void ExecsWriter::chunk_stored(uint32_t chunk, const std::vector<uint32_t>& blocks) {
  if (!segment_pairs_.empty() && segment_of_chunk(chunk) != segment_of_chunk(segment_pairs_.back().second))
    flush_segment();
  for (uint32_t block : blocks) segment_pairs_.push_back({block, chunk});
}

// One row per block of the segment: varint count, then its chunks as
// varint deltas (the first from segment x kChunksPerSegment).
void ExecsWriter::flush_segment() {
  if (segment_pairs_.empty()) return;
  std::sort(segment_pairs_.begin(), segment_pairs_.end());
  uint32_t segment = segment_of_chunk(segment_pairs_.front().second);
  for (size_t i = 0; i < segment_pairs_.size();) {
    size_t j = i;
    while (j < segment_pairs_.size() && segment_pairs_[j].first == segment_pairs_[i].first) ++j;
    std::string chunks;
    put_varint(chunks, j - i);
    uint32_t previous = segment * kChunksPerSegment;
    for (size_t k = i; k < j; ++k) {
      put_varint(chunks, segment_pairs_[k].second - previous);
      previous = segment_pairs_[k].second;
    }
    insert_block(segment_pairs_[i].first, segment, chunks);
    i = j;
  }
  segment_pairs_.clear();
}

void ExecsWriter::add(uint64_t time, uint32_t tid, uint32_t block) {
  if (open_.size() >= kExecsPerChunk) submit(time);
  open_.push_back({time, tid, block});
  last_tid_ = tid;
  // The open chunk's distinct blocks, without a sort of its entries.
  if (block == kExecBoundary) return;
  if (block >= seen_in_.size()) seen_in_.resize(std::max<size_t>(block + 1, seen_in_.size() * 2), 0);
  if (seen_in_[block] != next_chunk_ + 1) {
    seen_in_[block] = next_chunk_ + 1;
    open_blocks_.push_back(block);
  }
}

void ExecsWriter::submit(std::optional<uint64_t> time_end) {
  if (open_.empty()) return;
  compressor_.submit(std::make_unique<ChunkJob>(*this, next_chunk_++, open_, time_end, std::move(open_blocks_)));
  open_.clear();
  open_blocks_.clear();
}

void ExecsWriter::finish(bool every_entry) {
  if (!every_entry)
    for (uint32_t block : siteless_) insert_block(block, kUnloggedBlock, std::string());
  submit(std::nullopt);
  compressor_.submit(std::make_unique<FlushJob>(*this));
}

}  // namespace omni::index
