#include "omni/trace/container.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zstd.h>

#include <algorithm>
#include <cstring>

#include "omni/base/error.h"

namespace omni::trace {

namespace {

constexpr char kMagic[8] = {'O', 'M', 'N', 'I', 'T', 'R', 'C', '\0'};

struct FrameHeader {
  uint32_t kind;
  uint32_t size;
  uint64_t raw;
};
static_assert(sizeof(FrameHeader) == 16);

}  // namespace

std::string encode_key_values(const KeyValues& kv) {
  std::string text;
  for (const auto& [key, value] : kv) {
    text += key;
    text += '=';
    for (char c : value) text += (c == '\n') ? ' ' : c;
    text += '\n';
  }
  return text;
}

KeyValues decode_key_values(const std::string& text) {
  KeyValues kv;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string::npos) end = text.size();
    std::string line = text.substr(pos, end - pos);
    size_t eq = line.find('=');
    if (eq != std::string::npos) kv.emplace_back(line.substr(0, eq), line.substr(eq + 1));
    pos = end + 1;
  }
  return kv;
}

std::string find_value(const KeyValues& kv, const std::string& key) {
  for (const auto& [k, v] : kv)
    if (k == key) return v;
  return {};
}

FrameCompressor::FrameCompressor(int zstd_level) : cctx_(nullptr), level_(zstd_level) { context(); }

FrameCompressor::~FrameCompressor() { release(); }

void FrameCompressor::release() {
  ZSTD_freeCCtx(static_cast<ZSTD_CCtx*>(cctx_));
  cctx_ = nullptr;
}

void* FrameCompressor::context() {
  if (cctx_) return cctx_;
  cctx_ = ZSTD_createCCtx();
  if (!cctx_) fail("out of memory for a zstd context");
  auto* cctx = static_cast<ZSTD_CCtx*>(cctx_);
  ZSTD_CCtx_setParameter(cctx, ZSTD_c_compressionLevel, level_);
  // A checksum per frame: a damaged trace is reported, never indexed as garbage.
  ZSTD_CCtx_setParameter(cctx, ZSTD_c_checksumFlag, 1);
  return cctx_;
}

std::vector<uint8_t> FrameCompressor::compress(const uint8_t* bytes, size_t size) {
  std::vector<uint8_t> out(ZSTD_compressBound(size));
  size_t n = ZSTD_compress2(static_cast<ZSTD_CCtx*>(context()), out.data(), out.size(), bytes, size);
  if (ZSTD_isError(n)) fail("zstd compression failed: {}", ZSTD_getErrorName(n));
  out.resize(n);
  return out;
}

TraceWriter::TraceWriter(const std::string& path, int zstd_level) : path_(path), compressor_(zstd_level) {
  // Private from creation (the trace holds the program's memory), never
  // through a link, never an existing file; close-on-exec: the recorded
  // program must not inherit (or write into) its trace.
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) fail_errno("cannot create " + path);
  file_ = fdopen(fd, "wb");
  if (!file_) {
    ::close(fd);
    fail_errno("cannot create " + path);
  }
  uint32_t version = kContainerVersion, zero = 0;
  std::fwrite(kMagic, 1, sizeof kMagic, file_);
  std::fwrite(&version, 4, 1, file_);
  std::fwrite(&zero, 4, 1, file_);
  file_bytes_ = 16;
}

TraceWriter::~TraceWriter() {
  if (file_) std::fclose(file_);
}

void TraceWriter::suspend() {
  if (!file_) return;
  flush();
  if (std::fclose(file_) != 0) {
    file_ = nullptr;
    fail_errno("cannot write the trace file " + path_);
  }
  file_ = nullptr;
  compressor_.release();
}

