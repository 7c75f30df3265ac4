#include "omni/index/chunk.h"

#include <zdict.h>
#include <zstd.h>

#include <algorithm>
#include <cstring>
#include <array>
#include <memory>
#include <unordered_map>

#include "omni/base/error.h"
#include "varint.h"

namespace omni::index {

namespace {

uint64_t zigzag(int64_t value) {
  return (static_cast<uint64_t>(value) << 1) ^ static_cast<uint64_t>(value >> 63);
}
int64_t unzigzag(uint64_t value) {
  return static_cast<int64_t>(value >> 1) ^ -static_cast<int64_t>(value & 1);
}

// A write of 1-8 bytes as a little-endian value (the host's order: x86-64).
// Fixed-size loads for the usual sizes: a memcpy of `size` bytes into a
// word, read whole, stalls on store forwarding.
uint64_t load_value(const uint8_t* bytes, uint32_t size) {
  switch (size) {
    case 1: return bytes[0];
    case 2: { uint16_t v; std::memcpy(&v, bytes, 2); return v; }
    case 4: { uint32_t v; std::memcpy(&v, bytes, 4); return v; }
    case 8: { uint64_t v; std::memcpy(&v, bytes, 8); return v; }
    default: {
      uint64_t value = 0;
      for (uint32_t b = 0; b < size; ++b) value |= uint64_t{bytes[b]} << (8 * b);
      return value;
    }
  }
}

}  // namespace

void ChunkEncoder::add(const trace::WriteEvent& event) {
  if (events_ == 0) {
    time_first_ = event.time;
    time_last_ = event.time;
  }
  // Times are non-decreasing within a chunk.
  put_varint(time_, event.time - time_last_);
  time_last_ = event.time;
  // Thread ids as runs: (tid, length) pairs, the last run's length written at finish.
  if (events_ == 0 || event.tid != last_tid_) {
    if (events_ != 0) put_varint(tid_, tid_run_);
    put_varint(tid_, event.tid);
    last_tid_ = event.tid;
    tid_run_ = 0;
  }
  ++tid_run_;
  put_varint(pc_, zigzag(static_cast<int64_t>(event.pc - last_pc_)));
  last_pc_ = event.pc;
  put_varint(size_, (static_cast<uint64_t>(event.size) << 1) | (event.by_kernel ? 1 : 0));
  if (coding_ == ChunkCoding::kPreviousEvent) {
    put_varint(addr_, zigzag(static_cast<int64_t>(event.addr - last_addr_)));
    data_.append(reinterpret_cast<const char*>(event.data), event.size);
  } else {
    WriteModel::Slot& slot = model_.at(event.pc, last_addr_);
    put_varint(addr_, zigzag(static_cast<int64_t>(event.addr - slot.addr)));
    slot.addr = event.addr;
    if (event.size >= 1 && event.size <= 8) {
      uint64_t value = load_value(event.data, event.size);
      uint64_t residual = value - (slot.size == event.size ? slot.value : 0);
      char bytes[8];
      std::memcpy(bytes, &residual, 8);
      data_.append(bytes, event.size);
      slot.value = value;
      slot.size = event.size;
    } else {
      data_.append(reinterpret_cast<const char*>(event.data), event.size);
    }
  }
  last_addr_ = event.addr;
  ++events_;
}

std::string ChunkEncoder::encode(const DecodedChunk& chunk, ChunkCoding coding) {
  ChunkEncoder encoder(coding);
  for (const Event& e : chunk.events)
    encoder.add({e.time, e.tid, e.by_kernel, e.pc, e.addr, e.size, chunk.data.data() + e.data_offset});
  return encoder.finish();
}

size_t ChunkEncoder::raw_bytes() const {
  return time_.size() + tid_.size() + pc_.size() + addr_.size() + size_.size() + data_.size();
}

std::string ChunkEncoder::finish() {
  if (events_) put_varint(tid_, tid_run_);
  std::string out;
  put_varint(out, events_);
  for (const std::string* column : {&time_, &tid_, &pc_, &addr_, &size_, &data_})
    put_varint(out, column->size());
  out.reserve(out.size() + raw_bytes());
  for (std::string* column : {&time_, &tid_, &pc_, &addr_, &size_, &data_}) {
    out += *column;
    column->clear();
  }
  events_ = 0;
  last_pc_ = last_addr_ = 0;
  last_tid_ = tid_run_ = 0;
  if (coding_ == ChunkCoding::kSameInstruction) model_.reset();
  return out;
}

namespace {

// One frame, at `level` or with `dictionary`; each carries a checksum so that
// a damaged index is reported rather than decoded. Contexts are reused per
// thread, their parameters (a dictionary referenced) reset for each frame.
std::string compress_frame(const std::string& raw, int level, const ZSTD_CDict* dictionary) {
  thread_local std::unique_ptr<ZSTD_CCtx, size_t (*)(ZSTD_CCtx*)> context(ZSTD_createCCtx(), ZSTD_freeCCtx);
  if (!context) fail("out of memory for a zstd context");
  ZSTD_CCtx_reset(context.get(), ZSTD_reset_session_and_parameters);
  ZSTD_CCtx_setParameter(context.get(), ZSTD_c_checksumFlag, 1);
  if (dictionary) ZSTD_CCtx_refCDict(context.get(), dictionary);
  else ZSTD_CCtx_setParameter(context.get(), ZSTD_c_compressionLevel, level);
  std::string out(ZSTD_compressBound(raw.size()), '\0');
  size_t n = ZSTD_compress2(context.get(), out.data(), out.size(), raw.data(), raw.size());
  if (ZSTD_isError(n)) fail("zstd compression failed: {}", ZSTD_getErrorName(n));
  out.resize(n);
  return out;
}

}  // namespace

std::string compress_chunk(const std::string& raw, int level) { return compress_frame(raw, level, nullptr); }

namespace {

// One checksummed frame into `out`; with `dictionary`, a frame compressed
// with it.
template <class Bytes>
void decompress_into(const void* blob, size_t size, const char* what, Bytes& out, size_t max_bytes,
                     const ZSTD_DDict* dictionary = nullptr) {
  unsigned long long raw_size = ZSTD_getFrameContentSize(blob, size);
  if (raw_size == ZSTD_CONTENTSIZE_ERROR || raw_size == ZSTD_CONTENTSIZE_UNKNOWN || raw_size > max_bytes)
    fail("index is corrupt ({} is not a zstd frame); run `omni index` again", what);
  out.resize(raw_size);
  // One context per thread: a fresh one per frame costs an allocation of
  // its window (page faults) for every small frame a question reads.
  thread_local std::unique_ptr<ZSTD_DCtx, size_t (*)(ZSTD_DCtx*)> context(ZSTD_createDCtx(), ZSTD_freeDCtx);
  if (!context) fail("out of memory for a zstd context");
  size_t n = dictionary ? ZSTD_decompress_usingDDict(context.get(), out.data(), out.size(), blob, size, dictionary)
                        : ZSTD_decompressDCtx(context.get(), out.data(), out.size(), blob, size);
  if (ZSTD_isError(n) || n != raw_size)
    fail("index is corrupt ({}: {}); run `omni index` again", what, ZSTD_getErrorName(n));
}

}  // namespace

ZstdDictionary::ZstdDictionary(std::string bytes, int level, const char* what)
    : bytes_(std::move(bytes)), level_(level), what_(what) {
  id_ = static_cast<uint32_t>(ZDICT_getDictID(bytes_.data(), bytes_.size()));
  if (id_ == 0) fail("index is corrupt ({} is not a zstd dictionary); run `omni index` again", what);
  ddict_ = ZSTD_createDDict(bytes_.data(), bytes_.size());
  if (!ddict_) fail("index is corrupt ({} is damaged); run `omni index` again", what);
}

ZstdDictionary::~ZstdDictionary() {
  ZSTD_freeCDict(static_cast<ZSTD_CDict*>(cdict_));
  ZSTD_freeDDict(static_cast<ZSTD_DDict*>(ddict_));
}

std::string ZstdDictionary::compress(const std::string& raw) const {
  std::call_once(once_, [&] {
    cdict_ = ZSTD_createCDict(bytes_.data(), bytes_.size(), level_);
    if (!cdict_) fail("zstd cannot use the {}", what_);
  });
  return compress_frame(raw, level_, static_cast<const ZSTD_CDict*>(cdict_));
}

void ZstdDictionary::decompress(const void* blob, size_t size, const char* what, std::vector<uint8_t>& out,
                                size_t max_bytes) const {
  decompress_into(blob, size, what, out, max_bytes, static_cast<const ZSTD_DDict*>(ddict_));
}

std::optional<std::string> train_dictionary(const std::vector<std::string>& samples, size_t capacity) {
  std::string joined;
  std::vector<size_t> sizes;
  for (const std::string& sample : samples) {
    joined += sample;
    sizes.push_back(sample.size());
  }
  std::string dict(capacity, '\0');
  size_t n = ZDICT_trainFromBuffer(dict.data(), dict.size(), joined.data(), sizes.data(),
                                   static_cast<unsigned>(sizes.size()));
  if (ZDICT_isError(n)) return std::nullopt;
  dict.resize(n);
  return dict;
}

uint32_t frame_dictionary_id(const void* blob, size_t size) {
  return static_cast<uint32_t>(ZSTD_getDictID_fromFrame(blob, size));
}


void decompress_frame(const void* blob, size_t size, const char* what, std::vector<uint8_t>& out,
                      size_t max_bytes) {
  decompress_into(blob, size, what, out, max_bytes);
}

void decompress_frame(const void* blob, size_t size, const char* what, HugeBytes& out, size_t max_bytes) {
  decompress_into(blob, size, what, out, max_bytes);
}

void decode_chunk_into(const void* blob, size_t size, uint64_t time_first, ChunkCoding coding, DecodedChunk& chunk,
                       uint64_t until) {
  // Reused between calls on one thread: no page faults for a fresh buffer.
  thread_local HugeBytes raw;
  decompress_frame(blob, size, "write chunk", raw);
  decode_raw_chunk(raw.data(), raw.size(), time_first, coding, chunk, until);
}

namespace {

// An encoded chunk's columns, checked against its size.
struct ChunkColumns {
  uint64_t count;
  VarintReader times, tids, pcs, addrs, sizes;
  const uint8_t* data;  // the data column
  uint64_t data_size;
};

ChunkColumns parse_columns(const uint8_t* raw, size_t raw_size) {
  VarintReader header{raw, raw + raw_size, "chunk header"};
  uint64_t count = header.varint();
  uint64_t lengths[6];
  for (auto& length : lengths) length = header.varint();
  const uint8_t* p = header.p;
  VarintReader columns[6];
  for (int i = 0; i < 6; ++i) {
    if (lengths[i] > static_cast<uint64_t>(header.end - p)) fail("index chunk is corrupt (column size)");
    columns[i] = {p, p + lengths[i], "chunk column"};
    p += lengths[i];
  }
  // Every event takes at least a byte of the time column: a larger count is
  // damage, refused before a caller allocates for it.
  if (count > lengths[0]) fail("index chunk is corrupt (event count)");
  return {count, columns[0], columns[1], columns[2], columns[3], columns[4], columns[5].p, lengths[5]};
}

// The value of a write of `size` (1-8) bytes at `p`, little-endian, in the
// low bytes; `room`: the bytes readable from p. One 8-byte load where it
// fits (the caller masks off the bytes past the write): a memcpy of `size`
// bytes into a word, read whole, stalls on store forwarding.
inline uint64_t residual_at(const uint8_t* p, uint32_t size, size_t room) {
  if (room < 8) return load_value(p, size);
  uint64_t value;
  std::memcpy(&value, p, 8);
  return value;
}

// Calls f(event, value) for each event of a chunk at or before `until`, in
// order, with its data offset checked against the data column; `value`: for
// a kSameInstruction chunk's write of 1-8 bytes, the value written (the
// data column holds its residual). `rebuilt` (null: not wanted): a copy of
// the data column, where those values are written over their residuals.
// The one decoder of the columns: decode_raw_chunk keeps every event,
// decode_chunk_writes only those in a range.
template <class F>
void for_each_event(ChunkColumns& c, uint8_t* rebuilt, ChunkCoding coding, uint64_t time_first, uint64_t until,
                    F&& f) {
  // Per thread, reset per chunk: its 128 KiB are not allocated per decode.
  thread_local WriteModel model;
  bool modelled = coding == ChunkCoding::kSameInstruction;
  if (modelled) model.reset();
  f.reserve(c.count);
  uint64_t time = time_first, pc = 0, addr = 0, offset = 0;
  uint32_t tid = 0;
  uint64_t run = 0;
  for (uint64_t i = 0; i < c.count; ++i) {
    time += c.times.varint();
    if (time > until) break;
    if (run == 0) {
      tid = static_cast<uint32_t>(c.tids.varint());
      run = c.tids.varint();
    }
    --run;
    pc += static_cast<uint64_t>(unzigzag(c.pcs.varint()));
    uint64_t size_flag = c.sizes.varint();
    Event e{time, tid, (size_flag & 1) != 0, pc, 0, static_cast<uint32_t>(size_flag >> 1),
            static_cast<uint32_t>(offset)};
    offset += e.size;
    if (offset > c.data_size) fail("index chunk is corrupt (data column)");
    uint64_t value = 0;
    if (!modelled) {
      addr += static_cast<uint64_t>(unzigzag(c.addrs.varint()));
    } else {
      WriteModel::Slot& slot = model.at(pc, addr);
      addr = slot.addr + static_cast<uint64_t>(unzigzag(c.addrs.varint()));
      slot.addr = addr;
      if (e.size >= 1 && e.size <= 8) {
        size_t room = c.data_size - e.data_offset;
        uint64_t mask = e.size == 8 ? ~uint64_t{0} : (uint64_t{1} << (8 * e.size)) - 1;
        value = (residual_at(c.data + e.data_offset, e.size, room) + (slot.size == e.size ? slot.value : 0)) & mask;
        slot.value = value;
        slot.size = e.size;
        if (rebuilt) {
          // The bytes past the write are the column's as they are (later
          // writes of 1-8 bytes rebuild theirs in turn).
          uint8_t* to = rebuilt + e.data_offset;
          if (room >= 8) {
            uint64_t word;
            std::memcpy(&word, c.data + e.data_offset, 8);
            word = (word & ~mask) | value;
            std::memcpy(to, &word, 8);
          } else {
            std::memcpy(to, &value, e.size);
          }
        }
      }
    }
    e.addr = addr;
    f(e, value);
  }
  f.data_end(offset);
}

}  // namespace

void decode_raw_chunk(const uint8_t* raw_data, size_t raw_size, uint64_t time_first, ChunkCoding coding,
                      DecodedChunk& chunk, uint64_t until) {
  // Appended, not resized then overwritten: the storage is written once (a
  // reused chunk's is not even zeroed first).
  struct Append {
    DecodedChunk& chunk;
    uint64_t data_bytes = 0;
    void reserve(uint64_t count) {
      chunk.events.clear();
      chunk.events.reserve(count);
    }
    // Field by field: a copy of the whole struct reads back the fields just
    // stored one by one, wider, and stalls on store forwarding.
    void operator()(const Event& e, uint64_t) {
      Event& to = chunk.events.emplace_back();
      to.time = e.time;
      to.tid = e.tid;
      to.by_kernel = e.by_kernel;
      to.pc = e.pc;
      to.addr = e.addr;
      to.size = e.size;
      to.data_offset = e.data_offset;
    }
    void data_end(uint64_t offset) { data_bytes = offset; }
  } append{chunk};
  ChunkColumns columns = parse_columns(raw_data, raw_size);
  // Copied whole (resize does not zero it), then rebuilt in place.
  chunk.data.clear();
  chunk.data.resize(columns.data_size);
  if (columns.data_size) std::memcpy(chunk.data.data(), columns.data, columns.data_size);
  for_each_event(columns, chunk.data.data(), coding, time_first, until, append);
  chunk.data.resize(append.data_bytes);
}

void decode_chunk_writes(const void* blob, size_t size, uint64_t time_first, ChunkCoding coding, uint64_t addr,
                         uint64_t length, uint64_t until, DecodedChunk& out) {
  out.events.clear();
  out.data.clear();
  thread_local HugeBytes raw;
  decompress_frame(blob, size, "write chunk", raw);
  if (length == 0) return;
  // Matches are kept with their offsets in the chunk's data (and their
  // values, where the column holds residuals) until the data column's place
  // is known, after the last event. The test is where-written's own (a
  // write of no bytes inside the range is one).
  thread_local std::vector<uint64_t> values;
  values.clear();
  struct Collect {
    uint64_t addr, last;
    std::vector<Event, HugePageAllocator<Event>>& found;
    std::vector<uint64_t>& values;
    void reserve(uint64_t) {}
    void operator()(const Event& e, uint64_t value) {
      if (e.addr <= last && e.addr + e.size > addr) {
        found.push_back(e);
        values.push_back(value);
      }
    }
    void data_end(uint64_t) {}
  } collect{addr, addr + (length - 1), out.events, values};
  ChunkColumns columns = parse_columns(raw.data(), raw.size());
  for_each_event(columns, nullptr, coding, time_first, until, collect);
  bool modelled = coding == ChunkCoding::kSameInstruction;
  for (size_t i = 0; i < out.events.size(); ++i) {
    Event& e = out.events[i];
    const uint8_t* bytes = columns.data + e.data_offset;
    uint8_t value[8];
    if (modelled && e.size >= 1 && e.size <= 8) {
      std::memcpy(value, &values[i], 8);
      bytes = value;
    }
    e.data_offset = static_cast<uint32_t>(out.data.size());
    out.data.insert(out.data.end(), bytes, bytes + e.size);
  }
}

void FinalsShadow::clear(uint64_t start, uint64_t end) {
  if (end <= start) return;
  for (auto it = pages_.begin(); it != pages_.end();) {
    uint64_t base = it->first << 12;
    if (base + 4096 <= start || base >= end) {
      ++it;
      continue;
    }
    if (start <= base && base + 4096 <= end) {
      it = pages_.erase(it);
      continue;
    }
    for (uint64_t a = std::max(start, base); a < std::min(end, base + 4096); ++a)
      it->second->known[(a - base) >> 3] &= static_cast<uint8_t>(~(1u << (a & 7)));
    ++it;
  }
}

// Per 4 KiB page: a flags byte (kFinalsZstd: the rest is a zstd frame;
// kFinalsComplete: a byte a granule's mask lacks was not written since the
// memory was mapped), then per
// granule of the page: varint granule delta (the first from the page's
// first granule), u8 mask of the bytes known, then those bytes in address
// order. The bytes are the granule's after the chunk: those the chunk wrote
// and those earlier chunks wrote since the memory was last (re)mapped, so
// one row answers for the whole granule. One small row per page: a lookup
// reads a few hundred bytes.
std::vector<std::pair<uint64_t, std::string>> encode_finals(const std::string& raw_chunk, uint64_t time_first,
                                                            int level, FinalsShadow& shadow,
                                                            const std::vector<FinalsClear>& clears) {
  thread_local DecodedChunk chunk;
  decode_raw_chunk(reinterpret_cast<const uint8_t*>(raw_chunk.data()), raw_chunk.size(), time_first,
                   ChunkCoding::kSameInstruction, chunk);
  if (shadow.pages_.size() > FinalsShadow::kMaxPages) {
    // Forgetting only costs lookups: later rows no longer vouch for the
    // bytes they lack.
    shadow.pages_.clear();
    shadow.lossy_ = true;
  }
  std::vector<uint64_t> touched;
  touched.reserve(chunk.events.size());
  // A direct-mapped set of granules already in `touched` (UINT64_MAX: empty;
  // no granule index reaches it).
  constexpr size_t kRecent = 4096;
  std::vector<uint64_t> recent(kRecent, UINT64_MAX);
  // A remapping in the middle of the chunk forgets what came before it, not
  // what the chunk wrote after it: the granules' rows in later chunks answer
  // for the new memory's bytes written here.
  auto clear = clears.begin();
  // The page written last: consecutive writes mostly hit the same one.
  // (A clear may free pages: it forgets this one too.)
  uint64_t last_page = UINT64_MAX;
  FinalsShadow::Page* last = nullptr;
  for (size_t i = 0; i < chunk.events.size(); ++i) {
    for (; clear != clears.end() && clear->before_event <= i; ++clear) {
      shadow.clear(clear->start, clear->end);
      last_page = UINT64_MAX;
    }
    const Event& e = chunk.events[i];
    const uint8_t* data = chunk.data.data() + e.data_offset;
    uint64_t a = e.addr;
    while (a < e.addr + e.size) {
      if ((a >> 12) != last_page) {
        auto& page = shadow.pages_[a >> 12];
        if (!page) page = std::make_unique<FinalsShadow::Page>();
        last_page = a >> 12;
        last = page.get();
      }
      uint64_t page_end = std::min(e.addr + e.size, ((a >> 12) + 1) << 12);
      std::memcpy(last->bytes + (a & 4095), data + (a - e.addr), page_end - a);
      for (; a < page_end; ++a) last->known[(a & 4095) >> 3] |= static_cast<uint8_t>(1u << (a & 7));
    }
    for (uint64_t g = e.addr >> 3; g <= (e.addr + (e.size ? e.size - 1 : 0)) >> 3; ++g) {
      // Most writes hit granules written just before (a stack frame, a
      // buffer being filled): skip those already listed, so that the sort
      // below sees each granule about once instead of once per write.
      uint64_t& slot = recent[(g ^ (g >> 12)) & (kRecent - 1)];
      if (slot == g) continue;
      slot = g;
      touched.push_back(g);
    }
  }
  for (; clear != clears.end(); ++clear) shadow.clear(clear->start, clear->end);
  std::sort(touched.begin(), touched.end());
  touched.erase(std::unique(touched.begin(), touched.end()), touched.end());
  std::vector<std::pair<uint64_t, std::string>> pages;
  std::string body;
  uint64_t page = UINT64_MAX, previous = 0;
  auto flush = [&] {
    if (page == UINT64_MAX) return;
    std::string row(1, static_cast<char>(shadow.lossy_ ? 0 : kFinalsComplete));
    if (body.size() > 256) {
      row[0] = static_cast<char>(row[0] | kFinalsZstd);
      row += compress_chunk(body, level);
    } else {
      row += body;
    }
    pages.emplace_back(page, std::move(row));
    body.clear();
  };
  const FinalsShadow::Page* shadow_page = nullptr;
  for (uint64_t g : touched) {
    if ((g >> 9) != page) {
      flush();
      page = g >> 9;
      previous = page << 9;
      // Null when the page was unmapped after the chunk's last write to it.
      auto it = shadow.pages_.find(page);
      shadow_page = it == shadow.pages_.end() ? nullptr : it->second.get();
    }
    uint8_t mask = shadow_page ? shadow_page->known[g & 511] : 0;
    put_varint(body, g - previous);
    previous = g;
    body.push_back(static_cast<char>(mask));
    for (int b = 0; b < 8; ++b)
      if (mask & (1u << b)) body.push_back(static_cast<char>(shadow_page->bytes[((g & 511) << 3) + b]));
  }
  flush();
  return pages;
}

std::vector<uint8_t> finals_page_body(const void* blob, size_t size, bool* complete) {
  auto p = static_cast<const uint8_t*>(blob);
  if (size == 0) fail("index chunk finals are corrupt (empty row); run `omni index` again");
  if (complete) *complete = (p[0] & kFinalsComplete) != 0;
  if ((p[0] & ~(kFinalsZstd | kFinalsComplete)) != 0)
    fail("index chunk finals are corrupt; run `omni index` again");
  if (!(p[0] & kFinalsZstd)) return std::vector<uint8_t>(p + 1, p + size);
  std::vector<uint8_t> raw;
  decompress_frame(p + 1, size - 1, "chunk finals", raw, size_t{1} << 20);
  return raw;
}

namespace {
constexpr auto kBitsSet = [] {
  std::array<uint8_t, 256> t{};
  for (int i = 0; i < 256; ++i) t[i] = static_cast<uint8_t>((i & 1) + (i >> 1 & 1) + (i >> 2 & 1) + (i >> 3 & 1) +
                                                           (i >> 4 & 1) + (i >> 5 & 1) + (i >> 6 & 1) + (i >> 7 & 1));
  return t;
}();
}  // namespace

bool find_final(const std::vector<uint8_t>& raw, uint64_t granule, GranuleFinal& out) {
  VarintReader in{raw.data(), raw.data() + raw.size(), "chunk finals"};
  uint64_t g = granule & ~uint64_t{511};
  while (in.p < in.end) {
    g += in.varint();
    if (in.p >= in.end) fail("index chunk finals are truncated; run `omni index` again");
    uint8_t mask = *in.p++;
    int bytes = kBitsSet[mask];
    if (g == granule) {
      if (in.end - in.p < bytes) fail("index chunk finals are truncated; run `omni index` again");
      out.granule = g;
      out.mask = mask;
      for (int b = 0; b < 8; ++b)
        if (mask & (1u << b)) out.bytes[b] = *in.p++;
      return true;
    }
    if (g > granule) return false;
    in.p += bytes;
  }
  return false;
}

}  // namespace omni::index
