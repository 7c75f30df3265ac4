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
  BlockJob(ReplayWriter& writer, const trace::BlockDefEvent& def, std::string ir,
           std::shared_ptr<const ZstdDictionary> dictionary)
      : writer_(writer), id_(def.id), time_(def.time), addr_(def.addr), ir_(std::move(ir)),
        dictionary_(std::move(dictionary)) {}

  size_t queued_bytes() const override { return ir_.size(); }
  void compress(int level) override { ir_ = dictionary_ ? dictionary_->compress(ir_) : compress_chunk(ir_, level); }
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
  std::shared_ptr<const ZstdDictionary> dictionary_;  // the IR's, once trained
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

ReplayWriter::Trained::Trained(Database& db, const char* table, const char* what, size_t samples, size_t bytes)
    : insert(db, std::string("INSERT INTO ") + table + " VALUES (?,?,?)"), what(what), samples(samples), bytes(bytes) {}

void ReplayWriter::Trained::sample(const std::string& raw, int level) {
  if (tried) return;
  taken.push_back(raw);
  if (taken.size() < samples) return;
  tried = true;
  std::optional<std::string> trained = train_dictionary(taken, bytes);
  taken = {};
  if (!trained) return;  // every frame compressed alone
  dictionary = std::make_shared<const ZstdDictionary>(std::move(*trained), level, what);
  const std::string& dict = dictionary->bytes();
  insert.bind(1, dictionary->id())
      .bind_blob(2, dict.data(), dict.size())
      .bind(3, dictionary_row_crc(dictionary->id(), dict.data(), dict.size()));
  insert.run();
}

ReplayWriter::ReplayWriter(Database& db, Compressor& compressor)
    : compressor_(compressor),
      insert_block_(db, "INSERT INTO blocks VALUES (?,?,?,?,?)"),
      insert_snapshot_(db, "INSERT INTO snapshots VALUES (?,?,?,?,?,?)"),
      states_(db, "snapshot_dicts", "snapshot dictionary", 512, 8192),
      irs_(db, "block_dicts", "block IR dictionary", 1024, 65536) {}

void ReplayWriter::block(const trace::BlockDefEvent& def) {
  std::string ir(reinterpret_cast<const char*>(def.ir), def.ir_size);
  auto dictionary = irs_.dictionary;  // null for the samples themselves
  irs_.sample(ir, compressor_.level());
  compressor_.submit(std::make_unique<BlockJob>(*this, def, std::move(ir), std::move(dictionary)));
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
  states_.sample(open.state, compressor_.level());
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
                                           std::move(open.values), states_.dictionary);
  open.state.clear();
  open.values.clear();
  compressor_.submit(std::move(job));
}

}  // namespace omni::index