void TraceWriter::write_frame(FrameKind kind, const void* payload, size_t size, uint64_t raw) {
  if (!file_) {
    // Suspended: the file this writer made (never through a link).
    int fd = ::open(path_.c_str(), O_WRONLY | O_APPEND | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) fail_errno("cannot reopen " + path_);
    file_ = fdopen(fd, "ab");
    if (!file_) {
      ::close(fd);
      fail_errno("cannot reopen " + path_);
    }
  }
  FrameHeader header{static_cast<uint32_t>(kind), static_cast<uint32_t>(size), raw};
  if (std::fwrite(&header, sizeof header, 1, file_) != 1 ||
      (size && std::fwrite(payload, 1, size, file_) != size))
    fail_errno("cannot write the trace file");
  file_bytes_ += sizeof header + size;
}

void TraceWriter::write_meta(FrameKind kind, const KeyValues& kv) {
  // A zstd frame with its content checksum, like the stream: one flipped bit
  // in the command line or the exit status is detected, never believed.
  std::string text = encode_key_values(kv);
  auto compressed = compressor_.compress(reinterpret_cast<const uint8_t*>(text.data()), text.size());
  write_frame(kind, compressed.data(), compressed.size(), text.size());
  flush();
}

void TraceWriter::write_info(const KeyValues& info) { write_meta(FrameKind::Info, info); }

void TraceWriter::write_stream(const uint8_t* bytes, size_t size) {
  write_compressed_stream(compressor_.compress(bytes, size), size);
}

void TraceWriter::write_compressed_stream(const std::vector<uint8_t>& compressed, size_t raw_size) {
  write_frame(FrameKind::Stream, compressed.data(), compressed.size(), raw_size);
  raw_bytes_ += raw_size;
}

void TraceWriter::write_end(const KeyValues& end) { write_meta(FrameKind::End, end); }

uint64_t write_trace_stub(const std::string& source, const std::string& dest, const KeyValues& end_extra) {
  TraceReader trace(source);
  trace.skip_to_end();
  if (!trace.end() || trace.truncated()) fail("{} has no END frame (the recording was cut short)", source);
  KeyValues end = *trace.end();
  end.insert(end.end(), end_extra.begin(), end_extra.end());
  TraceWriter stub(dest, 1);
  stub.write_info(trace.info());
  stub.write_end(end);
  stub.sync();
  return stub.file_bytes();
}

void TraceWriter::flush() {
  if (file_ && std::fflush(file_) != 0) fail_errno("cannot write the trace file");
}

void TraceWriter::sync() {
  flush();
  if (file_ && fsync(fileno(file_)) != 0) fail_errno("cannot write " + path_);
}

TraceReader::TraceReader(const std::string& path) {
  // Non-blocking, so that a FIFO or device named trace.omni is refused
  // instead of blocking forever; only a regular file is a trace.
  int fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) fail_errno("cannot open " + path);
  struct stat st;
  if (fstat(fd, &st) != 0) {
    ::close(fd);
    fail_errno("cannot read " + path);
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    fail("{} is not a regular file, so not a trace", path);
  }
  file_bytes_ = st.st_size;
  file_ = fdopen(fd, "rb");
  if (!file_) {
    ::close(fd);
    fail_errno("cannot open " + path);
  }
  dctx_ = ZSTD_createDCtx();
  if (!dctx_) fail("out of memory for a zstd context");
  char magic[8];
  uint32_t zero = 0;
  if (std::fread(magic, 1, 8, file_) != 8 || std::memcmp(magic, kMagic, 8) != 0)
    fail("{} is not an omni trace file", path);
  if (std::fread(&version_, 4, 1, file_) != 1 || std::fread(&zero, 4, 1, file_) != 1)
    fail("{} is truncated", path);
  if (version_ != kContainerVersion && version_ != kContainerVersionPlainMeta)
    fail("{} has trace format version {}, this omni reads versions {} and {}; record it again with "
         "this omni",
         path, version_, kContainerVersionPlainMeta, kContainerVersion);
  bytes_read_ = 16;
  uint32_t kind, size;
  uint64_t raw;
  if (!read_frame_header(kind, size, raw) || kind != static_cast<uint32_t>(FrameKind::Info))
    fail("{} has no recording information (recording did not start)", path);
  if (!read_payload(size)) fail("{} is truncated", path);
  info_ = decode_key_values(meta_text(size, raw, "INFO"));
}

