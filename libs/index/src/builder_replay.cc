// What replay starts from and executes: blocks (one row per translation, its
// IR zstd-compressed) and snapshots (a thread's registers and stack image,
// with the recorded values that follow it in that thread up to its next
// snapshot). A snapshot's row waits, open, for those values; a thread's
// snapshots at the same time are told apart by seq.
#include "builder_tables.h"
#include "integrity.h"
#include "varint.h"

namespace omni::index {

class ReplayWriter::BlockJob final : public CompressJob {
 public:
  BlockJob(ReplayWriter& writer, const trace::BlockDefEvent& def)
      : writer_(writer), id_(def.id), time_(def.time), addr_(def.addr),
        ir_(reinterpret_cast<const char*>(def.ir), def.ir_size) {}

  size_t queued_bytes() const override { return ir_.size(); }
  void compress(int level) override { ir_ = compress_chunk(ir_, level); }
  void store() override {
    writer_.insert_block_.bind(1, id_).bind(2, addr_).bind(3, time_)
        .bind_blob(4, ir_.data(), ir_.size())
        .bind(5, block_row_crc(id_, static_cast<int64_t>(addr_), static_cast<int64_t>(time_)));
    writer_.insert_block_.run();
  }

 private:
  ReplayWriter& writer_;
  uint32_t id_;
  uint64_t time_, addr_;
  std::string ir_;
};

class ReplayWriter::SnapshotJob final : public CompressJob {
 public:
  SnapshotJob(ReplayWriter& writer, uint32_t tid, uint64_t time, uint32_t seq, std::string state, std::string values,
              std::shared_ptr<const ZstdDictionary> dictionary)
      : writer_(writer), tid_(tid), time_(time), seq_(seq), state_(std::move(state)), values_(std::move(values)),
        dictionary_(std::move(dictionary)) {}

  size_t queued_bytes() const override { return state_.size() + values_.size(); }
  void compress(int level) override {
    state_ = dictionary_ ? dictionary_->compress(state_) : compress_chunk(state_, level);
    if (!values_.empty()) values_ = compress_chunk(values_, level);
  }
  void store() override {
    Statement& insert = writer_.insert_snapshot_;
    insert.bind(1, tid_).bind(2, time_).bind(3, seq_)
        .bind_blob(4, state_.data(), state_.size())
        .bind(6, snapshot_row_crc(tid_, static_cast<int64_t>(time_), static_cast<int64_t>(seq_)));
    if (values_.empty()) insert.bind_null(5);
    else insert.bind_blob(5, values_.data(), values_.size());
    insert.run();
  }

 private:
  ReplayWriter& writer_;
  uint32_t tid_;
  uint64_t time_;
  uint32_t seq_;
  std::string state_, values_;  // raw when queued, compressed once compress() ran; no values: NULL
  std::shared_ptr<const ZstdDictionary> dictionary_;  // the state's, once trained
};

ReplayWriter::ReplayWriter(Database& db, Compressor& compressor)
    : compressor_(compressor),
      insert_block_(db, "INSERT INTO blocks VALUES (?,?,?,?,?)"),
      insert_snapshot_(db, "INSERT INTO snapshots VALUES (?,?,?,?,?,?)"),
      insert_dict_(db, "INSERT INTO snapshot_dicts VALUES (?,?,?)") {}

void ReplayWriter::block(const trace::BlockDefEvent& def) {
  compressor_.submit(std::make_unique<BlockJob>(*this, def));
}

void ReplayWriter::snapshot(uint64_t time, uint32_t tid, const uint8_t* state, size_t size) {
  OpenSnapshot& open = snapshots_[tid];
  if (open.active) write_snapshot(tid, open);
  open.seq = open.active && open.time == time ? open.seq + 1 : 0;
  open.active = true;
  open.time = time;
  open.last_time = time;
  open.state.assign(reinterpret_cast<const char*>(state), size);
  open.values.clear();
  if (!dictionary_tried_) {
    dictionary_samples_.push_back(open.state);
    if (dictionary_samples_.size() == kDictionarySamples) make_dictionary();
  }
}

void ReplayWriter::make_dictionary() {
  dictionary_tried_ = true;
  std::optional<std::string> bytes = train_dictionary(dictionary_samples_, kDictionaryBytes);
  dictionary_samples_ = {};
  if (!bytes) return;  // every state compressed alone, as before
  dictionary_ = std::make_shared<const ZstdDictionary>(std::move(*bytes), compressor_.level(), "snapshot dictionary");
  const std::string& dict = dictionary_->bytes();
  insert_dict_.bind(1, dictionary_->id())
      .bind_blob(2, dict.data(), dict.size())
      .bind(3, snapshot_dict_row_crc(dictionary_->id(), dict.data(), dict.size()));
  insert_dict_.run();
}

void ReplayWriter::value(uint64_t time, uint32_t tid, const uint8_t* data, size_t size) {
  OpenSnapshot& open = snapshots_[tid];
  if (!open.active) return;  // before the thread's first snapshot: no replay needs it
  put_varint(open.values, time - open.last_time);
  put_varint(open.values, size);
  open.values.append(reinterpret_cast<const char*>(data), size);
  open.last_time = time;
}

void ReplayWriter::finish() {
  for (auto& [tid, open] : snapshots_)
    if (open.active) write_snapshot(tid, open);
}

void ReplayWriter::write_snapshot(uint32_t tid, OpenSnapshot& open) {
  auto job = std::make_unique<SnapshotJob>(*this, tid, open.time, open.seq, std::move(open.state),
                                           std::move(open.values), dictionary_);
  open.state.clear();
  open.values.clear();
  compressor_.submit(std::move(job));
}

}  // namespace omni::index
