#include "omni/index/files.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

#include "integrity.h"
#include "omni/base/error.h"
#include "omni/elf/elf.h"

namespace omni::index {

namespace {

std::string base_name(const std::string& path) {
  size_t slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

bool build_id_ok(const std::string& path, const std::string& build_id) {
  std::optional<elf::ElfInfo> info = elf::read_elf_info(path);
  return info && (build_id.empty() || info->build_id == build_id);
}

// Copies `from` to the new file `to` (0600, never through a link).
uint64_t copy_file(const std::string& from, const std::string& to) {
  int in = ::open(from.c_str(), O_RDONLY | O_CLOEXEC);
  if (in < 0) fail_errno("cannot read " + from);
  std::string tmp = to + ".tmp";
  unlink(tmp.c_str());
  int out = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
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
  uint64_t total = 0;
  char buffer[1 << 16];
  for (;;) {
    ssize_t n = ::read(in, buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) give_up("cannot read " + from);
    if (n == 0) break;
    for (ssize_t done = 0; done < n;) {
      ssize_t w = ::write(out, buffer + done, static_cast<size_t>(n - done));
      if (w < 0 && errno == EINTR) continue;
      if (w < 0) give_up("cannot write " + tmp);
      done += w;
    }
    total += static_cast<uint64_t>(n);
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
  if (access(copy.c_str(), R_OK) == 0) return copy;
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
    std::string to = copy_path(trace_dir, o.path, o.build_id);
    if (seen.count(to)) continue;
    seen[to] = true;
    std::string key = o.build_id.empty() ? o.path : o.build_id;
    if (lstat(to.c_str(), &st) != 0) {
      auto earlier = made.find(key);
      if (earlier != made.end() && link(earlier->second.c_str(), to.c_str()) == 0) {
        // The same file, copied for another process of the recording.
      } else if (build_id_ok(o.path, o.build_id)) {
        copy_file(o.path, to);
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
