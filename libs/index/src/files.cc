#include "omni/index/files.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zstd.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <mutex>
#include <vector>

#include "integrity.h"
#include "omni/base/error.h"
#include "omni/elf/elf.h"

namespace omni::index {

namespace {

// A copy is one zstd frame (ELF code and data compress ~2.4x at level 3:
// python3.11's 6.8 MB to 2.8 MB), read back at most this large.
constexpr int kCopyZstdLevel = 3;
constexpr const char* kCopySuffix = ".zst";
constexpr uint64_t kMaxCopyBytes = uint64_t{4} << 30;

std::string base_name(const std::string& path) {
  size_t slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

bool build_id_ok(const std::string& path, const std::string& build_id) {
  std::optional<elf::ElfInfo> info = elf::read_elf_info(path);
  return info && (build_id.empty() || info->build_id == build_id);
}

// Writes all of `size` bytes to `fd`; false (errno set) on failure.
bool write_all(int fd, const void* data, size_t size) {
  auto p = static_cast<const char*>(data);
  for (size_t done = 0; done < size;) {
    ssize_t w = ::write(fd, p + done, size - done);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0) return false;
    done += static_cast<size_t>(w);
  }
  return true;
}

// Compresses `from` into the new file `to`, one checksummed zstd frame
// (0600, never through a link); returns the bytes written.
uint64_t compress_file(const std::string& from, const std::string& to) {
  int in = ::open(from.c_str(), O_RDONLY | O_CLOEXEC);
  if (in < 0) fail_errno("cannot read " + from);
  std::string tmp = to + ".tmp";
  unlink(tmp.c_str());
  int out = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  std::unique_ptr<ZSTD_CCtx, size_t (*)(ZSTD_CCtx*)> context(ZSTD_createCCtx(), ZSTD_freeCCtx);
  // Closes what is open and removes the partial copy, keeping errno for the message.
  auto give_up = [&](const std::string& what) {
    int err = errno;
    ::close(in);
    if (out >= 0) {
      ::close(out);
      unlink(tmp.c_str());
    }
    errno = err;
    fail_errno(what);
  };
  if (out < 0) give_up("cannot create " + tmp);
  if (!context) {
    errno = ENOMEM;
    give_up("cannot compress " + from);
  }
  ZSTD_CCtx_setParameter(context.get(), ZSTD_c_compressionLevel, kCopyZstdLevel);
  ZSTD_CCtx_setParameter(context.get(), ZSTD_c_checksumFlag, 1);
  uint64_t total = 0;
  std::vector<char> buffer(1 << 17), packed(ZSTD_CStreamOutSize());
  for (bool last = false; !last;) {
    ssize_t n = ::read(in, buffer.data(), buffer.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) give_up("cannot read " + from);
    last = n == 0;
    ZSTD_inBuffer input{buffer.data(), static_cast<size_t>(n), 0};
    for (bool done = false; !done;) {
      ZSTD_outBuffer output{packed.data(), packed.size(), 0};
      size_t left = ZSTD_compressStream2(context.get(), &output, &input, last ? ZSTD_e_end : ZSTD_e_continue);
      if (ZSTD_isError(left)) {
        errno = EIO;
        give_up(std::string("cannot compress ") + from + ": " + ZSTD_getErrorName(left));
      }
      if (!write_all(out, packed.data(), output.pos)) give_up("cannot write " + tmp);
      total += output.pos;
      done = last ? left == 0 : input.pos == input.size;
    }
  }
  ::close(in);
  if (::close(out) != 0 || rename(tmp.c_str(), to.c_str()) != 0) {
    int err = errno;
    unlink(tmp.c_str());
    errno = err;
    fail_errno("cannot create " + to);
  }
  return total;
}

// A compressed copy, decompressed into an anonymous file (memfd) that this
// process keeps open for its lifetime: its /proc/self/fd path opens like
// any file, for libdw and for replay. Decompressed once per process.
std::string decompressed_copy(const std::string& copy) {
  static std::mutex mutex;
  static std::map<std::string, std::string> done;
  std::lock_guard<std::mutex> lock(mutex);
  if (auto it = done.find(copy); it != done.end()) return it->second;
  int in = ::open(copy.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (in < 0) fail_errno("cannot read " + copy);
  int out = memfd_create("omni-recorded-file", MFD_CLOEXEC);
  std::unique_ptr<ZSTD_DCtx, size_t (*)(ZSTD_DCtx*)> context(ZSTD_createDCtx(), ZSTD_freeDCtx);
  auto give_up = [&](const std::string& what) {
    ::close(in);
    if (out >= 0) ::close(out);
    fail("{} ({}); run `omni index` again where the recorded files are", copy, what);
  };
  if (out < 0) give_up(std::string("cannot make a file in memory: ") + std::strerror(errno));
  if (!context) give_up("out of memory for a zstd context");
  std::vector<char> buffer(ZSTD_DStreamInSize()), plain(ZSTD_DStreamOutSize());
  uint64_t total = 0;
  size_t left = 1;  // 0 once a whole frame (its checksum checked) was decoded
  for (;;) {
    ssize_t n = ::read(in, buffer.data(), buffer.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) give_up(std::string("cannot read it: ") + std::strerror(errno));
    if (n == 0) break;
    if (left == 0) give_up("it is damaged: bytes after its zstd frame");
    if (total == 0 && left == 1) {
      // omni index wrote the frame with its checksum: one without is not its.
      // RFC 8878: the magic number, then the frame header descriptor, whose
      // bit 2 is Content_Checksum_flag.
      auto head = reinterpret_cast<const uint8_t*>(buffer.data());
      if (n < 5 || head[0] != 0x28 || head[1] != 0xB5 || head[2] != 0x2F || head[3] != 0xFD || !(head[4] & 0x04))
        give_up("it is damaged: not a checksummed zstd frame");
    }
    ZSTD_inBuffer input{buffer.data(), static_cast<size_t>(n), 0};
    while (input.pos < input.size) {
      ZSTD_outBuffer output{plain.data(), plain.size(), 0};
      left = ZSTD_decompressStream(context.get(), &output, &input);
      if (ZSTD_isError(left)) give_up(std::string("it is damaged: ") + ZSTD_getErrorName(left));
      total += output.pos;
      if (total > kMaxCopyBytes) give_up("it is damaged: it decompresses to over 4 GiB");
      if (!write_all(out, plain.data(), output.pos))
        give_up(std::string("cannot write it in memory: ") + std::strerror(errno));
      if (left == 0 && input.pos < input.size) give_up("it is damaged: bytes after its zstd frame");
    }
  }
  if (left != 0) give_up("it is damaged: cut short");
  ::close(in);
  return done.emplace(copy, "/proc/self/fd/" + std::to_string(out)).first->second;
}

}  // namespace

std::string copy_path(const std::string& trace_dir, const std::string& path,
                      const std::string& build_id) {
  std::string name = build_id.empty() ? fmt::format("{}-{:016x}", base_name(path), fnv1a(path))
                                      : build_id + "-" + base_name(path);
  return trace_dir + "/files/" + name;
}

std::optional<std::string> recorded_file(const std::string& trace_dir, const std::string& path,
                                         const std::string& build_id) {
  if (build_id_ok(path, build_id)) return path;
  std::string copy = copy_path(trace_dir, path, build_id);
  if (access((copy + kCopySuffix).c_str(), R_OK) == 0) return decompressed_copy(copy + kCopySuffix);
  if (access(copy.c_str(), R_OK) == 0) return copy;  // as omni index copied it before 2026-11-30
  return std::nullopt;
}

FileCopies copy_recorded_files(const std::string& trace_dir, const std::vector<ObjectRow>& objects,
                               std::map<std::string, std::string>& made) {
  FileCopies stats;
  std::string dir = trace_dir + "/files";
  if (mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) fail_errno("cannot create " + dir);
  struct stat st;
  if (lstat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode) || st.st_uid != geteuid())
    fail("{} is not a directory of yours: refusing to copy the recorded files into it", dir);
  std::map<std::string, bool> seen;
  for (const ObjectRow& o : objects) {
    std::string plain = copy_path(trace_dir, o.path, o.build_id), to = plain + kCopySuffix;
    if (seen.count(to)) continue;
    seen[to] = true;
    std::string key = o.build_id.empty() ? o.path : o.build_id;
    // A copy made uncompressed (before 2026-11-30) stays as it is.
    if (lstat(to.c_str(), &st) != 0 && lstat(plain.c_str(), &st) == 0) to = plain;
    if (lstat(to.c_str(), &st) != 0) {
      auto earlier = made.find(key);
      if (earlier != made.end() && link(earlier->second.c_str(), to.c_str()) == 0) {
        // The same file, copied for another process of the recording.
      } else if (build_id_ok(o.path, o.build_id)) {
        compress_file(o.path, to);
      } else {
        ++stats.missing;
        continue;
      }
      if (lstat(to.c_str(), &st) != 0) fail_errno("cannot read " + to);
    }
    if (!S_ISREG(st.st_mode))
      fail("{} is not a regular file: refusing to use it as a recorded file", to);
    made.emplace(key, to);
    ++stats.files;
    stats.bytes += static_cast<uint64_t>(st.st_size);
  }
  return stats;
}

}  // namespace omni::index