TraceReader::~TraceReader() {
  if (file_) std::fclose(file_);
  ZSTD_freeDCtx(static_cast<ZSTD_DCtx*>(dctx_));
}

std::string TraceReader::info_value(const std::string& key) const { return find_value(info_, key); }

bool TraceReader::read_frame_header(uint32_t& kind, uint32_t& size, uint64_t& raw) {
  FrameHeader header;
  size_t got = std::fread(&header, 1, sizeof header, file_);
  if (got != sizeof header) {
    if (got != 0) truncated_ = true;
    return false;
  }
  bytes_read_ += sizeof header;
  kind = header.kind;
  size = header.size;
  raw = header.raw;
  return true;
}

bool TraceReader::read_payload(uint32_t size) {
  // The size comes from the file: check it against what the file holds
  // before allocating anything for it.
  if (size > file_bytes_ - std::min(bytes_read_, file_bytes_)) return false;
  compressed_.resize(size);
  if (std::fread(compressed_.data(), 1, size, file_) != size) return false;
  bytes_read_ += size;
  return true;
}

void TraceReader::decompress(uint64_t raw, std::vector<uint8_t>& out, const char* what) {
  auto* payload = compressed_.data();
  size_t size = compressed_.size();
  unsigned long long content = ZSTD_getFrameContentSize(payload, size);
  if (raw > kMaxFrameRawBytes || content != raw)
    fail("trace file is corrupt: the {} frame at byte {} claims {} bytes {}", what,
         bytes_read_ - size, raw,
         raw > kMaxFrameRawBytes ? "(more than any recorder writes)" : "but its data says otherwise");
  out.resize(raw);
  size_t n = ZSTD_decompressDCtx(static_cast<ZSTD_DCtx*>(dctx_), out.data(), raw, payload, size);
  if (ZSTD_isError(n) || n != raw)
    fail("trace file is corrupt: the {} frame at byte {} does not decompress ({})", what,
         bytes_read_ - size, ZSTD_isError(n) ? ZSTD_getErrorName(n) : "wrong size");
}

std::string TraceReader::meta_text(uint32_t size, uint64_t raw, const char* what) {
  if (version_ == kContainerVersionPlainMeta) {
    if (raw != size) fail("trace file is corrupt: the {} frame's sizes disagree", what);
    return std::string(compressed_.begin(), compressed_.end());
  }
  std::vector<uint8_t> text;
  decompress(raw, text, what);
  return std::string(text.begin(), text.end());
}

bool TraceReader::next_stream(std::vector<uint8_t>& out) { return next_frame(&out); }

void TraceReader::skip_to_end() { next_frame(nullptr); }

bool TraceReader::next_frame(std::vector<uint8_t>* out) {
  for (;;) {
    uint32_t kind, size;
    uint64_t raw;
    if (!read_frame_header(kind, size, raw)) return false;
    if (!out && static_cast<FrameKind>(kind) == FrameKind::Stream) {
      // Skipped unread: only its presence, not its contents, is wanted.
      if (bytes_read_ + size > file_bytes_ || std::fseek(file_, size, SEEK_CUR) != 0) {
        truncated_ = true;
        return false;
      }
      bytes_read_ += size;
      continue;
    }
    if (!read_payload(size)) {
      truncated_ = true;
      return false;
    }
    switch (static_cast<FrameKind>(kind)) {
      case FrameKind::Stream:
        decompress(raw, *out, "stream");
        return true;
      case FrameKind::End:
        if (end_) fail("trace file is corrupt: a second END frame at byte {}", bytes_read_ - size);
        end_ = decode_key_values(meta_text(size, raw, "END"));
        break;
      case FrameKind::Info:
        fail("trace file is corrupt: a second INFO frame at byte {}", bytes_read_ - size);

      default:
        fail("trace file is corrupt: unknown frame kind {}", kind);
    }
  }
}

}  // namespace omni::trace
