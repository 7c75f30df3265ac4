#include "omni/replay/verify.h"

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstring>
#include <exception>
#include <map>
#include <mutex>
#include <thread>

#include "omni/base/error.h"
#include "omni/index/reader.h"
#include "omni/replay/replay.h"
extern "C" {
#include "libvex_guest_amd64.h"
}

namespace omni::replay {

namespace {

constexpr size_t kStateSize = sizeof(VexGuestAMD64State);

std::vector<GuestField> make_fields() {
  std::vector<GuestField> f;
  auto add = [&](std::string name, size_t offset, size_t size) { f.push_back({std::move(name), offset, size}); };
#define OMNI_FIELD(name, member) add(name, offsetof(VexGuestAMD64State, member), sizeof(VexGuestAMD64State::member))
  OMNI_FIELD("host_evc_failaddr", host_EvC_FAILADDR);
  OMNI_FIELD("host_evc_counter", host_EvC_COUNTER);
  OMNI_FIELD("pad0", pad0);
  for (int i = 0; i < 16; ++i) add(kGprNames[i], gpr_offset(i), 8);
  OMNI_FIELD("cc_op", guest_CC_OP);
  OMNI_FIELD("cc_dep1", guest_CC_DEP1);
  OMNI_FIELD("cc_dep2", guest_CC_DEP2);
  OMNI_FIELD("cc_ndep", guest_CC_NDEP);
  OMNI_FIELD("dflag", guest_DFLAG);
  OMNI_FIELD("rip", guest_RIP);
  OMNI_FIELD("acflag", guest_ACFLAG);
  OMNI_FIELD("idflag", guest_IDFLAG);
  OMNI_FIELD("fs_base", guest_FS_CONST);
  OMNI_FIELD("sseround", guest_SSEROUND);
  for (int i = 0; i <= 16; ++i) add(fmt::format("ymm{}", i), xmm_offset(i), 32);
  OMNI_FIELD("ftop", guest_FTOP);
  OMNI_FIELD("pad1", pad1);
  for (int i = 0; i < 8; ++i) add(fmt::format("fpreg[{}]", i), offsetof(VexGuestAMD64State, guest_FPREG) + 8 * i, 8);
  for (int i = 0; i < 8; ++i) add(fmt::format("fptag[{}]", i), offsetof(VexGuestAMD64State, guest_FPTAG) + i, 1);
  OMNI_FIELD("fpround", guest_FPROUND);
  OMNI_FIELD("fc3210", guest_FC3210);
  OMNI_FIELD("emnote", guest_EMNOTE);
  OMNI_FIELD("pad2", pad2);
  OMNI_FIELD("cmstart", guest_CMSTART);
  OMNI_FIELD("cmlen", guest_CMLEN);
  OMNI_FIELD("nraddr", guest_NRADDR);
  OMNI_FIELD("sc_class", guest_SC_CLASS);
  OMNI_FIELD("gs_base", guest_GS_CONST);
  OMNI_FIELD("ip_at_syscall", guest_IP_AT_SYSCALL);
  OMNI_FIELD("pad3", pad3);
#undef OMNI_FIELD
  return f;
}

const std::vector<GuestField>& fields() {
  static const std::vector<GuestField> f = make_fields();
  return f;
}

// Guest state that is the program's: not Valgrind's bookkeeping (event
// counter, emulation notes, the no-redirect address, the syscall class, the
// rip of the last syscall), which changes outside the IR.
bool compared(size_t off) {
  return off >= offsetof(VexGuestAMD64State, guest_RAX) &&
         !(off >= offsetof(VexGuestAMD64State, guest_EMNOTE) && off < offsetof(VexGuestAMD64State, guest_GS_CONST)) &&
         off < offsetof(VexGuestAMD64State, guest_IP_AT_SYSCALL);
}

// A little-endian value as one number: "0x1f".
std::string number(const uint8_t* p, size_t n) {
  std::string s;
  for (size_t i = n; i-- > 0;) s += fmt::format("{:02x}", p[i]);
  size_t nz = s.find_first_not_of('0');
  return "0x" + (nz == std::string::npos ? std::string("0") : s.substr(nz));
}

// Bytes in memory order, cut after 64.
std::string bytes_hex(const uint8_t* p, size_t n) {
  std::string s;
  for (size_t i = 0; i < n && i < 64; ++i) s += fmt::format("{:02x}", p[i]);
  if (n > 64) s += "...";
  return s;
}

// One interval: a thread from one of its snapshots to its next one (none:
// to the end of the thread's last run).
struct Interval {
  uint32_t tid;
  uint64_t from;
  std::optional<uint64_t> to;
};

// A write, replayed or recorded; data at `offset` of its list's byte buffer.
struct W {
  uint64_t time, pc, addr;
  uint32_t size;
  size_t offset;
  bool helper = false;  // replayed from a helper's recorded bytes: equal by construction
};

// Joins a write to the one before when it continues it at the same
// instruction (the recorder splits a helper's large write into pieces of at
// most 4 KiB; replay writes a 16-byte CAS as one), so both lists compare alike.
void coalesce(std::vector<W>& ws) {
  size_t out = 0;
  for (size_t i = 0; i < ws.size(); ++i) {
    if (out > 0) {
      W& last = ws[out - 1];
      if (last.time == ws[i].time && last.pc == ws[i].pc && last.addr + last.size == ws[i].addr &&
          last.offset + last.size == ws[i].offset) {
        last.size += ws[i].size;
        last.helper = last.helper || ws[i].helper;
        continue;
      }
    }
    ws[out++] = ws[i];
  }
  ws.resize(out);
}

// The recorded writes of one thread over a time range, from the index's
// chunks (the last few decoded are kept: intervals come in time order).
class RecordedWrites {
 public:
  explicit RecordedWrites(index::IndexReader& reader) : reader_(reader) {
    const auto& chunks = reader_.chunks();
    uint64_t m = 0;
    for (const auto& c : chunks) max_last_.push_back(m = std::max(m, c.time_last));
  }

