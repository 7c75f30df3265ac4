// The columnar encoding of a chunk of write events (see docs/index-format.md).
// Events are appended in time order; each column is delta/varint coded so that
// zstd sees long runs of similar bytes.
#pragma once

#include <algorithm>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <unordered_map>
#include <string>
#include <vector>

#include "omni/base/huge_pages.h"
#include "omni/trace/decoder.h"

namespace omni::index {

struct Event {
  uint64_t time;
  uint32_t tid;
  bool by_kernel;
  uint64_t pc;
  uint64_t addr;
  uint32_t size;
  uint32_t data_offset;  // into DecodedChunk::data
};

using HugeBytes = std::vector<uint8_t, HugePageAllocator<uint8_t>>;

// Megabytes each, decoded and dropped by every question: in huge pages.
struct DecodedChunk {
  std::vector<Event, HugePageAllocator<Event>> events;
  HugeBytes data;
};

// How a chunk's addr and data columns are coded (docs/index-format.md).
// kPreviousEvent (index formats 13 and 14): an address as its distance from
// the previous event's. kSameInstruction (format 15 on): an address as its
// distance from the last one its instruction (pc) wrote, and a write of 1-8
// bytes as its difference from the last value of that size the instruction
// wrote. One instruction's writes follow a pattern (a push to the same slot, a
// loop's stride, a counter stored again) that the interleaved writes of
// others hide: on gzip, xz and python3 the chunks are 22-38% smaller.
enum class ChunkCoding : uint8_t { kPreviousEvent, kSameInstruction };

// kSameInstruction's model, the same in the encoder and the decoder: per
// instruction (by a hash of its pc, direct-mapped), the address and value of
// its last write. An instruction whose slot another holds claims it,
// predicting the previous event's address and no value. Reset per chunk:
// chunks decode alone. Not thread-safe.
class WriteModel {
 public:
  struct Slot {
    uint64_t pc, addr, value;
    uint32_t size;  // of `value`; 0: none
  };
  WriteModel() : slots_(kSlots) { reset(); }
  void reset() { std::fill(slots_.begin(), slots_.end(), Slot{UINT64_MAX, 0, 0, 0}); }
  Slot& at(uint64_t pc, uint64_t previous_addr) {
    Slot& slot = slots_[(pc * 0x9E3779B97F4A7C15ull) >> (64 - kSlotBits)];
    if (slot.pc != pc) slot = {pc, previous_addr, 0, 0};
    return slot;
  }

 private:
  static constexpr int kSlotBits = 12;  // 4,096 slots (128 KiB): as good as one per pc on python3
  static constexpr size_t kSlots = size_t{1} << kSlotBits;
  std::vector<Slot> slots_;
};

class ChunkEncoder {
 public:
  explicit ChunkEncoder(ChunkCoding coding = ChunkCoding::kSameInstruction) : coding_(coding) {}
  void add(const trace::WriteEvent& event);
  size_t events() const { return events_; }
  size_t raw_bytes() const;
  uint64_t time_first() const { return time_first_; }
  uint64_t time_last() const { return time_last_; }
  // The encoded (uncompressed) chunk; resets the encoder.
  std::string finish();
  // The encoding of a decoded chunk's events, as `coding` (tests rewrite
  // chunks with it).
  static std::string encode(const DecodedChunk& chunk, ChunkCoding coding);

 private:
  ChunkCoding coding_;
  WriteModel model_;
  std::string time_, tid_, pc_, addr_, size_, data_;
  size_t events_ = 0;
  uint64_t time_first_ = 0, time_last_ = 0;
  uint64_t last_pc_ = 0, last_addr_ = 0;
  uint32_t last_tid_ = 0;
  uint32_t tid_run_ = 0;
};

std::string compress_chunk(const std::string& raw, int level);

// A zstd dictionary for many small frames of one kind (register snapshots:
// a 928-byte guest state compresses alone to ~176 bytes, with a dictionary
// trained on the first snapshots to ~107). A frame compressed with it names
// its id, which a reader looks up. Thread-safe once made.
class ZstdDictionary {
 public:
  // `bytes`: a dictionary as train_dictionary made it (checked: a damaged
  // one is an error naming `what`, a string literal kept for compress()'s
  // errors too); `level`: compress()'s.
  ZstdDictionary(std::string bytes, int level, const char* what);
  ~ZstdDictionary();
  ZstdDictionary(const ZstdDictionary&) = delete;
  ZstdDictionary& operator=(const ZstdDictionary&) = delete;
  uint32_t id() const { return id_; }
  const std::string& bytes() const { return bytes_; }
  std::string compress(const std::string& raw) const;  // checksummed, as compress_chunk
  // As decompress_frame, for a frame compressed with this dictionary.
  void decompress(const void* blob, size_t size, const char* what, std::vector<uint8_t>& out,
                  size_t max_bytes = size_t{1} << 30) const;

