// The call tree: call_chunks (kCallsPerChunk calls with consecutive ids, the
// calls.h encoding, zstd-compressed) and call_targets (which chunks hold a
// call of each target). A shadow stack per thread pairs calls with returns by
// rsp: a frame whose entry rsp the stack pointer has passed is over. Calls,
// returns, function entries and signal deliveries each first close the frames
// the stack has left. Ids are given at the call, so a chunk waits, pending,
// until every call in it has ended (or the recording has).
#include <algorithm>

#include "builder_tables.h"
#include "integrity.h"

namespace omni::index {

class CallsWriter::ChunkJob final : public CompressJob {
 public:
  ChunkJob(CallsWriter& writer, uint32_t id, const std::vector<CallRow>& rows)
      : writer_(writer), id_(id), time_first_(rows.front().time), time_last_(rows.back().time),
        calls_(rows.size()), data_(encode_calls(rows)) {
    for (const CallRow& row : rows) targets_.push_back(row.target);
    std::sort(targets_.begin(), targets_.end());
    targets_.erase(std::unique(targets_.begin(), targets_.end()), targets_.end());
  }

  size_t queued_bytes() const override { return data_.size(); }
  void compress(int level) override { data_ = compress_chunk(data_, level); }
  void store() override {
    writer_.insert_call_chunk_.bind(1, id_).bind(2, time_first_).bind(3, time_last_).bind(4, calls_)
        .bind_blob(5, data_.data(), data_.size());
    writer_.insert_call_chunk_.run();
    for (uint64_t target : targets_)
      writer_.insert_call_target_.bind(1, target).bind(2, id_)
          .bind(3, RowCheck().integer(static_cast<int64_t>(target)).integer(id_).value()).run();
  }

 private:
  CallsWriter& writer_;
  uint32_t id_;
  uint64_t time_first_, time_last_, calls_;
  std::string data_;  // raw when queued, compressed once compress() ran
  std::vector<uint64_t> targets_;  // distinct, ascending
};

CallsWriter::CallsWriter(Database& db, Compressor& compressor)
    : compressor_(compressor),
      insert_call_chunk_(db, "INSERT INTO call_chunks VALUES (?,?,?,?,?)"),
      insert_call_target_(db, "INSERT INTO call_targets VALUES (?,?,?)") {}

void CallsWriter::call(const trace::BranchEvent& e) {
  auto& stack = call_stacks_[e.tid];
  // Frames at or above the new frame's return address are gone (longjmp,
  // an exception, or a frame left without a return): they end here.
  while (!stack.empty() && stack.back().rsp <= e.rsp) pop_frame(stack, e.time, CallEnd::Unwound);
  push_frame(stack, e.time, e.tid, e.pc, e.target, e.rsp, CallKind::Call, 0, false);
}

void CallsWriter::ret(const trace::BranchEvent& e) {
  // rsp after a return is the frame's entry rsp + 8; deeper frames that
  // never returned end with it (unwound).
  auto& stack = call_stacks_[e.tid];
  while (!stack.empty() && stack.back().rsp < e.rsp)
    pop_frame(stack, e.time, stack.back().rsp + 8 == e.rsp ? CallEnd::Returned : CallEnd::Unwound);
}

// A handler's frame is a call made at the interrupted pc; the handler's
// return (to the signal trampoline) closes it like any other.
void CallsWriter::signal(const trace::SignalEvent& e) {
  auto& stack = call_stacks_[e.tid];
  while (!stack.empty() && stack.back().rsp < e.rsp) pop_frame(stack, e.time, CallEnd::Unwound);
  push_frame(stack, e.time, e.tid, e.pc, e.handler, e.handler_rsp, CallKind::Signal, e.signal, true);
}

// Frames still open when the thread ends never returned (end time 0): the
// stack at the thread's last instruction still shows them.
void CallsWriter::thread_exit(uint32_t tid) {
  auto& stack = call_stacks_[tid];
  while (!stack.empty()) {
    end_call(stack.back().id, 0, CallEnd::Open);
    stack.pop_back();
  }
}

void CallsWriter::finish() {
  for (auto& [chunk, pending] : pending_calls_) submit_calls(chunk, pending);
  pending_calls_.clear();
}

CallRow& CallsWriter::pending_row(uint64_t id) {
  uint32_t chunk = static_cast<uint32_t>(id / kCallsPerChunk);
  return pending_calls_.at(chunk).rows[id - uint64_t{chunk} * kCallsPerChunk];
}

void CallsWriter::push_frame(std::vector<OpenCall>& stack, uint64_t time, uint32_t tid, uint64_t pc, uint64_t target,
                             uint64_t rsp, CallKind kind, uint32_t signal, bool entered) {
  uint64_t id = next_call_++;
  PendingCalls& chunk = pending_calls_[static_cast<uint32_t>(id / kCallsPerChunk)];
  CallRow row{id, time, 0, tid, static_cast<uint32_t>(stack.size()), pc, target, rsp,
              stack.empty() ? 0 : stack.back().id + 1};
  row.kind = kind;
  row.signal = signal;
  chunk.rows.push_back(row);
  ++chunk.open;
  stack.push_back({id, rsp, target, entered, kind == CallKind::Tail});
}

void CallsWriter::pop_frame(std::vector<OpenCall>& stack, uint64_t time, CallEnd how) {
  end_call(stack.back().id, time, how);
  stack.pop_back();
}

// The thread is at the first instruction of the function `target` with
// stack pointer `rsp`, reached by a jump from `pc` (0: unknown) or by
// whatever led there. The innermost frame at the same depth decides what
// that is: its own entry (or a loop back to it), the function a PLT stub
// (or the lazy binder) it called jumps to, or a tail call replacing it. An
// entry deeper than every frame (the lazy binder itself, reached by the
// PLT's jump after two pushes) is no call.
void CallsWriter::entered(uint32_t tid, uint64_t time, uint64_t target, uint64_t rsp, uint64_t pc) {
  auto& stack = call_stacks_[tid];
  while (!stack.empty() && stack.back().rsp < rsp) pop_frame(stack, time, CallEnd::Unwound);
  if (stack.empty() || stack.back().rsp != rsp) return;
  OpenCall& frame = stack.back();
  if (frame.target == target) {
    frame.entered = true;
    return;
  }
  if (!frame.entered) {
    frame.target = target;
    frame.entered = true;
    pending_row(frame.id).target = target;
    return;
  }
  uint32_t chain = 0;
  for (auto it = stack.rbegin(); it != stack.rend() && it->tail; ++it) ++chain;
  if (chain >= kMaxTailChain) pop_frame(stack, time, CallEnd::Replaced);
  push_frame(stack, time, tid, pc, target, rsp, CallKind::Tail, 0, true);
}

void CallsWriter::end_call(uint64_t id, uint64_t time, CallEnd how) {
  uint32_t chunk = static_cast<uint32_t>(id / kCallsPerChunk);
  auto it = pending_calls_.find(chunk);
  if (it == pending_calls_.end()) return;
  PendingCalls& pending = it->second;
  CallRow& row = pending.rows[id - uint64_t{chunk} * kCallsPerChunk];
  row.end_time = time;
  row.ended = how;
  --pending.open;
  if (pending.open == 0 && pending.rows.size() == kCallsPerChunk) {
    submit_calls(chunk, pending);
    pending_calls_.erase(it);
  }
}

void CallsWriter::submit_calls(uint32_t chunk, PendingCalls& pending) {
  if (pending.rows.empty()) return;
  compressor_.submit(std::make_unique<ChunkJob>(*this, chunk, pending.rows));
}

}  // namespace omni::index