  // The CPU writes of `tid` at times in (from, to], in order, into `ws` and
  // `data`; returns whether the thread also had kernel writes then.
  bool collect(uint32_t tid, uint64_t from, uint64_t to, std::vector<W>& ws, std::vector<uint8_t>& data) {
    ws.clear();
    data.clear();
    bool kernel = false;
    const auto& chunks = reader_.chunks();
    size_t i = std::partition_point(max_last_.begin(), max_last_.end(), [&](uint64_t t) { return t <= from; }) -
               max_last_.begin();
    for (; i < chunks.size() && chunks[i].time_first <= to; ++i) {
      if (chunks[i].time_last <= from) continue;
      const index::DecodedChunk& c = chunk(chunks[i].id);
      for (const index::Event& e : c.events) {
        if (e.time <= from || e.time > to || e.tid != tid) continue;
        if (e.by_kernel) {
          kernel = true;
          continue;
        }
        ws.push_back({e.time, e.pc, e.addr, e.size, data.size()});
        data.insert(data.end(), c.data.begin() + e.data_offset, c.data.begin() + e.data_offset + e.size);
      }
    }
    return kernel;
  }

 private:
  const index::DecodedChunk& chunk(uint32_t id) {
    for (auto& [cid, c] : cache_)
      if (cid == id) return c;
    if (cache_.size() < 4) cache_.emplace_back();
    else std::rotate(cache_.begin(), cache_.begin() + 1, cache_.end());  // oldest last, reused
    auto& slot = cache_.back();
    slot.first = id;
    reader_.load_chunk_into(id, slot.second);
    return slot.second;
  }

