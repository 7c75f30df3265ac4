// The trace file (trace.omni) that `omni record` writes: a header, then
// frames. The raw event stream (stream.h) travels in STREAM frames, each
// zstd-compressed independently, so a reader streams it with bounded memory
// and a recording cut short keeps every complete frame.
//
//   header: 8 bytes "OMNITRC\0", u32 kContainerVersion, u32 zero
//   frame:  u32 kind, u32 payload bytes, u64 raw bytes (decompressed size),
//           payload: one zstd frame with its content size and checksum
//
// INFO and END hold "key=value\n" lines (values without newlines). INFO's
// recording_id (32 hex digits, random per recording) binds an index to the
// trace it was built from (docs/index-format.md, "Integrity"). Version 1
// kept them uncompressed and unchecked (raw bytes == payload bytes); it is
// still read, since a recording cannot be made again.
#pragma once

#include <cstdint>
#include <cstdio>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace omni::trace {

inline constexpr uint32_t kContainerVersion = 2;
inline constexpr uint32_t kContainerVersionPlainMeta = 1;
// No recorder writes a larger frame (the tool's slots are 4 MB): a larger
// claim is damage, refused before allocating for it.
inline constexpr uint64_t kMaxFrameRawBytes = 256ull << 20;

enum class FrameKind : uint32_t { Info = 1, Stream = 2, End = 3 };

using KeyValues = std::vector<std::pair<std::string, std::string>>;

// Compresses STREAM frame payloads. One per thread: it owns a ZSTD_CCtx.
class FrameCompressor {
 public:
  explicit FrameCompressor(int zstd_level);
  ~FrameCompressor();
  FrameCompressor(const FrameCompressor&) = delete;
  FrameCompressor& operator=(const FrameCompressor&) = delete;
  std::vector<uint8_t> compress(const uint8_t* bytes, size_t size);
  // Frees the zstd context (megabytes at high levels) until the next
  // compress() makes another.
  void release();

 private:
  void* context();
  void* cctx_;  // ZSTD_CCtx; null after release()
  int level_;
};

// Writes a trace file. Not thread-safe; owns its FILE.
class TraceWriter {
 public:
  TraceWriter(const std::string& path, int zstd_level);
  ~TraceWriter();
  TraceWriter(const TraceWriter&) = delete;
  TraceWriter& operator=(const TraceWriter&) = delete;

  void write_info(const KeyValues& info);
  // Compresses `bytes` into one STREAM frame and writes it.
  void write_stream(const uint8_t* bytes, size_t size);
  // Writes a STREAM frame compressed elsewhere (a FrameCompressor) from
  // `raw_size` bytes of stream.
  void write_compressed_stream(const std::vector<uint8_t>& compressed, size_t raw_size);
  void write_end(const KeyValues& end);
  void flush();
  // flush() and fsync: the file's bytes are on disk.
  void sync();
  // Closes the file and frees the compressor until the next write (which
  // reopens the file to append): a recorder of thousands of processes keeps
  // neither a descriptor nor a context per finished one.
  void suspend();

  uint64_t raw_bytes() const { return raw_bytes_; }
  uint64_t file_bytes() const { return file_bytes_; }

 private:
  void write_frame(FrameKind kind, const void* payload, size_t size, uint64_t raw);
  void write_meta(FrameKind kind, const KeyValues& kv);

  std::string path_;
  std::FILE* file_;  // null while suspended
  FrameCompressor compressor_;
  uint64_t raw_bytes_ = 0;
  uint64_t file_bytes_ = 0;
};

// Reads a trace file front to back. Not thread-safe; owns its FILE.
class TraceReader {
 public:
  explicit TraceReader(const std::string& path);
  ~TraceReader();
  TraceReader(const TraceReader&) = delete;
  TraceReader& operator=(const TraceReader&) = delete;

  // The INFO frame (first in the file).
  const KeyValues& info() const { return info_; }
  std::string info_value(const std::string& key) const;

  // Decompresses the next STREAM frame into `out`; false at the end. An END
  // frame seen on the way is kept for end(). A frame cut short (recorder
  // killed mid-write) ends the stream and sets truncated().
  bool next_stream(std::vector<uint8_t>& out);
  // Reads on to the end of the file without decompressing stream frames,
  // for end() and truncated() alone.
  void skip_to_end();
  const std::optional<KeyValues>& end() const { return end_; }
  bool truncated() const { return truncated_; }

  uint64_t file_bytes() const { return file_bytes_; }
  uint64_t bytes_read() const { return bytes_read_; }

 private:
  bool read_frame_header(uint32_t& kind, uint32_t& size, uint64_t& raw);
  // Reads `size` payload bytes into compressed_; false if the file ends first.
  bool read_payload(uint32_t size);
  // Decompresses compressed_ (one checksummed zstd frame of `raw` bytes).
  void decompress(uint64_t raw, std::vector<uint8_t>& out, const char* what);
  // An INFO or END frame's text (compressed_), by the file's version.
  std::string meta_text(uint32_t size, uint64_t raw, const char* what);
  // The next STREAM frame into *out; with out null, skips STREAM frames and
  // returns false at the end.
  bool next_frame(std::vector<uint8_t>* out);

  std::FILE* file_;
  void* dctx_ = nullptr;  // ZSTD_DCtx
  uint32_t version_ = 0;
  KeyValues info_;
  std::optional<KeyValues> end_;
  std::vector<uint8_t> compressed_;
  bool truncated_ = false;
  uint64_t file_bytes_ = 0;
  uint64_t bytes_read_ = 0;
};

// END's key on a trace whose STREAM frames `omni index --drop-trace` dropped
// once its index was built (value: the file's bytes before): its INFO and
// END frames remain, for the index's binding and the process's ending.
inline constexpr const char* kStreamDroppedKey = "stream_dropped";
// Writes `dest` (a new file, 0600) with `source`'s INFO and END frames alone,
// END extended by `end_extra`; refuses a source without an END frame or cut
// short. Returns dest's size.
uint64_t write_trace_stub(const std::string& source, const std::string& dest, const KeyValues& end_extra);

std::string encode_key_values(const KeyValues& kv);
KeyValues decode_key_values(const std::string& text);
std::string find_value(const KeyValues& kv, const std::string& key);

}  // namespace omni::trace
