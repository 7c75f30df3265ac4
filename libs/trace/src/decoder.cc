#include "omni/trace/decoder.h"

#include <cstring>

#include "omni/base/error.h"
#include "omni/trace/stream.h"

namespace omni::trace {

namespace {

template <typename T>
T load(const uint8_t* p) {
  T value;
  std::memcpy(&value, p, sizeof value);
  return value;
}

}  // namespace

void StreamDecoder::feed(const uint8_t* bytes, size_t size) {
  if (!carry_.empty()) {
    carry_.insert(carry_.end(), bytes, bytes + size);
    std::vector<uint8_t> joined;
    joined.swap(carry_);
    const uint8_t* stop = decode(joined.data(), joined.data() + joined.size());
    carry_.assign(stop, static_cast<const uint8_t*>(joined.data() + joined.size()));
    return;
  }
  const uint8_t* stop = decode(bytes, bytes + size);
  carry_.assign(stop, bytes + size);
}

const uint8_t* StreamDecoder::decode(const uint8_t* p, const uint8_t* end) {
  if (!preamble_done_) {
    if (end - p < OMNI_STREAM_PREAMBLE_BYTES) return p;
    if (std::memcmp(p, OMNI_STREAM_MAGIC, 8) != 0) fail("trace stream is corrupt: bad preamble");
    uint32_t version = load<uint32_t>(p + 8);
    if (version != OMNI_STREAM_VERSION)
      fail("trace stream has version {}, this omni reads version {}; record it again with this omni",
           version, OMNI_STREAM_VERSION);
    p += OMNI_STREAM_PREAMBLE_BYTES;
    preamble_done_ = true;
  }
  WriteEvent event{};
  while (end - p >= 8) {
    uint64_t word = load<uint64_t>(p);
    if (!(word & OMNI_TAG_BIT)) {
      if (!block_ || next_site_ >= block_->sites.size())
        fail("trace stream is corrupt: site record outside a block (at time {})", time_);
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
          fail("trace stream is corrupt: value of {} bytes where the block says {} (at time {})", word,
               site.size, site_time);
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
      if (id >= blocks_.size() || blocks_[id].sites.empty())
        fail("trace stream is corrupt: entry into undefined block {}", id);
      uint64_t low = word & OMNI_BLOCK_TIME_MASK;
      uint64_t full = (time_ & ~OMNI_BLOCK_TIME_MASK) | low;
      if (full < time_) full += OMNI_BLOCK_TIME_MASK + 1;
      time_ = full;
      block_entry_ = full;
      block_ = &blocks_[id];
      next_site_ = 0;
      p += 8;
      continue;
    }
    if (kind != OMNI_KIND_EXT) fail("trace stream is corrupt: unknown record kind {}", kind);
    uint32_t type = (word >> OMNI_EXT_TYPE_SHIFT) & 0xff;
    uint32_t length = word & OMNI_EXT_LEN_MASK;
    if (static_cast<size_t>(end - p) < 8ull + length) break;
    extended(type, p + 8, length);
    p += 8 + length;
  }
  return p;
}

uint32_t StreamDecoder::thread_number(uint32_t vg_tid) {
  if (vg_tid >= thread_numbers_.size()) thread_numbers_.resize(vg_tid + 1, 0);
  // A thread never announced (a recorder without THREAD_CREATE) gets the next number.
  if (thread_numbers_[vg_tid] == 0) thread_numbers_[vg_tid] = ++threads_created_;
  return thread_numbers_[vg_tid];
}

void StreamDecoder::extended(uint32_t type, const uint8_t* payload, uint32_t length) {
  auto need = [&](uint32_t bytes) {
    if (length < bytes) fail("trace stream is corrupt: record type {} too short", type);
  };
  switch (type) {
    case OMNI_EXT_BLOCK_DEF: {
      need(OMNI_BLOCK_DEF_FIXED_BYTES);
      uint32_t id = load<uint32_t>(payload);
      uint32_t count = load<uint32_t>(payload + 4);
      uint32_t ir_bytes = load<uint32_t>(payload + 24);
      need(OMNI_BLOCK_DEF_FIXED_BYTES + count * OMNI_SITE_DEF_BYTES + ir_bytes);
      if (id > OMNI_BLOCK_ID_MAX) fail("trace stream is corrupt: block id {}", id);
      if (id >= blocks_.size()) {
        // Growing may move blocks_: re-point the current block.
        size_t current = block_ ? block_ - blocks_.data() : 0;
        bool had = block_ != nullptr;
        blocks_.resize(id + 1);
        if (had) block_ = &blocks_[current];
      }
      Block& block = blocks_[id];
      block.sites.resize(count);
      const uint8_t* sites = payload + OMNI_BLOCK_DEF_FIXED_BYTES;
      for (uint32_t i = 0; i < count; ++i) {
        const uint8_t* s = sites + i * OMNI_SITE_DEF_BYTES;
        uint32_t size_kind = load<uint32_t>(s + 12);
        Site site{load<uint64_t>(s), load<uint32_t>(s + 8), size_kind & OMNI_SITE_SIZE_MASK,
                  size_kind >> OMNI_SITE_KIND_SHIFT};
        if (site.kind > OMNI_SITE_JUMP) fail("trace stream is corrupt: site kind {}", site.kind);
        block.sites[i] = site;
      }
      BlockDefEvent def{id, load<uint64_t>(payload + 8), load<uint64_t>(payload + 16),
                        sites + count * OMNI_SITE_DEF_BYTES, ir_bytes};
      sink_.on_block_def(def);
      break;
    }
    case OMNI_EXT_SNAPSHOT: {
      need(OMNI_SNAPSHOT_FIXED_BYTES);
      uint32_t size = load<uint32_t>(payload + 12);
      need(OMNI_SNAPSHOT_FIXED_BYTES + size);
      uint64_t t = load<uint64_t>(payload);
      if (t > time_) time_ = t;
      sink_.on_snapshot(t, thread_number(load<uint32_t>(payload + 8)), payload + OMNI_SNAPSHOT_FIXED_BYTES, size);
      break;
    }
    case OMNI_EXT_WRITE:
    case OMNI_EXT_SYSCALL_WRITE: {
      need(OMNI_WRITE_FIXED_BYTES);
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
      need(16);
      tid_ = thread_number(load<uint32_t>(payload));
      uint64_t t = load<uint64_t>(payload + 8);
      if (t > time_) time_ = t;
      sink_.on_thread_run(t, tid_, load<uint32_t>(payload + 4));
      break;
    }
    case OMNI_EXT_THREAD_CREATE: {
      need(16);
      uint32_t parent = load<uint32_t>(payload);
      uint32_t child = load<uint32_t>(payload + 4);
      uint32_t parent_number = parent ? thread_number(parent) : 0;
      if (child >= thread_numbers_.size()) thread_numbers_.resize(child + 1, 0);
      thread_numbers_[child] = ++threads_created_;
      sink_.on_thread_create(load<uint64_t>(payload + 8), parent_number, thread_numbers_[child]);
      break;
    }
    case OMNI_EXT_THREAD_EXIT:
      need(16);
      sink_.on_thread_exit(load<uint64_t>(payload + 8), thread_number(load<uint32_t>(payload)));
      break;
    case OMNI_EXT_MAP: {
      need(OMNI_MAP_FIXED_BYTES);
      MapEvent event;
      event.time = load<uint64_t>(payload);
      event.start = load<uint64_t>(payload + 8);
      event.length = load<uint64_t>(payload + 16);
      event.prot = load<uint32_t>(payload + 24);
      event.event = load<uint32_t>(payload + 28);
      event.offset = load<uint64_t>(payload + 32);
      event.path.assign(reinterpret_cast<const char*>(payload) + OMNI_MAP_FIXED_BYTES,
                        length - OMNI_MAP_FIXED_BYTES);
      sink_.on_map(event);
      break;
    }
    case OMNI_EXT_TIME: {
      need(8);
      uint64_t t = load<uint64_t>(payload);
      if (t > time_) time_ = t;
      break;
    }
    case OMNI_EXT_SYSCALL: {
      need(OMNI_SYSCALL_BYTES);
      SyscallEvent event;
      event.time = load<uint64_t>(payload);
      event.nr = load<uint64_t>(payload + 8);
      for (int i = 0; i < 6; ++i) event.args[i] = load<uint64_t>(payload + 16 + 8 * i);
      event.result = load<int64_t>(payload + 64);
      uint64_t flags = load<uint64_t>(payload + 72);
      event.has_result = !(flags & OMNI_SYSCALL_NO_RESULT);
      event.late_result = (flags & OMNI_SYSCALL_LATE_RESULT) != 0;
      event.tid = thread_number(static_cast<uint32_t>(load<uint64_t>(payload + 80)));
      sink_.on_syscall(event);
      break;
    }
    case OMNI_EXT_SIGNAL: {
      need(OMNI_SIGNAL_BYTES);
      SignalEvent event;
      event.time = load<uint64_t>(payload);
      event.tid = thread_number(load<uint32_t>(payload + 8));
      event.signal = load<uint32_t>(payload + 12);
      event.pc = load<uint64_t>(payload + 16);
      event.rsp = load<uint64_t>(payload + 24);
      event.handler = load<uint64_t>(payload + 32);
      event.handler_rsp = load<uint64_t>(payload + 40);
      if (event.time > time_) time_ = event.time;
      sink_.on_signal(event);
      break;
    }
    case OMNI_EXT_OUTPUT:
      need(OMNI_OUTPUT_FIXED_BYTES);
      sink_.on_output(load<uint64_t>(payload), thread_number(load<uint32_t>(payload + 12)),
                      load<uint32_t>(payload + 8), payload + OMNI_OUTPUT_FIXED_BYTES,
                      length - OMNI_OUTPUT_FIXED_BYTES);
      break;
    case OMNI_EXT_INITIAL:
      need(8);
      sink_.on_initial(load<uint64_t>(payload), payload + 8, length - 8);
      break;
    case OMNI_EXT_EXIT:
      need(12);
      saw_exit_ = true;
      if (load<uint64_t>(payload) > time_) time_ = load<uint64_t>(payload);
      sink_.on_exit(load<uint64_t>(payload), load<int32_t>(payload + 8));
      break;
    default:
      fail("trace stream is corrupt: unknown record type {}", type);
  }
}

}  // namespace omni::trace
