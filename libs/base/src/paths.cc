#include "omni/base/paths.h"

#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <algorithm>
#include <cstdlib>

#include "omni/base/error.h"

namespace omni {

namespace {

bool is_empty_dir(const std::string& path) {
  DIR* dir = opendir(path.c_str());
  if (!dir) return false;
  bool empty = true;
  while (dirent* entry = readdir(dir)) {
    std::string name = entry->d_name;
    if (name != "." && name != "..") {
      empty = false;
      break;
    }
  }
  closedir(dir);
  return empty;
}

void mkdir_p(const std::string& path) {
  for (size_t pos = 1; pos <= path.size(); ++pos) {
    if (pos == path.size() || path[pos] == '/') {
      std::string prefix = path.substr(0, pos);
      if (mkdir(prefix.c_str(), 0700) != 0 && errno != EEXIST)
        fail_errno("cannot create directory " + prefix);
    }
  }
}

// A directory omni keeps recordings in must be a real directory (not a link
// someone could point elsewhere), owned by us; it is made 0700 through the
// descriptor, so a link swapped in meanwhile is never followed.
void make_owned_private(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ELOOP || errno == ENOTDIR) {
      struct stat st;
      if (lstat(path.c_str(), &st) == 0 && S_ISLNK(st.st_mode))
        fail("{} is a symbolic link; omni keeps recordings only in a real directory (remove the "
             "link, or pass -o DIR)",
             path);
      fail("{} is not a directory", path);
    }
    fail_errno("cannot open " + path);
  }
  struct stat st;
  if (fstat(fd, &st) != 0) {
    ::close(fd);
    fail_errno("cannot read " + path);
  }
  if (st.st_uid != geteuid()) {
    ::close(fd);
    fail("{} belongs to another user (uid {}); recordings hold a program's memory, so omni "
         "writes them only into a directory of its own",
         path, st.st_uid);
  }
  if ((st.st_mode & 07777) != 0700 && fchmod(fd, 0700) != 0) {
    int err = errno;
    ::close(fd);
    errno = err;
    fail_errno("cannot make " + path + " private (chmod 0700)");
  }
  ::close(fd);
}

}  // namespace

std::string recordings_root(bool create) {
  std::string root;
  if (const char* xdg = std::getenv("XDG_DATA_HOME"); xdg && *xdg) {
    root = std::string(xdg) + "/omni";
  } else if (const char* home = std::getenv("HOME"); home && *home) {
    root = std::string(home) + "/.local/share/omni";
  } else {
    fail("neither XDG_DATA_HOME nor HOME is set; pass a trace directory explicitly");
  }
  if (create) {
    mkdir_p(root);
    make_owned_private(root);
  }
  return root;
}

std::string resolve_trace_dir(const std::string& given) {
  std::string dir = given;
  if (dir.empty()) {
    std::string latest = recordings_root(false) + "/latest-trace";
    char target[PATH_MAX];
    if (!realpath(latest.c_str(), target))
      fail("no recording found at {} (run `omni record PROGRAM` first, or name a trace directory)",
           latest);
    dir = target;
  }
  struct stat st;
  if (stat(dir.c_str(), &st) != 0) fail_errno("trace directory " + dir);
  if (!S_ISDIR(st.st_mode)) fail("{} is not a trace directory", dir);
  std::string trace = dir + "/" + kTraceFile;
  if (access(trace.c_str(), R_OK) != 0)
    fail("{} is not an omni trace directory (no readable {})", dir, kTraceFile);
  return dir;
}

std::string self_exe_dir() {
  char buf[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n < 0) fail_errno("cannot read /proc/self/exe");
  std::string path(buf, n);
  return path.substr(0, path.rfind('/'));
}

void make_private_dir(const std::string& path) {
  if (mkdir(path.c_str(), 0700) == 0) return;
  if (errno == EEXIST && is_empty_dir(path)) {
    make_owned_private(path);
    return;
  }
  if (errno == EEXIST) fail("{} already exists and is not empty", path);
  if (errno == ENOENT) {
    mkdir_p(path);
    return;
  }
  fail_errno("cannot create trace directory " + path);
}

std::string recording_root(const std::string& dir) {
  size_t at = dir.rfind(std::string("/") + kProcessesDir + "/");
  return at == std::string::npos ? dir : dir.substr(0, at);
}

std::vector<ProcessDir> process_dirs(const std::string& trace_dir) {
  std::vector<ProcessDir> out{{1, trace_dir}};
  std::string root = trace_dir + "/" + kProcessesDir;
  DIR* dir = opendir(root.c_str());
  if (!dir) return out;
  while (dirent* entry = readdir(dir)) {
    std::string name = entry->d_name;
    if (name.empty() || name.size() > 9 || name.find_first_not_of("0123456789") != std::string::npos ||
        name[0] == '0')
      continue;
    uint32_t n = uint32_t(std::stoul(name));
    std::string path = root + "/" + name;
    struct stat st;
    if (n < 2 || lstat(path.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) continue;
    if (lstat((path + "/" + kTraceFile).c_str(), &st) != 0 || !S_ISREG(st.st_mode)) continue;
    out.push_back({n, path});
  }
  closedir(dir);
  std::sort(out.begin() + 1, out.end(), [](const ProcessDir& a, const ProcessDir& b) { return a.process < b.process; });
  return out;
}

}  // namespace omni