  index::IndexReader& reader_;
  std::vector<uint64_t> max_last_;  // running maximum of the chunks' time_last
  std::vector<std::pair<uint32_t, index::DecodedChunk>> cache_;
};

// What one worker needs: its own connection, memory reader and replayer
// (none of them is thread-safe).
struct Worker {
  index::IndexReader reader;
  Replayer replayer{reader};
  RecordedWrites recorded{reader};
  uint64_t instructions_total;
  std::vector<W> rep, rec;
  std::vector<uint8_t> rec_data;

  Worker(const std::string& dir, uint64_t total) : reader(dir), instructions_total(total) {}

  struct Outcome {
    uint64_t instructions = 0, writes = 0, helper_writes = 0;
    bool state_compared = false;
    bool signal = false;  // the end state differs by a signal's delivery
    std::optional<Divergence> divergence;
  };

  Outcome check(const Interval& iv) {
    Outcome out;
    auto snap = reader.snapshot_at(iv.tid, iv.from, false);
    if (!snap) fail("index changed while verifying: no snapshot of thread {} at {}", iv.tid, iv.from);
    uint64_t limit = iv.to ? *iv.to : instructions_total;
    if (auto end = reader.run_end(iv.tid, iv.from); end && *end < limit) limit = *end;
    limit = std::max(limit, iv.from);
    Stretch st = replayer.replay_stretch(std::move(*snap), limit);
    out.instructions = st.time - iv.from;

    auto diverge = [&](Divergence::Kind kind, uint64_t time, uint64_t pc, std::string what, std::string expected,
                       std::string got) {
      out.divergence = Divergence{kind, time, iv.tid, pc, iv.from, std::move(what), std::move(expected), std::move(got)};
    };

    // Writes, in time order: replay's against the recording's. When replay
    // stopped on an error, the writes of that instruction are incomplete.
    bool kernel = recorded.collect(iv.tid, iv.from, limit, rec, rec_data);
    rep.clear();
    for (const ReplayedWrite& w : st.writes) rep.push_back({w.time, w.pc, w.addr, w.size, w.data_offset, w.by_helper});
    if (!st.error.empty()) {
      auto cut = [&](std::vector<W>& ws) {
        ws.erase(std::find_if(ws.begin(), ws.end(), [&](const W& w) { return w.time >= st.time; }), ws.end());
      };
      cut(rep);
      cut(rec);
    }
    coalesce(rep);
    coalesce(rec);
    const uint8_t* rep_bytes = st.data.data();
    const uint8_t* rec_bytes = rec_data.data();
    for (size_t i = 0, j = 0; i < rep.size() || j < rec.size();) {
      if (j == rec.size() || (i < rep.size() && rep[i].time < rec[j].time)) {
        const W& w = rep[i];
        diverge(Divergence::Kind::Extra, w.time, w.pc, fmt::format("write to {:#x} ({} bytes)", w.addr, w.size),
                "none", bytes_hex(rep_bytes + w.offset, w.size));
        return out;
      }
      if (i == rep.size() || rec[j].time < rep[i].time) {
        const W& w = rec[j];
        diverge(Divergence::Kind::Missing, w.time, w.pc, fmt::format("write to {:#x} ({} bytes)", w.addr, w.size),
                bytes_hex(rec_bytes + w.offset, w.size), "none");
        return out;
      }
      const W &a = rec[j], &b = rep[i];
      if (a.addr != b.addr || a.size != b.size) {
        diverge(Divergence::Kind::Write, a.time, a.pc, "write",
                fmt::format("{:#x}:{} = {}", a.addr, a.size, bytes_hex(rec_bytes + a.offset, a.size)),
                fmt::format("{:#x}:{} = {}", b.addr, b.size, bytes_hex(rep_bytes + b.offset, b.size)));
        return out;
      }
      if (std::memcmp(rec_bytes + a.offset, rep_bytes + b.offset, a.size) != 0) {
        diverge(Divergence::Kind::Write, a.time, a.pc, fmt::format("write to {:#x} ({} bytes)", a.addr, a.size),
                bytes_hex(rec_bytes + a.offset, a.size), bytes_hex(rep_bytes + b.offset, b.size));
        return out;
      }
      if (a.pc != b.pc) {
        diverge(Divergence::Kind::Write, a.time, a.pc, fmt::format("pc of the write to {:#x}", a.addr),
                fmt::format("{:#x}", a.pc), fmt::format("{:#x}", b.pc));
        return out;
      }
      ++(b.helper ? out.helper_writes : out.writes);
      ++i;
      ++j;
    }
    if (!st.error.empty()) {
      diverge(Divergence::Kind::Replay, st.time, st.pc, st.error, "", "");
      return out;
    }

    // The state: where replay reached the next snapshot's moment (or the
    // moment the thread stopped for another) without leaving the IR.
    if (!iv.to || st.left_ir || st.time != limit) return out;
    auto expect = reader.snapshot_at(iv.tid, *iv.to, true);
    if (!expect) fail("index changed while verifying: no snapshot of thread {} at {}", iv.tid, *iv.to);
    if (expect->state.size() != kStateSize || st.state.size() != kStateSize)
      fail("register snapshot of {} bytes, this omni expects {}; record again with this omni", expect->state.size(),
           kStateSize);
    size_t off = 0;
    while (off < kStateSize && (!compared(off) || st.state[off] == expect->state[off])) ++off;
    if (off == kStateSize) {
      out.state_compared = true;
      return out;
    }
    // A signal delivered to the thread changes its registers outside the IR;
    // its frame is the thread's kernel write just before the snapshot (also
    // when the thread was not running between). A kernel write of this thread
    // inside the interval can only be such a frame: a syscall would have
    // ended the stretch (left_ir) before this comparison.
    if (kernel || (limit < *iv.to && recorded.collect(iv.tid, limit, *iv.to, rec, rec_data))) {
      out.signal = true;
      return out;
    }
    out.state_compared = true;
    GuestField f = guest_field(off);
    if (f.name.rfind("ymm", 0) == 0) {
      bool high = false;
      for (size_t k = f.offset + 16; k < f.offset + 32; ++k) high = high || st.state[k] != expect->state[k];
      if (!high) {
        f.name = "xmm" + f.name.substr(3);
        f.size = 16;
      }
    }
    uint64_t rip;
    std::memcpy(&rip, expect->state.data() + offsetof(VexGuestAMD64State, guest_RIP), 8);
    diverge(Divergence::Kind::Register, st.time, rip, f.name, number(expect->state.data() + f.offset, f.size),
            number(st.state.data() + f.offset, f.size));
    return out;
  }
};

bool earlier(const Divergence& a, const Divergence& b) {
  return a.time != b.time ? a.time < b.time : a.tid < b.tid;
}

}  // namespace

GuestField guest_field(size_t offset) {
  for (const GuestField& f : fields())
    if (offset >= f.offset && offset < f.offset + f.size) return f;
  return {fmt::format("guest state byte {}", offset), offset, 1};
}

VerifyResult verify(const VerifyOptions& options, const std::function<void(const VerifyProgress&)>& progress) {
  VerifyResult result;
  std::vector<Interval> intervals;
  uint64_t total = 0;
  {
    index::IndexReader reader(options.trace_dir);
    auto instructions = reader.meta_int("instructions");
    if (!instructions) fail("index of {} has no instruction count; index it again", options.trace_dir);
    total = static_cast<uint64_t>(*instructions);
    result.threads = static_cast<uint32_t>(reader.threads().size());
    std::map<uint32_t, size_t> open;  // tid -> its interval without an end yet
    for (auto [tid, time] : reader.snapshot_list()) {
      auto it = open.find(tid);
      if (it != open.end()) {
        Interval& last = intervals[it->second];
        if (last.from == time) continue;  // several snapshots at one time
        last.to = time;
      }
      open[tid] = intervals.size();
      intervals.push_back({tid, time, std::nullopt});
    }
    std::stable_sort(intervals.begin(), intervals.end(),
                     [](const Interval& a, const Interval& b) { return a.from < b.from; });
  }
  result.intervals_total = intervals.size();
  // Nothing replayed would be no evidence of anything.
  if (intervals.empty())
    fail("{}: the index holds no register snapshots, so nothing can be replayed; record again with this omni",
         options.trace_dir);
  if (options.sample && options.sample < intervals.size()) {
    std::vector<Interval> sample;
    for (uint64_t i = 0; i < options.sample; ++i) sample.push_back(intervals[i * intervals.size() / options.sample]);
    intervals = std::move(sample);
  }
  result.intervals = intervals.size();

  unsigned workers = options.workers ? options.workers : std::max(1u, std::thread::hardware_concurrency());
  // Batches of neighbouring intervals keep a worker's decoded chunks and
  // memory rows useful from one interval to the next.
  const size_t batch = std::clamp<size_t>(intervals.size() / (workers * 16u), 1, 64);
  workers = static_cast<unsigned>(std::min<size_t>(workers, (intervals.size() + batch - 1) / batch));
  workers = std::max(workers, 1u);
  result.workers = workers;

  std::atomic<size_t> next{0};
  std::atomic<uint64_t> done{0}, instructions{0}, writes{0}, helper_writes{0}, states{0}, signals{0};
  // Intervals starting at or after the earliest divergence found so far can
  // only diverge later: they are skipped.
  std::atomic<uint64_t> horizon{UINT64_MAX};
  std::mutex mutex;
  std::optional<Divergence> first;
  std::exception_ptr error;
  unsigned running = workers;  // under mutex
  std::condition_variable finished;

  auto work = [&] {
    try {
      Worker w(options.trace_dir, total);
      for (;;) {
        size_t begin = next.fetch_add(batch);
        if (begin >= intervals.size()) break;
        size_t end = std::min(intervals.size(), begin + batch);
        for (size_t k = begin; k < end; ++k) {
          if (intervals[k].from >= horizon.load()) break;
          Worker::Outcome o = w.check(intervals[k]);
          instructions += o.instructions;
          writes += o.writes;
          helper_writes += o.helper_writes;
          if (o.state_compared) ++states;
          if (o.signal) ++signals;
          ++done;
          if (o.divergence) {
            std::lock_guard lock(mutex);
            if (!first || earlier(*o.divergence, *first)) {
              first = o.divergence;
              horizon = std::min(horizon.load(), first->time);
            }
          }
        }
      }
    } catch (...) {
      std::lock_guard lock(mutex);
      if (!error) error = std::current_exception();
      horizon = 0;
    }
    std::lock_guard lock(mutex);
    --running;
    finished.notify_all();
  };
  std::vector<std::thread> threads;
  // A thread that cannot be started must not leave the others running (a
  // joinable std::thread destroyed is std::terminate): stop them, join, rethrow.
  auto start = [&] {
    try {
      threads.emplace_back(work);
    } catch (...) {
      {
        std::lock_guard lock(mutex);
        horizon = 0;
      }
      for (auto& t : threads) t.join();
      throw;
    }
  };
  for (unsigned i = 1; i < workers; ++i) start();
  if (progress) {
    // The calling thread reports while the others work; it then joins in.
    start();
    std::unique_lock lock(mutex);
    while (running > 0) {
      lock.unlock();
      progress({done.load(), intervals.size(), instructions.load()});
      lock.lock();
      finished.wait_for(lock, std::chrono::milliseconds(200), [&] { return running == 0; });
    }
  } else {
    work();
  }
  for (auto& t : threads) t.join();
  if (error) std::rethrow_exception(error);
  result.instructions = instructions;
  result.writes = writes;
  result.helper_writes = helper_writes;
  result.states = states;
  result.signal_states = signals;
  result.divergence = first;
  return result;
}

}  // namespace omni::replay
