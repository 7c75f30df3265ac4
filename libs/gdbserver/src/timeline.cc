#include "omni/gdbserver/timeline.h"

#include "omni/base/error.h"

namespace omni::gdbserver {

Timeline::Timeline(query::Session& session) : session_(session) {
  end_ = uint64_t(session_.reader().meta_int("instructions").value_or(0));
  seek(0);
}

void Timeline::seek(uint64_t time) {
  time_ = std::min(time, end_);
  tid_ = session_.thread(std::nullopt, time_);
  registers_.clear();
}

const replay::Registers& Timeline::registers(uint32_t tid) {
  auto it = registers_.find(tid);
  if (it == registers_.end()) it = registers_.emplace(tid, session_.replayer().registers_at(time_, tid)).first;
  return it->second;
}

replay::MemoryImage Timeline::memory(uint64_t addr, uint64_t size) { return session_.memory().read(addr, size, time_); }

std::vector<uint32_t> Timeline::threads() {
  std::vector<uint32_t> out;
  // A thread created but not yet run has no state the recording holds
  // (its first register snapshot comes when it first runs): not listed yet.
  index::IndexReader& reader = session_.reader();
  for (const index::ThreadRow& t : reader.threads())
    if (t.time_created <= time_ && (!t.time_exited || time_ < *t.time_exited) && reader.run_start(t.tid, time_, false))
      out.push_back(t.tid);
  if (out.empty()) out.push_back(tid_);
  return out;
}

void Timeline::insert_breakpoint(uint64_t addr) {
  if (breakpoints_.insert(addr).second) executions_.reset();
}

void Timeline::remove_breakpoint(uint64_t addr) {
  if (breakpoints_.erase(addr)) executions_.reset();
}

void Timeline::insert_watchpoint(uint64_t addr, uint64_t size) {
  if (size > 0) watchpoints_.insert({addr, size});
}

void Timeline::remove_watchpoint(uint64_t addr, uint64_t size) { watchpoints_.erase({addr, size}); }

std::optional<Timeline::WriteHit> Timeline::watched_write(bool forward) {
  index::IndexReader& reader = session_.reader();
  const auto& chunks = reader.chunks();
  std::optional<WriteHit> best;
  for (const auto& [addr, size] : watchpoints_) {
    std::vector<uint32_t> ids = reader.chunks_writing(addr, size);
    auto consider = [&](uint32_t id) {
      if (id >= chunks.size()) fail("index is corrupt: chunk {} is missing; run `omni index` again", id);
      if (forward ? chunks[id].time_last <= time_ : chunks[id].time_first > time_) return false;
      std::optional<WriteHit> found;
      for (const index::Event& e : reader.load_chunk(id).events) {
        if (e.addr >= addr + size || e.addr + e.size <= addr) continue;
        if (forward ? e.time <= time_ : e.time > time_) continue;
        WriteHit hit{e.time, e.tid, std::max(e.addr, addr)};
        if (forward) {
          if (!found || hit.time < found->time) found = hit;
        } else if (!found || hit.time >= found->time) {
          found = hit;
        }
      }
      if (!found) return false;
      if (!best || (forward ? found->time < best->time : found->time > best->time)) best = found;
      return true;  // chunks are in time order: the nearest is in this one
    };
    if (forward) {
      for (uint32_t id : ids)
        if (consider(id)) break;
    } else {
      for (auto it = ids.rbegin(); it != ids.rend(); ++it)
        if (consider(*it)) break;
    }
  }
  return best;
}

replay::Executions& Timeline::executions() {
  if (!executions_)
    executions_ = std::make_unique<replay::Executions>(
        session_.reader(), std::vector<uint64_t>(breakpoints_.begin(), breakpoints_.end()));
  return *executions_;
}

Stop Timeline::resume(bool forward, bool step, std::optional<uint32_t> step_tid) {
  if (forward && time_ >= end_) return {Stop::Why::End, time_, tid_};
  if (!forward && time_ == 0) return {Stop::Why::Begin, time_, tid_};
  if (step) {
    // One instruction of the thread: the next one it runs (when another
    // thread runs now, at its next run's start), or the last one it ran.
    uint32_t tid = step_tid.value_or(tid_);
    index::IndexReader& reader = session_.reader();
    std::optional<uint64_t> to;
    if (forward) {
      if (session_.thread(std::nullopt, time_) == tid) to = time_ + 1;
      else if (auto start = reader.run_start(tid, time_, true)) to = *start + 1;
    } else {
      if (session_.thread(std::nullopt, time_ - 1) == tid) {
        to = time_ - 1;
      } else if (auto start = reader.run_start(tid, time_ - 1, false)) {
        // Its last run before now ended where another thread's began.
        uint64_t end = reader.run_end(tid, *start).value_or(time_);
        to = std::min(end, time_) - 1;
      }
    }
    if (!to || *to > end_) return edge(forward);
    // Other threads ran meanwhile: a breakpoint or watchpoint of theirs on
    // the way stops first, as in a run where they go on while one steps.
    if (forward ? *to > time_ + 1 : *to + 1 < time_)
      if (std::optional<Stop> other = nearest_stop(forward); other && (forward ? other->time < *to : other->time > *to))
        return go(*other);
    return go({Stop::Why::Step, *to, tid});
  }
  std::optional<Stop> stop = nearest_stop(forward);
  return stop ? go(*stop) : edge(forward);
}

Stop Timeline::go(const Stop& stop) {
  seek(stop.time);
  tid_ = stop.tid;
  return stop;
}

Stop Timeline::edge(bool forward) {
  seek(forward ? end_ : 0);
  return {forward ? Stop::Why::End : Stop::Why::Begin, time_, tid_};
}

std::optional<Stop> Timeline::nearest_stop(bool forward) {
  std::optional<replay::Execution> hit;
  if (!breakpoints_.empty()) hit = forward ? executions().next(time_ + 1, std::nullopt) : executions().previous(time_, std::nullopt);
  // A write at time w stops just after it (moment w) going forwards, just
  // before it (moment w - 1) going backwards.
  std::optional<WriteHit> write = watchpoints_.empty() ? std::nullopt : watched_write(forward);
  std::optional<uint64_t> write_stop;
  if (write) write_stop = forward ? write->time : write->time - 1;
  if (write_stop && (!hit || (forward ? *write_stop <= hit->time : *write_stop >= hit->time)))
    return Stop{Stop::Why::Watch, *write_stop, write->tid, write->addr};
  if (hit) return Stop{Stop::Why::Breakpoint, hit->time, hit->tid};
  return std::nullopt;
}

}  // namespace omni::gdbserver
