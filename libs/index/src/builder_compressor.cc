// The builder's compression worker: one thread that runs each job's
// compress() in submission order while the builder's thread decodes and
// inserts rows; finished jobs are stored, in the same order, by whichever
// submit() or store_all() comes next on the builder's thread.
#include "builder_tables.h"

namespace omni::index {

namespace {

// The builder's thread runs ahead of compression by at most this many raw
// bytes (about four write chunks); small jobs (snapshots, blocks) hardly count.
constexpr size_t kQueueBytes = 4 * kChunkRawLimit;

}  // namespace

Compressor::Compressor(int level) : level_(level), worker_([this] { run(); }) {}

Compressor::~Compressor() { stop(); }

void Compressor::stop() {
  {
    std::lock_guard lock(mutex_);
    stop_ = true;
  }
  cv_.notify_all();
  if (worker_.joinable()) worker_.join();
}

// Finished jobs are bounded too: the builder's thread stores them after
// every submit.
void Compressor::submit(std::unique_ptr<CompressJob> job) {
  {
    std::unique_lock lock(mutex_);
    cv_.wait(lock, [&] { return pending_bytes_ < kQueueBytes || error_; });
    size_t bytes = job->queued_bytes();
    pending_bytes_ += bytes;
    pending_.push_back({std::move(job), bytes});
    cv_.notify_all();
  }
  for (auto& done : take(false)) done->store();
}

void Compressor::store_all() {
  for (auto& done : take(true)) done->store();
}

std::vector<std::unique_ptr<CompressJob>> Compressor::take(bool all) {
  std::unique_lock lock(mutex_);
  if (all) cv_.wait(lock, [&] { return (pending_.empty() && !busy_) || error_; });
  if (error_) std::rethrow_exception(error_);
  std::vector<std::unique_ptr<CompressJob>> out(std::make_move_iterator(done_.begin()),
                                                std::make_move_iterator(done_.end()));
  done_.clear();
  cv_.notify_all();
  return out;
}

void Compressor::run() {
  for (;;) {
    std::unique_ptr<CompressJob> job;
    {
      std::unique_lock lock(mutex_);
      cv_.wait(lock, [&] { return stop_ || !pending_.empty(); });
      if (stop_) return;
      job = std::move(pending_.front().job);
      pending_bytes_ -= pending_.front().bytes;
      pending_.pop_front();
      busy_ = true;
    }
    try {
      job->compress(level_);
    } catch (...) {
      std::lock_guard lock(mutex_);
      error_ = std::current_exception();
    }
    std::lock_guard lock(mutex_);
    done_.push_back(std::move(job));
    busy_ = false;
    cv_.notify_all();
  }
}

}  // namespace omni::index
