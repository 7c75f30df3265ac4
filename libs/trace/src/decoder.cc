#include "omni/trace/decoder.h"

#include <cstring>
#include <iterator>

#include "omni/base/error.h"
#include "omni/trace/stream.h"
#include "omni/trace/stream_versions.h"

namespace omni::trace {

namespace {

template <typename T>
T load(const uint8_t* p) {
  T value;
  std::memcpy(&value, p, sizeof value);
  return value;
}

// Valgrind thread ids are small (--max-threads); a larger one is damage, and
// would otherwise size the tables below.
constexpr uint64_t kMaxThreadId = 1u << 20;

constexpr const StreamVersion& kCurrent = kStreamVersions[OMNI_STREAM_VERSION - 1];

// By OMNI_EXT_* type, for errors about a record a version lacks.
constexpr const char* kTypeNames[] = {"?",          "BLOCK_DEF", "WRITE",   "SYSCALL_WRITE", "THREAD_RUN",
                                      "THREAD_CREATE", "THREAD_EXIT", "MAP", "TIME",    "EXIT",
                                      "SYSCALL",    "OUTPUT",    "INITIAL", "SNAPSHOT",      "SIGNAL", "SEQ"};
static_assert(std::size(kTypeNames) == OMNI_EXT_SEQ + 1, "a new record type is named here");

}  // namespace

template <typename... Args>
void StreamDecoder::corrupt(fmt::format_string<Args...> format, Args&&... args) const {
  fail("trace file is corrupt: {} (record at stream byte {})",
       fmt::format(format, std::forward<Args>(args)...), at_);
}

void StreamDecoder::feed(const uint8_t* bytes, size_t size) {
  if (!carry_.empty()) {
    carry_.insert(carry_.end(), bytes, bytes + size);
    std::vector<uint8_t> joined;
    joined.swap(carry_);
    const uint8_t* stop = decode(joined.data(), joined.data() + joined.size());
    base_ += stop - joined.data();
    carry_.assign(stop, static_cast<const uint8_t*>(joined.data() + joined.size()));
    return;
  }
  const uint8_t* stop = decode(bytes, bytes + size);
  base_ += stop - bytes;
  carry_.assign(stop, bytes + size);
}

void StreamDecoder::check_count(uint64_t t, const char* what) {
  if (t < count_) corrupt("time goes backwards: {} at time {} after time {}", what, t, count_);
  if (block_ && t < block_entry_)
    corrupt("the block entry at stream byte {} has time {}, past the {} record's full count {}",
            block_at_, block_entry_, what, t);
  count_ = t;
}

uint32_t StreamDecoder::known_thread(uint32_t vg_tid, const char* what) {
  if (vg_tid != 1 && (vg_tid >= known_threads_.size() || !known_threads_[vg_tid]))
    corrupt("{} record names thread {}, which no THREAD_CREATE made", what, vg_tid);
  return thread_number(vg_tid);
}

const uint8_t* StreamDecoder::decode(const uint8_t* p, const uint8_t* end) {
  const uint8_t* const begin = p;
  at_ = base_;
  if (!preamble_done_) {
    if (end - p < OMNI_STREAM_PREAMBLE_BYTES) return p;
    if (std::memcmp(p, OMNI_STREAM_MAGIC, 8) != 0) corrupt("bad preamble");
    uint32_t version = load<uint32_t>(p + 8);
    const StreamVersion* known = find_stream_version(version);
    if (!known)
      fail("trace stream has version {}, this omni reads version {}; it was written by a newer omni (or is "
           "damaged)",
           version, OMNI_STREAM_VERSION);
    // A recording cannot be made again, but the last omni that wrote its
    // version can still index and answer it.
    if (!known->readable)
      fail("trace stream has version {}, written by an older omni; this omni cannot read it ({}): index and "
           "query it with omni as of commit {} (the last that reads version {}), or record it again",
           version, known->unreadable_because, known->last_reader, version);
    if (known->gaps & ~accepted_gaps_)
      fail("trace stream has version {}, written by an older omni; it lacks {}, without which this omni "
           "cannot answer exactly: index and query it with omni as of commit {} (the last that reads version "
           "{}), or record it again",
           version, describe_stream_gaps(known->gaps & ~accepted_gaps_), known->last_reader, version);
    version_ = known;
    uint32_t flags = load<uint32_t>(p + 12);
    if (version < 7 ? flags != 0 : (flags & ~uint32_t{OMNI_STREAM_FLAGS_KNOWN}) != 0)
      corrupt("unknown preamble flags {:#x} in a version-{} stream", flags, version);
    every_block_ = (flags & OMNI_STREAM_FLAG_EVERY_BLOCK) != 0;
    p += OMNI_STREAM_PREAMBLE_BYTES;
    preamble_done_ = true;
  }
  WriteEvent event{};
  while (end - p >= 8) {
    at_ = base_ + (p - begin);
    uint64_t word = load<uint64_t>(p);
    if (!(word & OMNI_TAG_BIT)) {
      if (!block_ || next_site_ >= block_->sites.size())
        corrupt("site record outside a block (at time {})", time_);
      const Site& site = block_->sites[next_site_];
      uint64_t site_time = block_entry_ + site.offset;
      if (site.kind == OMNI_SITE_STORE) {
        if (static_cast<size_t>(end - p) < 8 + site.size) break;
        event.time = site_time;
        event.tid = tid_;
        event.by_kernel = false;
        event.pc = site.pc;
        event.addr = word;
        event.size = site.size;
        event.data = p + 8;
        ++writes_;
        sink_.on_write(event);
        p += 8 + site.size;
      } else if (site.kind == OMNI_SITE_VALUE) {
        if (static_cast<size_t>(end - p) < 8 + site.size) break;
        if (word != site.size)
          corrupt("value of {} bytes where the block says {} (at time {})", word, site.size,
                  site_time);
        sink_.on_value(site_time, tid_, p + 8, site.size);
        p += 8 + site.size;
      } else if (site.kind == OMNI_SITE_ENTRY) {
        sink_.on_entry(BranchEvent{site_time, tid_, site.pc, word, site.pc});
        p += 8;
      } else {
        if (end - p < 16) break;
        BranchEvent branch{site_time, tid_, site.pc, word, load<uint64_t>(p + 8)};
        if (site.kind == OMNI_SITE_CALL)
          sink_.on_call(branch);
        else if (site.kind == OMNI_SITE_RET)
          sink_.on_return(branch);
        else
          sink_.on_jump(branch);
        p += 16;
      }
      ++next_site_;
      if (site_time > time_) time_ = site_time;
      continue;
    }
    uint64_t kind = (word >> OMNI_KIND_SHIFT) & OMNI_KIND_MASK;
    if (kind == OMNI_KIND_BLOCK) {
      uint32_t id = (word >> OMNI_BLOCK_ID_SHIFT) & OMNI_BLOCK_ID_MAX;
      if (id >= blocks_.size() || !blocks_[id].defined)
        corrupt("entry into undefined block {}", id);
      if (blocks_[id].sites.empty() && !every_block_)
        corrupt("entry into block {}, which has no sites, in a stream that logs only blocks with sites", id);
      uint64_t low = word & OMNI_BLOCK_TIME_MASK;
      uint64_t full;
      if (every_block_) {
        full = last_block_time_ + low;
        if (full < time_) corrupt("BLOCK word's time {} is before the stream's time {}", full, time_);
        last_block_time_ = full;
      } else {
        full = (time_ & ~OMNI_BLOCK_TIME_MASK) | low;
        if (full < time_) full += OMNI_BLOCK_TIME_MASK + 1;
      }
      time_ = full;
      block_entry_ = full;
      block_at_ = at_;
      block_ = &blocks_[id];
      next_site_ = 0;
      sink_.on_block(full, tid_, id);
      p += 8;
      continue;
    }
    if (kind != OMNI_KIND_EXT) corrupt("unknown record kind {}", kind);
    uint32_t type = (word >> OMNI_EXT_TYPE_SHIFT) & 0xff;
    uint32_t length = word & OMNI_EXT_LEN_MASK;
    // Checked before waiting for the payload: a length no record of its type
    // can have would otherwise read on into the records after it.
    check_length(type, length);
    // check_length() refused types no version has.
    if (!(version_->ext_types & (1u << type)))
      corrupt("{} record in a version-{} stream (a later version's)", kTypeNames[type], version_->version);
    if (static_cast<size_t>(end - p) < 8ull + length) break;
    extended(type, p + 8, length);
    p += 8 + length;
  }
  return p;
}

void StreamDecoder::check_length(uint32_t type, uint32_t length) const {
  auto exactly = [&](uint64_t bytes, const char* name) {
    if (length != bytes) corrupt("{} record of {} bytes, not {}", name, length, bytes);
  };
  auto between = [&](uint64_t low, uint64_t high, const char* name) {
    if (length < low || length > high)
      corrupt("{} record of {} bytes, not {} to {}", name, length, low, high);
  };
  switch (type) {
    case OMNI_EXT_BLOCK_DEF:
      between(OMNI_BLOCK_DEF_FIXED_BYTES, OMNI_EXT_LEN_MASK, "BLOCK_DEF");
      break;
    case OMNI_EXT_WRITE:
    case OMNI_EXT_SYSCALL_WRITE:
      between(OMNI_WRITE_FIXED_BYTES, OMNI_WRITE_FIXED_BYTES + OMNI_MAX_WRITE_BYTES,
              type == OMNI_EXT_WRITE ? "WRITE" : "SYSCALL_WRITE");
      break;
    case OMNI_EXT_THREAD_RUN: exactly(16, "THREAD_RUN"); break;
    case OMNI_EXT_THREAD_CREATE: exactly(16, "THREAD_CREATE"); break;
    case OMNI_EXT_THREAD_EXIT: exactly(16, "THREAD_EXIT"); break;
    case OMNI_EXT_MAP:
      // The path is the recorder's name for the mapping, unbounded by PATH_MAX
      // (" (deleted)" may follow it): any a slot can hold.
      between(OMNI_MAP_FIXED_BYTES, OMNI_MAP_FIXED_BYTES + 65536, "MAP");
      break;
    case OMNI_EXT_TIME: exactly(8, "TIME"); break;
    case OMNI_EXT_EXIT: exactly(16, "EXIT"); break;
    case OMNI_EXT_SYSCALL: exactly(OMNI_SYSCALL_BYTES, "SYSCALL"); break;
    case OMNI_EXT_OUTPUT:
      between(OMNI_OUTPUT_FIXED_BYTES, OMNI_OUTPUT_FIXED_BYTES + OMNI_MAX_OUTPUT_BYTES, "OUTPUT");
      break;
    case OMNI_EXT_INITIAL: between(8, 8 + OMNI_MAX_WRITE_BYTES, "INITIAL"); break;
    case OMNI_EXT_SNAPSHOT:
      between(OMNI_SNAPSHOT_FIXED_BYTES, OMNI_SNAPSHOT_FIXED_BYTES + 65536, "SNAPSHOT");
      break;
    case OMNI_EXT_SIGNAL: exactly(OMNI_SIGNAL_BYTES, "SIGNAL"); break;
    case OMNI_EXT_SEQ: exactly(OMNI_SEQ_BYTES, "SEQ"); break;
    default:
      corrupt("unknown record type {}", type);
  }
}

uint32_t StreamDecoder::thread_number(uint32_t vg_tid) {
  if (vg_tid >= thread_numbers_.size()) thread_numbers_.resize(vg_tid + 1, 0);
  // A thread never announced (a recorder without THREAD_CREATE) gets the next number.
  if (thread_numbers_[vg_tid] == 0) thread_numbers_[vg_tid] = ++threads_created_;
  return thread_numbers_[vg_tid];
}

void StreamDecoder::extended(uint32_t type, const uint8_t* payload, uint32_t length) {
  // check_length() has bounded every fixed-size part already.
  if (pending_seq_ && type != OMNI_EXT_SYSCALL) corrupt("SEQ record not followed by its SYSCALL");
  switch (type) {
    case OMNI_EXT_BLOCK_DEF: {
      uint32_t id = load<uint32_t>(payload);
      uint32_t count = load<uint32_t>(payload + 4);
      uint32_t ir_bytes = load<uint32_t>(payload + 24);
      uint64_t need = OMNI_BLOCK_DEF_FIXED_BYTES + uint64_t{count} * OMNI_SITE_DEF_BYTES + ir_bytes;
      if (need != length)
        corrupt("BLOCK_DEF of block {} with {} sites and {} IR bytes needs {} bytes, has {}", id, count,
                ir_bytes, need, length);
      if (id > OMNI_BLOCK_ID_MAX) corrupt("block id {}", id);
      if (id >= blocks_.size()) {
        // Growing may move blocks_: re-point the current block.
        size_t current = block_ ? block_ - blocks_.data() : 0;
        bool had = block_ != nullptr;
        blocks_.resize(id + 1);
        if (had) block_ = &blocks_[current];
      }
      Block& block = blocks_[id];
      const uint8_t* sites = payload + OMNI_BLOCK_DEF_FIXED_BYTES;
      std::vector<Site> defined(count);
      for (uint32_t i = 0; i < count; ++i) {
        const uint8_t* s = sites + i * OMNI_SITE_DEF_BYTES;
        uint32_t size_kind = load<uint32_t>(s + 12);
        Site site{load<uint64_t>(s), load<uint32_t>(s + 8), size_kind & OMNI_SITE_SIZE_MASK,
                  size_kind >> OMNI_SITE_KIND_SHIFT};
        if (site.kind >= 32 || !(version_->site_kinds & (1u << site.kind)))
          corrupt("block {} site {} has kind {}{}", id, i, site.kind,
                  site.kind < 32 && (kCurrent.site_kinds & (1u << site.kind))
                      ? fmt::format(" in a version-{} stream (a later version's)", version_->version)
                      : std::string());
        // An inline store or value is at most a register's worth; a larger
        // size would swallow the records after it.
        if ((site.kind == OMNI_SITE_STORE || site.kind == OMNI_SITE_VALUE) &&
            site.size > OMNI_MAX_WRITE_BYTES)
          corrupt("block {} site {} has size {}", id, i, site.size);
        defined[i] = site;
      }
      // Only now: a rejected definition must not replace the current block's sites.
      block.sites = std::move(defined);
      block.defined = true;
      BlockDefEvent def{id, load<uint64_t>(payload + 8), load<uint64_t>(payload + 16),
                        sites + uint64_t{count} * OMNI_SITE_DEF_BYTES, ir_bytes, count};
      sink_.on_block_def(def);
      break;
    }
    case OMNI_EXT_SNAPSHOT: {
      uint32_t size = load<uint32_t>(payload + 12);
      if (OMNI_SNAPSHOT_FIXED_BYTES + uint64_t{size} != length)
        corrupt("SNAPSHOT of {} state bytes in a record of {} bytes", size, length);
      uint64_t t = load<uint64_t>(payload);
      check_count(t, "SNAPSHOT");
      if (t > time_) time_ = t;
      sink_.on_snapshot(t, known_thread(load<uint32_t>(payload + 8), "SNAPSHOT"),
                        payload + OMNI_SNAPSHOT_FIXED_BYTES, size);
      break;
    }
    case OMNI_EXT_WRITE:
    case OMNI_EXT_SYSCALL_WRITE: {
      WriteEvent event{};
      event.time = load<uint64_t>(payload);
      event.pc = load<uint64_t>(payload + 8);
      event.addr = load<uint64_t>(payload + 16);
      event.size = length - OMNI_WRITE_FIXED_BYTES;
      event.data = payload + OMNI_WRITE_FIXED_BYTES;
      event.tid = tid_;
      event.by_kernel = type == OMNI_EXT_SYSCALL_WRITE;
      if (event.time > time_) time_ = event.time;
      ++writes_;
      sink_.on_write(event);
      break;
    }
    case OMNI_EXT_THREAD_RUN: {
      uint64_t t = load<uint64_t>(payload + 8);
      check_count(t, "THREAD_RUN");
      tid_ = known_thread(load<uint32_t>(payload), "THREAD_RUN");
      if (t > time_) time_ = t;
      sink_.on_thread_run(t, tid_, load<uint32_t>(payload + 4));
      break;
    }
    case OMNI_EXT_THREAD_CREATE: {
      uint32_t parent = load<uint32_t>(payload);
      uint32_t child = load<uint32_t>(payload + 4);
      uint64_t t = load<uint64_t>(payload + 8);
      check_count(t, "THREAD_CREATE");
      uint32_t parent_number = parent ? known_thread(parent, "THREAD_CREATE") : 0;
      if (child == 0 || child >= kMaxThreadId) corrupt("THREAD_CREATE of thread {}", child);
      if (child >= thread_numbers_.size()) thread_numbers_.resize(child + 1, 0);
      if (child >= known_threads_.size()) known_threads_.resize(child + 1, false);
      thread_numbers_[child] = ++threads_created_;
      known_threads_[child] = true;
      sink_.on_thread_create(t, parent_number, thread_numbers_[child]);
      break;
    }
    case OMNI_EXT_THREAD_EXIT: {
      uint64_t t = load<uint64_t>(payload + 8);
      check_count(t, "THREAD_EXIT");
      sink_.on_thread_exit(t, known_thread(load<uint32_t>(payload), "THREAD_EXIT"));
      break;
    }
    case OMNI_EXT_MAP: {
      MapEvent event;
      event.time = load<uint64_t>(payload);
      event.start = load<uint64_t>(payload + 8);
      event.length = load<uint64_t>(payload + 16);
      event.prot = load<uint32_t>(payload + 24);
      event.event = load<uint32_t>(payload + 28);
      if (event.event < OMNI_MAP_STARTUP || event.event > OMNI_MAP_BRK_SHRINK)
        corrupt("MAP of unknown kind {}", event.event);
      if (event.prot & ~version_->map_prot)
        corrupt("MAP with protection bits {:#x} in a version-{} stream", event.prot, version_->version);
      event.offset = load<uint64_t>(payload + 32);
      event.path.assign(reinterpret_cast<const char*>(payload) + OMNI_MAP_FIXED_BYTES,
                        length - OMNI_MAP_FIXED_BYTES);
      sink_.on_map(event);
      break;
    }
    case OMNI_EXT_TIME: {
      uint64_t t = load<uint64_t>(payload);
      check_count(t, "TIME");
      if (t > time_) time_ = t;
      last_block_time_ = t;
      break;
    }
    case OMNI_EXT_SYSCALL: {
      SyscallEvent event;
      event.time = load<uint64_t>(payload);
      event.nr = load<uint64_t>(payload + 8);
      for (int i = 0; i < 6; ++i) event.args[i] = load<uint64_t>(payload + 16 + 8 * i);
      event.result = load<int64_t>(payload + 64);
      uint64_t flags = load<uint64_t>(payload + 72);
      if (flags & ~version_->syscall_flags)
        corrupt("SYSCALL with flags {:#x} in a version-{} stream", flags, version_->version);
      event.has_result = !(flags & OMNI_SYSCALL_NO_RESULT);
      event.late_result = (flags & OMNI_SYSCALL_LATE_RESULT) != 0;
      uint64_t vg_tid = load<uint64_t>(payload + 80);
      if (vg_tid >= kMaxThreadId) corrupt("SYSCALL record names thread {}", vg_tid);
      event.tid = known_thread(static_cast<uint32_t>(vg_tid), "SYSCALL");
      if (pending_seq_) {
        event.seq_enter = pending_seq_->first;
        event.seq_exit = pending_seq_->second;
        pending_seq_.reset();
      }
      sink_.on_syscall(event);
      break;
    }
    case OMNI_EXT_SEQ: {
      uint64_t enter = load<uint64_t>(payload), exit = load<uint64_t>(payload + 8);
      if (enter == 0 || (exit != 0 && exit <= enter)) corrupt("SEQ of {} and {}", enter, exit);
      pending_seq_ = std::make_pair(enter, exit);
      break;
    }
    case OMNI_EXT_SIGNAL: {
      SignalEvent event;
      event.time = load<uint64_t>(payload);
      event.tid = known_thread(load<uint32_t>(payload + 8), "SIGNAL");
      event.signal = load<uint32_t>(payload + 12);
      // Linux numbers signals 1 to 64 (_NSIG); the index packs the number
      // into a call row's flags.
      if (event.signal < 1 || event.signal > 64) corrupt("SIGNAL of signal number {}", event.signal);
      event.pc = load<uint64_t>(payload + 16);
      event.rsp = load<uint64_t>(payload + 24);
      event.handler = load<uint64_t>(payload + 32);
      event.handler_rsp = load<uint64_t>(payload + 40);
      if (event.time > time_) time_ = event.time;
      sink_.on_signal(event);
      break;
    }
    case OMNI_EXT_OUTPUT:
      sink_.on_output(load<uint64_t>(payload), known_thread(load<uint32_t>(payload + 12), "OUTPUT"),
                      load<uint32_t>(payload + 8), payload + OMNI_OUTPUT_FIXED_BYTES,
                      length - OMNI_OUTPUT_FIXED_BYTES);
      break;
    case OMNI_EXT_INITIAL:
      sink_.on_initial(load<uint64_t>(payload), payload + 8, length - 8);
      break;
    case OMNI_EXT_EXIT: {
      uint64_t t = load<uint64_t>(payload);
      check_count(t, "EXIT");
      saw_exit_ = true;
      if (t > time_) time_ = t;
      sink_.on_exit(t, load<int32_t>(payload + 8));
      break;
    }
  }
}

}  // namespace omni::trace
