#include "omni/gdbserver/timeline.h"

#include "omni/base/error.h"
#include "omni/index/maps.h"

#include <algorithm>
#include <deque>

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

namespace {

// The watched bytes' values at a moment, each known or not: a byte unmapped,
// not held by the recording, or shared with other processes then compares
// unequal to anything, so a write to it always stops.
struct WatchedBytes {
  std::vector<uint8_t> value;
  std::vector<bool> known;
};

WatchedBytes watched_bytes(const replay::MemoryImage& image) {
  WatchedBytes w{image.bytes, std::vector<bool>(image.size, image.file_missing.empty())};
  for (uint64_t i = 0; i < image.size; ++i) {
    if (!image.mapped[i] || (!image.unknown.empty() && image.unknown[i])) w.known[i] = false;
    for (const auto& s : image.shared)
      if (image.addr + i >= s.addr && image.addr + i < s.addr + s.size) w.known[i] = false;
  }
  return w;
}

}  // namespace

std::vector<uint64_t> Timeline::forgets(uint64_t addr, uint64_t size) {
  if (!maps_) maps_ = session_.reader().maps(end_);
  std::vector<uint64_t> out;
  for (const index::MapRow& m : *maps_)
    if (index::forgets_contents(m.kind) && m.start < addr + size && addr < m.start + m.length) out.push_back(m.time);
  return out;
}

std::optional<Timeline::WriteHit> Timeline::watched_write(bool forward) {
  std::optional<WriteHit> best;
  for (const auto& [addr, size] : watchpoints_) {
    std::optional<WriteHit> hit = forward ? next_change(addr, size) : last_change(addr, size);
    if (hit && (!best || (forward ? hit->time < best->time : hit->time > best->time))) best = hit;
  }
  return best;
}

// Forwards: the watched bytes' values now, updated by each later write in
// time order; the first write that makes one of them differ is the stop.
std::optional<Timeline::WriteHit> Timeline::next_change(uint64_t addr, uint64_t size) {
  index::IndexReader& reader = session_.reader();
  WatchedBytes now = watched_bytes(session_.memory().read(addr, size, time_));
  // Mapped anew or unmapped after now: the bytes' values change without a
  // write, and are read again as the change left them.
  std::vector<uint64_t> forgotten = forgets(addr, size);
  auto next_forget = std::upper_bound(forgotten.begin(), forgotten.end(), time_);
  std::optional<index::ChunkRow> current = reader.chunk_at(time_);
  uint32_t first = current ? current->id : 0;
  std::optional<WriteHit> found;
  reader.chunks_writing(addr, size, false, [&](uint32_t id) {
    if (id < first) return true;
    index::DecodedChunk writes = reader.load_chunk_writes(id, addr, size);
    for (const index::Event& e : writes.events) {
      if (e.time <= time_) continue;
      if (next_forget != forgotten.end() && *next_forget <= e.time) {
        uint64_t last = *next_forget;
        while (next_forget != forgotten.end() && *next_forget <= e.time) last = *next_forget++;
        // A change at the write's own moment cannot be told from the write.
        if (last == e.time) now.known.assign(size, false);
        else now = watched_bytes(session_.memory().read(addr, size, last));
      }
      const uint8_t* data = writes.data.data() + e.data_offset;
      for (uint64_t a = std::max(e.addr, addr); a < std::min(e.addr + e.size, addr + size); ++a) {
        uint64_t i = a - addr;
        if (!now.known[i] || now.value[i] != data[a - e.addr]) {
          found = WriteHit{e.time, e.tid, std::max(e.addr, addr)};
          return false;
        }
      }
    }
    return true;
  });
  return found;
}