 private:
  std::string bytes_;
  int level_;
  const char* what_;
  uint32_t id_ = 0;
  mutable void* cdict_ = nullptr;  // made on the first compress(); guarded by once_
  void* ddict_ = nullptr;
  mutable std::once_flag once_;
};
// A dictionary of at most `capacity` bytes trained on `samples`; nullopt
// when zstd cannot make one of them (too few, too alike).
std::optional<std::string> train_dictionary(const std::vector<std::string>& samples, size_t capacity);
// The dictionary id a zstd frame names (0: none, or not a zstd frame).
uint32_t frame_dictionary_id(const void* blob, size_t size);
// Decompresses one checksummed zstd frame of the index into `out` (resized;
// its capacity is reused). `what` names the blob in the error thrown when
// it is damaged or larger than `max_bytes`.
void decompress_frame(const void* blob, size_t size, const char* what, std::vector<uint8_t>& out,
                      size_t max_bytes = size_t{1} << 30);
void decompress_frame(const void* blob, size_t size, const char* what, HugeBytes& out,
                      size_t max_bytes = size_t{1} << 30);
// A chunk (compressed frame `blob`, coded as `coding`) into `chunk`, reusing
// its storage. `until`: only the events at or before that time (a chunk's events are in
// time order), and the data they wrote.
void decode_chunk_into(const void* blob, size_t size, uint64_t time_first, ChunkCoding coding,
                       DecodedChunk& chunk, uint64_t until = UINT64_MAX);
// Into `out`, only the events at or before `until` that wrote any byte of
// [addr, addr + length), in time order, and the bytes they wrote: a
// question after a few bytes' writes decodes the columns but stores only
// its matches.
void decode_chunk_writes(const void* blob, size_t size, uint64_t time_first, ChunkCoding coding, uint64_t addr,
                         uint64_t length, uint64_t until, DecodedChunk& out);
// The same from the uncompressed encoding.
void decode_raw_chunk(const uint8_t* raw, size_t size, uint64_t time_first, ChunkCoding coding,
                      DecodedChunk& chunk, uint64_t until = UINT64_MAX);

// What each 8-byte granule a chunk wrote held after the chunk's last write
// to it (table chunk_finals): memory at a time after the chunk is read from
// these without decoding the chunk.
struct GranuleFinal {
  uint64_t granule;  // address >> 3
  uint8_t mask;      // bit b: byte b was written in the chunk
  uint8_t bytes[8];
};
// The memory the chunks so far left, as far as their writes tell: fed with
// every chunk in order, cleared where memory was unmapped or replaced. Its
// size is bounded: past kMaxPages it forgets everything (later rows then
// hold fewer bytes, and lookups walk further back). Not thread-safe.
// Memory unmapped or replaced ([start, end)) while a chunk was open, after
// `before_event` of its events.
struct FinalsClear {
  uint64_t before_event;
  uint64_t start, end;
};

class FinalsShadow {
 public:
  void clear(uint64_t start, uint64_t end);

 private:
  friend std::vector<std::pair<uint64_t, std::string>> encode_finals(const std::string&, uint64_t, int,
                                                                     FinalsShadow&,
                                                                     const std::vector<FinalsClear>&);
  static constexpr size_t kMaxPages = 1u << 16;  // 4.6 KiB each
  struct Page {
    uint8_t bytes[4096] = {};
    uint8_t known[512] = {};  // bit b of entry g: byte b of granule g
  };
  std::unordered_map<uint64_t, std::unique_ptr<Page>> pages_;
  bool lossy_ = false;  // pages were forgotten: rows no longer complete
};

inline constexpr uint8_t kFinalsZstd = 1;
inline constexpr uint8_t kFinalsComplete = 2;

// The rows (page, data) of a chunk, from its raw encoding (zstd `level` for
// the larger rows), updating `shadow`, where `clears` (in event order) are
// applied between the events they fell between; a row's granule list; one
// granule's entry in that list.
std::vector<std::pair<uint64_t, std::string>> encode_finals(const std::string& raw_chunk, uint64_t time_first,
                                                            int level, FinalsShadow& shadow,
                                                            const std::vector<FinalsClear>& clears);
std::vector<uint8_t> finals_page_body(const void* blob, size_t size, bool* complete = nullptr);
bool find_final(const std::vector<uint8_t>& body, uint64_t granule, GranuleFinal& out);

}  // namespace omni::index