// Backwards: a write changed a byte when the next older write of that byte
// left another value there. Writes are met newest first; each waits until
// every watched byte it wrote has met its older writer (or the walk ends,
// when memory just before it is read), and the newest that changed one is
// the stop.
std::optional<Timeline::WriteHit> Timeline::last_change(uint64_t addr, uint64_t size) {
  index::IndexReader& reader = session_.reader();
  struct Pending {
    WriteHit hit;
    std::vector<uint8_t> value;  // what it left in the watched bytes it wrote
    std::vector<bool> wrote;
    uint64_t unresolved = 0;  // watched bytes it wrote whose older writer is not met yet
    bool changed = false;
  };
  // Whether `p` changed a byte it wrote, from memory just before it: exact
  // where the older writes do not tell (none met, or a remap between).
  auto changed_from_memory = [&](const Pending& p) {
    if (p.hit.time == 0) return true;  // nothing is before the first moment to compare with
    WatchedBytes before = watched_bytes(session_.memory().read(addr, size, p.hit.time - 1));
    for (uint64_t i = 0; i < size; ++i)
      if (p.wrote[i] && (!before.known[i] || before.value[i] != p.value[i])) return true;
    return false;
  };
  std::deque<Pending> pending;  // newest first; the front is the newest unresolved
  size_t popped = 0;            // pending entries dropped from the front so far
  std::vector<int64_t> holder(size, -1);  // per byte: the pending write waiting on its older writer
  std::optional<index::ChunkRow> current = reader.chunk_at(time_);
  if (!current) return std::nullopt;
  // A write's older writer of a byte tells its value before only when the
  // memory was not mapped anew or unmapped between them; else memory just
  // before the write does.
  std::vector<uint64_t> forgotten = forgets(addr, size);
  auto forgotten_between = [&](uint64_t older, uint64_t newer) {
    auto it = std::upper_bound(forgotten.begin(), forgotten.end(), older);
    return it != forgotten.end() && *it <= newer;
  };
  std::optional<WriteHit> found;
  // Drops resolved writes that changed nothing from the front; true when
  // the front is the answer.
  auto settle = [&] {
    while (!pending.empty()) {
      if (pending.front().changed) {
        found = pending.front().hit;
        return true;
      }
      if (pending.front().unresolved) return false;
      pending.pop_front();
      ++popped;
    }
    return false;
  };
  reader.chunks_writing(addr, size, true, [&](uint32_t id) {
    if (id > current->id) return true;
    index::DecodedChunk chunk = reader.load_chunk_writes(id, addr, size, time_);
    for (auto e = chunk.events.rbegin(); e != chunk.events.rend(); ++e) {
      const uint8_t* data = chunk.data.data() + e->data_offset;
      Pending p{WriteHit{e->time, e->tid, std::max(e->addr, addr)}, std::vector<uint8_t>(size),
                std::vector<bool>(size)};
      for (uint64_t a = std::max(e->addr, addr); a < std::min(e->addr + e->size, addr + size); ++a) {
        uint64_t i = a - addr;
        p.value[i] = data[a - e->addr];
        p.wrote[i] = true;
        ++p.unresolved;
        if (holder[i] >= 0 && size_t(holder[i]) >= popped) {
          Pending& newer = pending[holder[i] - popped];
          if (newer.unresolved && forgotten_between(p.hit.time, newer.hit.time)) {
            // Memory settles every byte of it at once.
            newer.changed = newer.changed || changed_from_memory(newer);
            newer.unresolved = 0;
          } else if (newer.unresolved) {
            if (newer.value[i] != p.value[i]) newer.changed = true;
            --newer.unresolved;
          }
        }
        holder[i] = int64_t(popped + pending.size());
      }
      pending.push_back(std::move(p));
      if (settle()) return false;
    }
    return true;
  });
  if (found) return found;
  // Writes left waiting have no older writer of some byte: compare with
  // memory just before them (at most one such write per watched byte).
  while (!pending.empty()) {
    Pending& p = pending.front();
    if (!p.changed && p.unresolved) p.changed = changed_from_memory(p);
    p.unresolved = 0;
    if (settle()) return found;
  }
  return std::nullopt;
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
  if (write) write_stop = forward || write->time == 0 ? write->time : write->time - 1;
  if (write_stop && (!hit || (forward ? *write_stop <= hit->time : *write_stop >= hit->time)))
    return Stop{Stop::Why::Watch, *write_stop, write->tid, write->addr};
  if (hit) return Stop{Stop::Why::Breakpoint, hit->time, hit->tid};
  return std::nullopt;
}

}  // namespace omni::gdbserver
