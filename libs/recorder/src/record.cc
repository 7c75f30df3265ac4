#include "omni/recorder/record.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <linux/sockios.h>
#include <sys/syscall.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <chrono>
#include <cstring>
#include <ctime>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "omni/base/error.h"
#include "omni/base/paths.h"
#include "omni/trace/container.h"
#include "omni/trace/stream.h"
#include "tool/omni_channel.h"

namespace omni::recorder {

static_assert(kDefaultSnapshotInterval == OMNI_DEFAULT_SNAPSHOT_INTERVAL, "one default for omni record and the tool");

namespace {

// The size of a shared-memory slot, and so the most raw stream one STREAM
// frame holds (the tool's buffer is this size): large enough for zstd to
// find redundancy, small enough that a killed recorder loses little.
constexpr size_t kFrameBytes = 4 << 20;

volatile sig_atomic_t g_child = 0;

// Process descriptors (Linux 5.3): an image's process is watched and
// signalled through one, never by a pid that may have been reused.
// (Debian 12's <sys/pidfd.h> lacks extern "C".)
int pidfd_open(pid_t pid, unsigned flags) { return int(syscall(SYS_pidfd_open, pid, flags)); }
int pidfd_send_signal(int pidfd, int sig, siginfo_t* info, unsigned flags) {
  return int(syscall(SYS_pidfd_send_signal, pidfd, sig, info, flags));
}

// SIGTERM and SIGHUP are passed on to the program. SIGINT and SIGQUIT only
// when a process sent them to omni (kill(1), si_code SI_USER/SI_QUEUE/
// SI_TKILL): one from the terminal (SI_KERNEL) went to the whole foreground
// process group, the program included, and passing it on would deliver it
// twice.
void forward_signal(int sig, siginfo_t* info, void*) {
  if ((sig == SIGINT || sig == SIGQUIT) && info && info->si_code == SI_KERNEL) return;
  if (g_child > 0) kill(g_child, sig);
}

// The open files the program's stdout and stderr start as (omni record's
// own): what every recorded process writes to fd 1 or 2 while it is one of
// these is what the user saw, its --output; a pipeline's first program
// writes into its pipe instead, and redirected writes go to their file.
std::string output_files_option() {
  std::vector<std::string> files;
  for (int fd : {1, 2}) {
    struct stat st{};
    if (fstat(fd, &st) != 0) continue;
    std::string file = fmt::format("{}:{}", static_cast<unsigned long long>(st.st_dev),
                                   static_cast<unsigned long long>(st.st_ino));
    if (std::find(files.begin(), files.end(), file) == files.end()) files.push_back(file);
  }
  return "--omni-output-files=" + (files.empty() ? std::string("none") : fmt::format("{}", fmt::join(files, ",")));
}

// The Valgrind to run: Debian's /usr/bin/valgrind is a shell script that
// adds LD_LIBRARY_PATH=/usr/lib/debug, GLIBCPP_FORCE_NEW=1 and
// GLIBCXX_FORCE_NEW=1 to the program's environment and then runs
// valgrind.bin beside it; omni runs valgrind.bin itself so the program's
// environment is its own (docs/design.md). Any other valgrind is run as found.
std::string find_valgrind() {
  const char* path = getenv("PATH");
  std::string dirs = path ? path : "/usr/local/bin:/usr/bin:/bin";
  for (size_t start = 0; start <= dirs.size();) {
    size_t end = dirs.find(':', start);
    if (end == std::string::npos) end = dirs.size();
    std::string dir = dirs.substr(start, end - start);
    start = end + 1;
    std::string candidate = (dir.empty() ? "." : dir) + "/valgrind";
    struct stat st;
    if (stat(candidate.c_str(), &st) != 0 || !S_ISREG(st.st_mode) || access(candidate.c_str(), X_OK) != 0)
      continue;
    std::string real = candidate + ".bin";
    char head[4096];
    ssize_t n = 0;
    if (int fd = open(candidate.c_str(), O_RDONLY | O_CLOEXEC); fd >= 0) {
      n = read(fd, head, sizeof head);
      close(fd);
    }
    std::string_view text(head, n > 0 ? size_t(n) : 0);
    bool wrapper = text.substr(0, 2) == "#!" && text.find("$0.bin") != std::string_view::npos;
    if (wrapper && access(real.c_str(), X_OK) == 0) return real;
    return candidate;
  }
  return "valgrind";  // execvp then fails with ENOENT: "install the valgrind package"
}

std::string basename_of(const std::string& path) {
  size_t slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

std::string new_trace_dir(const std::string& program) {
  std::string root = recordings_root(true);
  std::string stem = basename_of(program);
  for (int n = 0;; ++n) {
    std::string dir = root + "/" + stem + "-" + std::to_string(n);
    if (mkdir(dir.c_str(), 0700) == 0) {
      std::string link = root + "/latest-trace";
      std::string tmp = link + ".tmp" + std::to_string(getpid());
      unlink(tmp.c_str());
      if (symlink((stem + "-" + std::to_string(n)).c_str(), tmp.c_str()) == 0)
        rename(tmp.c_str(), link.c_str());
      return dir;
    }
    if (errno != EEXIST) fail_errno("cannot create trace directory " + dir);
  }
}

// Finds the program as execvp would, so a typo is reported by omni before a
// trace directory exists, not by Valgrind after.
std::string resolve_program(const std::string& program) {
  auto runnable = [](const std::string& path) {
    struct stat st;
    return stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode) && access(path.c_str(), X_OK) == 0;
  };
  if (program.find('/') != std::string::npos) {
    struct stat st;
    if (stat(program.c_str(), &st) != 0) fail_errno("cannot run '" + program + "'");
    if (!runnable(program)) fail("cannot run '{}': not an executable file", program);
    return program;
  }
  const char* path = getenv("PATH");
  std::string dirs = path ? path : "/usr/local/bin:/usr/bin:/bin";
  size_t start = 0;
  while (start <= dirs.size()) {
    size_t end = dirs.find(':', start);
    if (end == std::string::npos) end = dirs.size();
    std::string dir = dirs.substr(start, end - start);
    std::string candidate = (dir.empty() ? "." : dir) + "/" + program;
    if (runnable(candidate)) return candidate;
    start = end + 1;
  }
  fail("cannot run '{}': not found in PATH", program);
}

std::string find_valgrind_lib(const RecordOptions& options) {
  std::string dir = options.valgrind_lib;
  if (dir.empty()) {
    if (const char* env = getenv("OMNI_VALGRIND_LIB"); env && *env) dir = env;
    else dir = self_exe_dir() + "/valgrind";
  }
  std::string tool = dir + "/omni-amd64-linux";
  if (access(tool.c_str(), X_OK) != 0)
    fail("the omni Valgrind tool is missing ({}); build omni with `make`", tool);
  return dir;
}

// Valgrind's own messages (its log: the tool's fatal errors, "Process
// terminating with default action of signal N", internal errors) go to this
// file of the trace directory, never to the program's stderr.
constexpr const char* kValgrindLog = "valgrind.log";

std::string read_text(const std::string& path) {
  std::string text;
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return text;
  char buf[65536];
  ssize_t n;
  while ((n = read(fd, buf, sizeof buf)) > 0 && text.size() < (1u << 20)) text.append(buf, n);
  close(fd);
  return text;
}

// The log's lines without Valgrind's "==PID== " / "--PID-- " prefixes, empty
// lines left out.
std::vector<std::string> log_lines(const std::string& text) {
  std::vector<std::string> lines;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    std::string line = text.substr(start, end - start);
    start = end + 1;
    if (line.size() > 4 && (line[0] == '=' || line[0] == '-') && line[1] == line[0]) {
      size_t close = line.find(std::string(2, line[0]), 2);
      if (close != std::string::npos) line = line.substr(close + 2);
    }
    size_t first = line.find_first_not_of(" \t");
    if (first == std::string::npos) continue;
    lines.push_back(line.substr(first));
  }
  return lines;
}

// Why the tool or Valgrind failed, from its log: an internal error, a panic,
// the tool's own fatal message. Empty when the log says no such thing.
std::string failure_reason(const std::string& log) {
  std::vector<std::string> lines = log_lines(log);
  for (size_t i = 0; i < lines.size(); ++i) {
    const std::string& line = lines[i];
    if (size_t at = line.find("VALGRIND INTERNAL ERROR: "); at != std::string::npos) {
      std::string reason = line.substr(at + 25);
      if (i + 1 < lines.size() && lines[i + 1].rfind("si_code=", 0) == 0) reason += " (" + lines[i + 1] + ")";
      return reason;
    }
    if (line.find("the 'impossible' happened:") != std::string::npos && i + 1 < lines.size())
      return "Valgrind panicked: " + lines[i + 1];
    if (line.rfind("omni: ", 0) == 0) return line.substr(6);
  }
  return {};
}

// The log's message for a Valgrind that stopped before the tool ran (a bad
// option, a program it cannot load): its first line saying so.
std::string startup_reason(const std::string& log) {
  if (std::string reason = failure_reason(log); !reason.empty()) return reason;
  for (const std::string& line : log_lines(log))
    if (line.rfind("valgrind: ", 0) == 0) return line.substr(10);
  std::vector<std::string> lines = log_lines(log);
  return lines.empty() ? std::string() : lines.back();
}

// The recorder's Unix-domain stream socket, DIR/control.sock (0600, in the
// 0700 trace directory), to which each recorded image's tool connects
// (tool/omni_channel.h). A socket in the directory rather than a socketpair
// handed to Valgrind: SO_PEERCRED of a connection names the process that
// connected (of a socketpair, the one that made it: omni), and a forked
// child or an exec'd image can open its own connection by the path.
// Created through a descriptor of the directory, so never through a link
// planted at the path; removed when the recording ends (left behind only
// when omni record itself is SIGKILLed).
class ControlSocket {
 public:
  static constexpr const char* kName = "control.sock";

  explicit ControlSocket(const std::string& dir) {
    dir_fd_ = open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (dir_fd_ < 0) fail_errno("cannot open trace directory " + dir);
    unlinkat(dir_fd_, kName, 0);  // a socket left by an omni record that was SIGKILLed
    listen_fd_ = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (listen_fd_ < 0) fail_errno("cannot create the recorder's socket");
    sockaddr_un addr = address("/proc/self/fd/" + std::to_string(dir_fd_) + "/" + kName);
    // bind() makes the socket with 0777 & ~umask: 0600 from the start. No
    // other thread runs yet to see the umask change.
    mode_t old_umask = umask(0177);
    int bound = bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    int bind_errno = errno;
    umask(old_umask);
    if (bound != 0) {
      errno = bind_errno;
      fail_errno("cannot create the recorder's socket " + dir + "/" + kName);
    }
    made_ = true;
    struct stat st;
    if (fstatat(dir_fd_, kName, &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISSOCK(st.st_mode) ||
        (st.st_mode & 07777) != 0600)
      fail("the recorder's socket {}/{} is not a private socket", dir, kName);
    if (listen(listen_fd_, 8) != 0) fail_errno("listen on the recorder's socket");
    // What the tool connects to: the path, or the same directory through
    // omni's descriptor when the path is longer than a socket address holds.
    // Absolute: a forked child connects from wherever it has chdir'ed to.
    std::string absolute = dir;
    if (absolute[0] != '/') {
      char cwd[4096];
      if (!getcwd(cwd, sizeof cwd)) fail_errno("getcwd");
      absolute = std::string(cwd) + "/" + dir;
    }
    tool_path_ = absolute + "/" + kName;
    if (tool_path_.size() >= sizeof addr.sun_path)
      tool_path_ = "/proc/" + std::to_string(getpid()) + "/fd/" + std::to_string(dir_fd_) + "/" + kName;
  }
  ~ControlSocket() {
    if (listen_fd_ >= 0) close(listen_fd_);
    if (made_) unlinkat(dir_fd_, kName, 0);
    if (dir_fd_ >= 0) close(dir_fd_);
  }
  ControlSocket(const ControlSocket&) = delete;
  ControlSocket& operator=(const ControlSocket&) = delete;

  int fd() const { return listen_fd_; }
  const std::string& tool_path() const { return tool_path_; }

  // Takes one pending connection; -1 when none is waiting. *pid: the
  // connecting process, as the kernel saw it at connect().
  int accept_one(pid_t* pid) {
    int conn = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (conn < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR || errno == ECONNABORTED) return -1;
      fail_errno("accepting on the recorder's socket");
    }
    ucred cred{};
    socklen_t len = sizeof cred;
    if (getsockopt(conn, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) cred.pid = 0;
    *pid = cred.pid;
    return conn;
  }

  // A connection that is not the tool's (another process, or one made after
  // the tool's) is closed unread: it is no part of the recording and cannot
  // disturb it. Noted in RecordResult::refused.
  void refuse(int conn, pid_t pid) {
    close(conn);
    ++refused_;
    if (refused_pids_.size() < 4) refused_pids_.push_back(pid);
  }
  std::string refused_text() const {
    if (refused_ == 0) return {};
    std::string pids;
    for (pid_t pid : refused_pids_) pids += (pids.empty() ? "" : ", ") + std::to_string(pid);
    return fmt::format("refused {} connection{} to the recorder's socket (pid {}{})", refused_,
                       refused_ == 1 ? "" : "s", pids, refused_ > refused_pids_.size() ? ", ..." : "");
  }

 private:
  static sockaddr_un address(const std::string& path) {
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (path.size() >= sizeof addr.sun_path) fail("socket path too long: {}", path);
    std::memcpy(addr.sun_path, path.data(), path.size());
    return addr;
  }

  int dir_fd_ = -1, listen_fd_ = -1;
  bool made_ = false;
  std::string tool_path_;
  size_t refused_ = 0;
  std::vector<pid_t> refused_pids_;
};

// Waits for the tool's connection (made in Valgrind's process, before the
// program runs) and its first message, without blocking forever if Valgrind
// never gets there: polls the child meanwhile. Returns -1 (with the child
// reaped into *status) when Valgrind exits first: the tool never started.
int accept_tool(ControlSocket& control, pid_t child, int* status) {
  int conn = -1;
  for (;;) {
    pollfd p = conn < 0 ? pollfd{control.fd(), POLLIN, 0} : pollfd{conn, POLLIN, 0};
    if (poll(&p, 1, 50) > 0 && (p.revents & (POLLIN | POLLHUP | POLLERR))) {
      if (conn >= 0) {
        char byte;
        if (recv(conn, &byte, 1, MSG_PEEK | MSG_DONTWAIT) > 0) return conn;  // still O_NONBLOCK: pump() polls it
        // Closed before its first message: Valgrind is ending.
        close(conn);
        while (waitpid(child, status, 0) < 0 && errno == EINTR) {
        }
        return -1;
      }
      pid_t pid = 0;
      int accepted = control.accept_one(&pid);
      if (accepted >= 0 && pid == child) conn = accepted;
      else if (accepted >= 0) control.refuse(accepted, pid);
      continue;
    }
    pid_t done = waitpid(child, status, WNOHANG);
    if (done == child) {
      if (conn >= 0) close(conn);
      return -1;
    }
  }
}

// The key that authenticates the messages of both directions on every
// image's connection (tool/omni_channel.h): drawn once per recording. The
// root image reads it from a pipe; a forked child has it in the memory it
// inherited.
class Key {
 public:
  Key() {
    if (getentropy(bytes_, sizeof bytes_) != 0) fail_errno("cannot get random bytes for the recorder's key");
  }
  ~Key() { explicit_bzero(bytes_, sizeof bytes_); }
  Key(const Key&) = delete;
  Key& operator=(const Key&) = delete;
  const uint8_t* bytes() const { return bytes_; }

 private:
  uint8_t bytes_[OMNI_CHANNEL_KEY_BYTES];
};

// The recording's sequence page: one u64 counter every recorded process
// increments (stream.h, OMNI_EXT_SEQ), so that their system calls and
// output fall into one order. A memfd: the root inherits it
// (--omni-seq-fd), forked children keep the root's mapping, an exec'd image
// gets it with its slots. omni record itself never reads it.
class SeqPage {
 public:
  SeqPage() {
    fd_ = memfd_create("omni-seq", MFD_CLOEXEC);
    if (fd_ < 0) fail_errno("memfd_create");
    if (ftruncate(fd_, 4096) != 0) fail_errno("sizing the sequence page");
  }
  ~SeqPage() {
    if (fd_ >= 0) close(fd_);
  }
  SeqPage(const SeqPage&) = delete;
  SeqPage& operator=(const SeqPage&) = delete;
  int fd() const { return fd_; }
  // The root's Valgrind option; the descriptor is inherited until close_inherited.
  std::string tool_option() const {
    fcntl(fd_, F_SETFD, 0);
    return "--omni-seq-fd=" + std::to_string(fd_);
  }
  void close_inherited() const { fcntl(fd_, F_SETFD, FD_CLOEXEC); }

 private:
  int fd_ = -1;
};

// The slots one image's tool fills (shared memory). The root image inherits
// the slots file and the key pipe (tool_options); any other image gets its
// slots file with the first free-slot message on its connection (start).
// Free slot numbers go to the tool on the connection.
class Slots {
 public:
  static constexpr uint32_t kCount = 16;
  static constexpr size_t kBytes = kFrameBytes;
  // How many slots an image other than the root may fill: a memfd's pages
  // exist once written, so this bounds what each of many processes (a
  // `make -j2` of many compiles) holds, 16 MiB, while the root keeps 16.
  static constexpr uint32_t kForkedCount = 4;
  // Images beyond kCrowd alive at once (the root not counted) get
  // kCrowdedCount: one to fill while the recorder drains the other.
  static constexpr size_t kCrowd = 16;
  static constexpr uint32_t kCrowdedCount = 2;

  Slots(const Key& key, uint32_t usable) : key_(key.bytes()), usable_(usable) {
    shm_fd_ = memfd_create("omni-stream", MFD_CLOEXEC);
    if (shm_fd_ < 0) fail_errno("memfd_create");
    // The tool maps kCount slots whatever it may use.
    if (ftruncate(shm_fd_, kCount * kBytes) != 0) fail_errno("sizing the stream slots");
    void* base = mmap(nullptr, kCount * kBytes, PROT_READ, MAP_SHARED, shm_fd_, 0);
    if (base == MAP_FAILED) fail_errno("mapping the stream slots");
    base_ = static_cast<const uint8_t*>(base);
  }
  ~Slots() {
    close_inherited();
    munmap(const_cast<uint8_t*>(base_), kCount * kBytes);
  }
  Slots(const Slots&) = delete;
  Slots& operator=(const Slots&) = delete;

  // The root's Valgrind options for these slots: it inherits the slots file
  // and a pipe holding the key.
  std::vector<std::string> tool_options() {
    fcntl(shm_fd_, F_SETFD, 0);  // inherited by Valgrind
    int fds[2];
    // The key goes through a pipe the tool reads and closes before the
    // program runs: never in argv or the environment, which the program
    // (and /proc/PID/cmdline, to other users) can read.
    if (pipe2(fds, O_CLOEXEC) != 0) fail_errno("pipe");
    key_read_ = fds[0];
    fcntl(key_read_, F_SETFD, 0);  // inherited by Valgrind
    ssize_t put = write(fds[1], key_, OMNI_CHANNEL_KEY_BYTES);
    close(fds[1]);
    if (put != ssize_t(OMNI_CHANNEL_KEY_BYTES)) fail_errno("passing the recorder's key");
    return {"--omni-shm-fd=" + std::to_string(shm_fd_), "--omni-key-fd=" + std::to_string(key_read_),
            "--omni-slots=" + std::to_string(kCount),
            "--omni-buffer-kb=" + std::to_string(kBytes >> 10)};
  }
  // Once Valgrind runs (or the slots file has gone to the tool), only the
  // tool needs these.
  void close_inherited() {
    if (shm_fd_ >= 0) close(shm_fd_);
    if (key_read_ >= 0) close(key_read_);
    shm_fd_ = key_read_ = -1;
  }
  // The tool's connection, once its HELLO has passed its check: every
  // usable slot is free. With `seq_fd` >= 0 the first free-slot message
  // carries the slots file and the sequence page (SCM_RIGHTS); this side
  // then closes its slots descriptor.
  void start(int connection, int seq_fd = -1) {
    connection_ = connection;
    for (uint32_t slot = 0; slot < usable_; ++slot) release(slot, slot == 0 ? seq_fd : -1);
    if (seq_fd >= 0) close_inherited();
  }
  uint32_t usable() const { return usable_; }
  const uint8_t* slot(uint32_t index) const { return base_ + size_t(index) * kBytes; }
  const uint8_t* key() const { return key_; }
  // Once every free-slot message sent has been read off the connection:
  // how many are not among the `taken` the tool has named in slot messages
  // (the one the tool may be filling and has not named yet, and any that
  // something else read off the tool's end). 0 while some are still unread
  // (SIOCOUTQ: what was sent and not yet consumed): the tool then has one to
  // read, and a theft from the front of the queue shows as a message out
  // of sequence. Only meaningful while no slot message is waiting to be
  // read (the caller checks that after this call).
  int64_t releases_missing(uint64_t taken) {
    uint64_t released;
    {
      std::lock_guard lock(release_mutex_);
      released = release_sequence_;
    }
    int unread = 0;
    if (connection_ < 0 || ioctl(connection_, SIOCOUTQ, &unread) != 0 || unread != 0) return 0;
    return int64_t(released) - int64_t(taken);
  }
  // Compressor threads release concurrently; the lock keeps sequence numbers
  // in the order the messages enter the connection. After Valgrind has
  // exited the connection has no reader: EPIPE, ignored (MSG_NOSIGNAL). The
  // connection is non-blocking for the reader's sake; 16 messages of 16
  // bytes never fill it, but a full one is waited on.
  void release(uint32_t slot, int seq_fd = -1) {
    std::lock_guard lock(release_mutex_);
    uint8_t message[OMNI_RELEASE_BYTES];
    omni_encode_release(message, key_, slot, release_sequence_++);
    size_t sent = 0;
    while (sent < sizeof message) {
      msghdr msg{};
      iovec iov{message + sent, sizeof message - sent};
      msg.msg_iov = &iov;
      msg.msg_iovlen = 1;
      alignas(cmsghdr) char control[CMSG_SPACE(2 * sizeof(int))];
      if (seq_fd >= 0 && sent == 0) {
        std::memset(control, 0, sizeof control);
        msg.msg_control = control;
        msg.msg_controllen = sizeof control;
        cmsghdr* c = CMSG_FIRSTHDR(&msg);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(2 * sizeof(int));
        int fds[2] = {shm_fd_, seq_fd};
        std::memcpy(CMSG_DATA(c), fds, sizeof fds);
      }
      ssize_t n = sendmsg(connection_, &msg, MSG_NOSIGNAL);
      if (n > 0) {
        sent += size_t(n);
      } else if (n < 0 && errno == EAGAIN) {
        pollfd p{connection_, POLLOUT, 0};
        poll(&p, 1, 100);
      } else if (n < 0 && errno == EINTR) {
      } else {
        break;
      }
    }
  }

 private:
  const uint8_t* key_;
  uint32_t usable_;
  int shm_fd_ = -1, key_read_ = -1, connection_ = -1;
  const uint8_t* base_ = nullptr;
  std::mutex release_mutex_;
  uint32_t release_sequence_ = 0;
};

// Whether the process is stopped (SIGSTOP, a debugger): its state in
// /proc/PID/stat is T or t.
bool process_stopped(pid_t pid) {
  std::string stat = read_text("/proc/" + std::to_string(pid) + "/stat");
  size_t close = stat.rfind(')');
  return close != std::string::npos && close + 2 < stat.size() &&
         (stat[close + 2] == 'T' || stat[close + 2] == 't');
}

struct PumpResult {
  bool complete = false;  // the tool's final message came, after its EXIT record
  std::string tampered;   // non-empty: which message failed its check
  // The EXIT record's status (exit_group's code; -1: the program died of a
  // signal), when the stream ends with one.
  std::optional<int32_t> exit_code;
};

// Moves one image's stream into its trace file. The tool fills shared-memory
// slots and names each full one on its connection `fd` (tool/omni_channel.h),
// whose first message, HELLO, must pass its check before any slot is handed
// out (the root's, read here; a forked image's HELLO_FORK was read by
// record()'s loop, which started its slots: `first_sequence` is then 1). The
// image's process is `pid` (`pidfd`, readable once it has exited). A reader thread
// checks and takes those messages, one compressor per core (the program
// mostly waits while compression runs) compresses straight from the slot,
// hands the slot back, and whichever finishes writes every frame that is
// next in stream order. The stream is complete when the tool's final message
// came after a stream ending with its EXIT record (the tool finishes even
// when the program crashes; not when Valgrind itself is SIGKILLed). A
// message that fails its check ends the reading: the program (or something
// it started) wrote into the channel, so Valgrind is stopped and the frames
// before that message are kept.
PumpResult pump(int fd, int pidfd, pid_t pid, Slots& slots, trace::TraceWriter& writer, int zstd_level,
                uint32_t first_sequence) {
  struct Frame {
    uint64_t sequence;
    uint32_t slot;
    size_t size;
  };
  std::mutex mutex;
  std::condition_variable cv;
  std::deque<Frame> full;                                            // not yet compressed
  std::map<uint64_t, std::pair<std::vector<uint8_t>, size_t>> ready;  // compressed, by sequence
  uint64_t next_to_write = 0;
  bool eof = false;
  std::exception_ptr error;
  PumpResult result;
  bool final_message = false;
  // The stream's last bytes, across frames: the EXIT record is 24 bytes.
  constexpr size_t kExitRecordBytes = OMNI_WORD_BYTES + 16;
  std::vector<uint8_t> tail;
  // On any failure (a full disk, say) the recording cannot go on: stop
  // Valgrind, which would otherwise wait forever for a free slot while the
  // reader waits for its next message.
  auto record_error = [&] {
    std::lock_guard lock(mutex);
    if (!error) error = std::current_exception();
    eof = true;
    pidfd_send_signal(pidfd, SIGKILL, nullptr, 0);
    cv.notify_all();
  };

  // Takes the whole messages at the front of `pending`; false once reading
  // is over (the final message, or one that failed its check).
  uint32_t expected = first_sequence;
  uint64_t frames = 0;
  auto take = [&](std::vector<uint8_t>& pending) {
    size_t used = 0;
    bool go_on = true;
    while (go_on && pending.size() - used >= OMNI_MSG_BYTES) {
      const uint8_t* m = pending.data() + used;
      used += OMNI_MSG_BYTES;
      uint32_t kind = omni_load_le32(m), slot = omni_load_le32(m + 4), bytes = omni_load_le32(m + 8),
               sequence = omni_load_le32(m + 12);
      uint64_t mac = omni_load_le64(m + 16);
      if (sequence != expected || mac != omni_message_mac(slots.key(), kind, slot, bytes, sequence)) {
        result.tampered = fmt::format("message {} failed its check", expected);
        go_on = false;
        break;
      }
      ++expected;
      if (kind == OMNI_MSG_HELLO && sequence == 0 && slot == 0 && bytes == 0) {
        slots.start(fd);
        continue;
      }
      if (kind == OMNI_MSG_FINAL && slot == 0 && bytes == 0) {
        final_message = true;
        go_on = false;
        break;
      }
      if (kind != OMNI_MSG_SLOT || slot >= slots.usable() || bytes > Slots::kBytes)
        fail("the recorder sent a malformed message (kind {}, slot {}, {} bytes)", kind, slot, bytes);
      const uint8_t* data = slots.slot(slot);
      size_t size = bytes;
      tail.insert(tail.end(), data + size - std::min(size, kExitRecordBytes), data + size);
      if (tail.size() > kExitRecordBytes) tail.erase(tail.begin(), tail.end() - kExitRecordBytes);
      std::lock_guard lock(mutex);
      full.push_back({frames++, slot, size});
      cv.notify_all();
    }
    pending.erase(pending.begin(), pending.begin() + used);
    return go_on;
  };

  std::thread reader([&] {
    try {
      // The connection is read without blocking: its end is not only EOF,
      // since the program may have dup()ed the tool's descriptor and keep
      // that copy alive in a child of its own after Valgrind is gone. Once
      // Valgrind has exited, what is in the connection is drained and
      // reading ends.
      std::vector<uint8_t> pending;
      uint8_t buf[4096];
      bool child_gone = false;
      int quiet_checks = 0;
      for (;;) {
        if (!take(pending)) break;
        if (child_gone) break;
        pollfd p{fd, POLLIN, 0};
        int ready_fds = poll(&p, 1, 100);
        if (ready_fds < 0 && errno == EINTR) continue;
        if (ready_fds < 0) fail_errno("waiting for the recorder's stream");
        if (p.revents & (POLLIN | POLLHUP | POLLERR)) {
          ssize_t n = read(fd, buf, sizeof buf);
          if (n > 0) {
            pending.insert(pending.end(), buf, buf + n);
            quiet_checks = 0;
          } else if (n == 0) break;  // the connection closed: the image ended (without FINAL: killed)
          else if (errno == ECONNRESET) break;
          else if (errno != EINTR && errno != EAGAIN) fail_errno("reading the recorder's stream");
          continue;
        }
        // Nothing came for a while: the tool may be waiting for a free slot
        // that something else took (it would wait forever). It fills one
        // slot at a time, so two missing means one was taken; one missing
        // for 50 quiet checks in a row (5 s), while Valgrind is not stopped,
        // too: filling a slot is a 4 MiB copy. (A taken message is mostly
        // caught by the tool, as the next one it reads is out of sequence.)
        int64_t missing = slots.releases_missing(frames);
        if (missing >= 1 && poll(&p, 1, 0) == 0) {
          quiet_checks = missing == 1 && process_stopped(pid) ? 0 : quiet_checks + 1;
          if (missing >= 2 || quiet_checks >= 50) {
            result.tampered = fmt::format("{} free-slot message{} taken before the tool read {}, after {} slots",
                                          missing, missing == 1 ? "" : "s", missing == 1 ? "it" : "them", frames);
            break;
          }
        } else {
          quiet_checks = 0;
        }
        pollfd exited{pidfd, POLLIN, 0};
        if (poll(&exited, 1, 0) > 0) {
          ssize_t n;
          while ((n = read(fd, buf, sizeof buf)) > 0) pending.insert(pending.end(), buf, buf + n);
          child_gone = true;
        }
      }
      // The tool sends whole messages, each in one call, and a SIGKILL does
      // not cut a send in two: a part of one left at the end was written by
      // something else.
      if (result.tampered.empty() && !final_message && !pending.empty())
        result.tampered = fmt::format("{} stray bytes after message {}", pending.size(), expected);
      std::lock_guard lock(mutex);
      if (!result.tampered.empty()) pidfd_send_signal(pidfd, SIGKILL, nullptr, 0);
      eof = true;
      cv.notify_all();
    } catch (...) {
      record_error();
    }
  });

  auto compress = [&] {
    try {
      trace::FrameCompressor compressor(zstd_level);
      for (;;) {
        Frame frame;
        {
          std::unique_lock lock(mutex);
          cv.wait(lock, [&] { return !full.empty() || eof; });
          if (full.empty() || error) return;
          frame = full.front();
          full.pop_front();
        }
        std::vector<uint8_t> compressed = compressor.compress(slots.slot(frame.slot), frame.size);
        slots.release(frame.slot);
        std::lock_guard lock(mutex);
        ready.emplace(frame.sequence, std::make_pair(std::move(compressed), frame.size));
        for (auto it = ready.begin(); it != ready.end() && it->first == next_to_write;
             it = ready.erase(it)) {
          writer.write_compressed_stream(it->second.first, it->second.second);
          ++next_to_write;
        }
        writer.flush();
        cv.notify_all();
      }
    } catch (...) {
      record_error();
    }
  };
  unsigned workers = std::max(1u, std::thread::hardware_concurrency());
  std::vector<std::thread> compressors;
  for (unsigned i = 1; i < workers; ++i) compressors.emplace_back(compress);
  compress();
  for (auto& t : compressors) t.join();
  reader.join();
  if (error) std::rethrow_exception(error);
  uint64_t word = 0;
  if (tail.size() == kExitRecordBytes) std::memcpy(&word, tail.data(), sizeof word);
  result.complete = result.tampered.empty() && final_message && word == OMNI_EXT_WORD(OMNI_EXT_EXIT, 16);
  if (result.complete) {
    int32_t code;
    std::memcpy(&code, tail.data() + 16, sizeof code);
    result.exit_code = code;
  }
  return result;
}


// The lines of Valgrind's log (shared by every recorded process, each line
// prefixed "==PID==") that are `pid`'s, and those with no prefix.
std::string log_of_pid(const std::string& log, pid_t pid) {
  std::string mine;
  std::string tag1 = "==" + std::to_string(pid) + "==", tag2 = "--" + std::to_string(pid) + "--";
  size_t start = 0;
  while (start < log.size()) {
    size_t end = log.find('\n', start);
    if (end == std::string::npos) end = log.size();
    std::string_view line(log.data() + start, end - start);
    bool prefixed = line.size() > 4 && (line[0] == '=' || line[0] == '-') && line[1] == line[0];
    if (!prefixed || line.substr(0, tag1.size()) == tag1 || line.substr(0, tag2.size()) == tag2) {
      mine.append(line);
      mine += '\n';
    }
    start = end + 1;
  }
  return mine;
}

// What the tool of process `pid` said in the log when it found a free-slot
// message forged or taken; empty when it said nothing of the kind.
std::string tampered_in_log(const std::string& log, pid_t pid) {
  std::string own = log_of_pid(log, pid);
  size_t at = own.find(OMNI_TAMPERED_TEXT);
  if (at == std::string::npos) return {};
  size_t open = own.find(" (", at), end = own.find('\n', at);
  if (open != std::string::npos && open < end) return own.substr(open + 2, end - open - 3);
  return "a free-slot message failed its check";
}

// The fatal signal Valgrind reported for `pid` in its log ("Process
// terminating with default action of signal 11 (SIGSEGV)"); 0 when none.
int fatal_signal_in_log(const std::string& log, pid_t pid) {
  std::string own = log_of_pid(log, pid);
  const std::string phrase = "Process terminating with default action of signal ";
  size_t at = own.find(phrase);
  if (at == std::string::npos) return 0;
  return std::atoi(own.c_str() + at + phrase.size());
}

std::string new_recording_id();
std::string now_iso8601();

// One recorded image: a process from its start (the root) or its fork, with
// its connection, slots, trace file and the thread that pumps its stream.
// Owned by Tree; the pump thread alone touches `pumped` and `error` until
// `done` is set.
struct Image {
  uint32_t serial = 0;   // 1: the root; then in the order images said HELLO
  pid_t pid = 0, ppid = 0;
  uint32_t parent = 0;   // the parent image's serial; 0: the root, or a parent not recorded
  std::string dir;
  trace::KeyValues info;
  int conn = -1, pidfd = -1;
  Slots* slots = nullptr;
  std::unique_ptr<Slots> own_slots;
  trace::TraceWriter* writer = nullptr;
  std::unique_ptr<trace::TraceWriter> own_writer;
  std::thread thread;
  PumpResult pumped;
  std::exception_ptr error;
  std::atomic<bool> done{false};
  std::optional<int> wait_status;  // when this process reaped it (an orphan)
  bool retired = false;            // its stream ended and what it held is freed

  ~Image() {
    if (thread.joinable()) thread.join();
    if (conn >= 0) close(conn);
    if (pidfd >= 0) close(pidfd);
  }
};

// The recorded process tree: the root image and every forked child that
// connected with a valid HELLO_FORK, each in a trace directory of its own
// (DIR for the root, DIR/processes/SERIAL for the others). run() accepts
// connections until the root has exited, no descendant is left (this
// process is their subreaper) and every image's stream has ended.
class Tree {
 public:
  // `wait_descendants`: the recording also waits until no descendant of
  // the root is left (each forked one is recorded; without that, forked
  // children run unrecorded and are not waited for).
  Tree(const std::string& dir, const trace::KeyValues& root_info, const Key& key, const SeqPage& seq,
       int zstd_level, bool wait_descendants)
      : dir_(dir), root_info_(root_info), key_(key), seq_(seq), zstd_level_(zstd_level),
        wait_descendants_(wait_descendants) {}
  ~Tree() {
    kill_all();
    join_all();
  }

  Image& add_root(pid_t pid, int conn, Slots& slots, trace::TraceWriter& writer) {
    auto image = std::make_unique<Image>();
    image->serial = 1;
    image->pid = pid;
    image->dir = dir_;
    image->info = root_info_;
    image->conn = conn;
    image->pidfd = pidfd_open(pid, 0);
    if (image->pidfd < 0) fail_errno("pidfd_open of Valgrind's process");
    image->slots = &slots;
    image->writer = &writer;
    images_.push_back(std::move(image));
    start_pump(*images_.back(), 0);
    return *images_.back();
  }

  void run(ControlSocket& control, pid_t root_pid, int* root_status) {
    struct Pending {
      int fd;
      pid_t pid;
      std::vector<uint8_t> got;
      std::chrono::steady_clock::time_point since;
    };
    std::vector<Pending> pending;
    bool root_reaped = false;
    for (;;) {
      bool no_children = false;
      for (;;) {
        int st = 0;
        pid_t p = waitpid(wait_descendants_ ? -1 : root_pid, &st, WNOHANG);
        if (p < 0 && errno == EINTR) continue;
        if (p <= 0) {
          no_children = p < 0 && errno == ECHILD;
          break;
        }
        if (p == root_pid) {
          *root_status = st;
          root_reaped = true;
          g_child = 0;
        } else {
          for (auto it = images_.rbegin(); it != images_.rend(); ++it)
            if ((*it)->pid == p) {
              (*it)->wait_status = st;
              break;
            }
        }
      }
      bool pumps_done = true;
      for (auto& image : images_) {
        if (!image->done) pumps_done = false;
        else if (image->error) std::rethrow_exception(image->error);
        else if (!image->retired && image->serial != 1) retire(*image);
      }
      if (root_reaped && pumps_done && (no_children || !wait_descendants_)) break;

      std::vector<pollfd> polled{{control.fd(), POLLIN, 0}};
      for (const Pending& p : pending) polled.push_back({p.fd, POLLIN, 0});
      int n = poll(polled.data(), polled.size(), 50);
      if (n < 0 && errno != EINTR) fail_errno("waiting on the recorder's socket");
      auto now = std::chrono::steady_clock::now();
      for (size_t i = pending.size(); i-- > 0;) {
        Pending& p = pending[i];
        bool drop = false;
        if (polled[i + 1].revents & (POLLIN | POLLHUP | POLLERR)) {
          uint8_t buf[OMNI_MSG_BYTES];
          ssize_t got = recv(p.fd, buf, OMNI_MSG_BYTES - p.got.size(), MSG_DONTWAIT);
          if (got > 0) p.got.insert(p.got.end(), buf, buf + got);
          else if (got == 0 || (errno != EAGAIN && errno != EINTR)) drop = true;
        }
        if (!drop && p.got.size() == OMNI_MSG_BYTES) {
          const uint8_t* m = p.got.data();
          uint32_t kind = omni_load_le32(m), ppid = omni_load_le32(m + 4), bytes = omni_load_le32(m + 8),
                   sequence = omni_load_le32(m + 12);
          if ((kind == OMNI_MSG_HELLO_FORK || (kind == OMNI_MSG_HELLO_EXEC && ppid == 0)) && bytes == 0 &&
              sequence == 0 &&
              omni_load_le64(m + 16) == omni_message_mac(key_.bytes(), kind, ppid, bytes, sequence) &&
              accept_image(p.fd, p.pid, kind == OMNI_MSG_HELLO_EXEC, pid_t(ppid))) {
            pending.erase(pending.begin() + i);
            continue;
          }
          drop = true;
        }
        // A connection that says nothing valid within 10 s is not a tool's
        // (a forked tool says HELLO_FORK right after connecting).
        if (drop || now - p.since > std::chrono::seconds(10)) {
          control.refuse(p.fd, p.pid);
          pending.erase(pending.begin() + i);
        }
      }
      if (polled[0].revents & POLLIN) {
        pid_t pid = 0;
        int conn = control.accept_one(&pid);
        if (conn >= 0) pending.push_back({conn, pid, {}, now});
      }
    }
    for (const Pending& p : pending) control.refuse(p.fd, p.pid);
    join_all();
  }

  // An image whose stream has ended keeps only what its END needs: its
  // slots (16 MiB once written), connection, pidfd, trace descriptor and
  // compressor go, so that resident memory and descriptors follow the
  // processes alive at once, not all that ever ran (a make of thousands of
  // compiles).
  void retire(Image& image) {
    if (image.thread.joinable()) image.thread.join();
    image.own_slots.reset();
    image.slots = nullptr;
    if (image.conn >= 0) close(image.conn);
    if (image.pidfd >= 0) close(image.pidfd);
    image.conn = image.pidfd = -1;
    if (image.own_writer) image.own_writer->suspend();
    image.retired = true;
  }

  void kill_all() {
    for (auto& image : images_)
      if (image->pidfd >= 0 && !image->done) pidfd_send_signal(image->pidfd, SIGKILL, nullptr, 0);
  }
  void join_all() {
    for (auto& image : images_)
      if (image->thread.joinable()) image->thread.join();
  }

  // Ends every forked image's trace file (END: how it ended, as far as its
  // stream, Valgrind's log and this process's waitpid tell). Returns the
  // first forked image's tampering, if any.
  std::string finish_forked(const std::string& log) {
    std::string first_tampered;
    for (auto& image : images_) {
      if (image->serial == 1) continue;
      std::string tampered = image->pumped.tampered;
      if (tampered.empty()) tampered = tampered_in_log(log, image->pid);
      trace::KeyValues end;
      std::optional<int32_t> code = image->pumped.exit_code;
      int signal = 0;
      if (image->wait_status && WIFEXITED(*image->wait_status)) code = WEXITSTATUS(*image->wait_status);
      else if (image->wait_status && WIFSIGNALED(*image->wait_status)) signal = WTERMSIG(*image->wait_status);
      if (code && *code == -1) code.reset();
      if (!code && signal == 0) signal = fatal_signal_in_log(log, image->pid);
      if (signal != 0) end.emplace_back("signal", std::to_string(signal));
      else if (code) end.emplace_back("exit_code", std::to_string(*code & 0xff));
      bool complete = image->pumped.complete && tampered.empty();
      end.emplace_back("stream_complete", complete ? "1" : "0");
      if (!tampered.empty()) end.emplace_back("tampered", "1");
      end.emplace_back("pid", std::to_string(image->pid));
      end.emplace_back("finished", now_iso8601());
      image->writer->write_end(end);
      if (!tampered.empty() && first_tampered.empty())
        first_tampered = fmt::format("process {} (pid {}): {}", image->serial, image->pid, tampered);
    }
    return first_tampered;
  }

  uint64_t forked_raw_bytes() const {
    uint64_t total = 0;
    for (auto& image : images_)
      if (image->serial != 1) total += image->writer->raw_bytes();
    return total;
  }
  uint64_t forked_file_bytes() const {
    uint64_t total = 0;
    for (auto& image : images_)
      if (image->serial != 1) total += image->writer->file_bytes();
    return total;
  }
  size_t forked_count() const { return images_.empty() ? 0 : images_.size() - 1; }

 private:
  void start_pump(Image& image, uint32_t first_sequence) {
    image.thread = std::thread([this, &image, first_sequence] {
      try {
        image.pumped =
            pump(image.conn, image.pidfd, image.pid, *image.slots, *image.writer, zstd_level_, first_sequence);
      } catch (...) {
        image.error = std::current_exception();
        pidfd_send_signal(image.pidfd, SIGKILL, nullptr, 0);
      }
      image.done = true;
    });
  }

  // A forked child's tool connected and said HELLO_FORK (`ppid`: its
  // parent's pid), or the image a recorded one exec'd said HELLO_EXEC (the
  // same pid as the image it replaces): it waits for its slots. False when
  // its process is already gone.
  bool accept_image(int conn, pid_t pid, bool exec, pid_t ppid) {
    int pidfd = pidfd_open(pid, 0);
    if (pidfd < 0) return false;
    auto image = std::make_unique<Image>();
    image->serial = uint32_t(images_.size() + 1);
    image->pid = pid;
    image->pidfd = pidfd;
    image->conn = conn;
    const Image* parent = nullptr;
    for (auto it = images_.rbegin(); it != images_.rend() && !parent; ++it)
      if ((*it)->pid == (exec ? pid : ppid)) parent = it->get();
    image->ppid = exec ? (parent ? parent->ppid : 0) : ppid;
    image->parent = parent ? parent->serial : 0;
    if (images_.size() == 1) make_private_dir(dir_ + "/processes");
    image->dir = dir_ + "/processes/" + std::to_string(image->serial);
    make_private_dir(image->dir);
    image->own_writer = std::make_unique<trace::TraceWriter>(image->dir + "/" + kTraceFile, zstd_level_);
    image->writer = image->own_writer.get();
    // A fork runs the parent's program: its command line; an exec'd image
    // the one its Valgrind was started with (/proc/PID/cmdline: the
    // launcher, its options, then the program and its arguments). Then
    // where and whose it is.
    if (exec) {
      std::string cmdline = read_text("/proc/" + std::to_string(pid) + "/cmdline");
      std::vector<std::string> words;
      for (size_t at = 0; at < cmdline.size();) {
        size_t end = cmdline.find('\0', at);
        if (end == std::string::npos) end = cmdline.size();
        words.push_back(cmdline.substr(at, end - at));
        at = end + 1;
      }
      size_t first = 1;
      while (first < words.size() && !words[first].empty() && words[first][0] == '-') ++first;
      image->info.emplace_back("recorder", "valgrind");
      image->info.emplace_back("program", first < words.size() ? words[first] : std::string());
      for (size_t i = first; i < words.size(); ++i) image->info.emplace_back("arg", words[i]);
    } else {
      const trace::KeyValues& from = parent ? parent->info : root_info_;
      for (const auto& [k, v] : from)
        if (k == "recorder" || k == "program" || k == "arg") image->info.emplace_back(k, v);
    }
    char cwd[4096];
    ssize_t n = readlink(("/proc/" + std::to_string(pid) + "/cwd").c_str(), cwd, sizeof cwd - 1);
    image->info.emplace_back("cwd", n > 0 ? std::string(cwd, size_t(n)) : std::string());
    image->info.emplace_back("started", now_iso8601());
    image->info.emplace_back("recording_id", new_recording_id());
    image->info.emplace_back("process", std::to_string(image->serial));
    image->info.emplace_back("origin", exec ? "exec" : "fork");
    image->info.emplace_back("pid", std::to_string(pid));
    image->info.emplace_back("ppid", std::to_string(ppid));
    image->info.emplace_back("parent_process", std::to_string(image->parent));
    image->writer->write_info(image->info);
    // Beyond kCrowd processes alive at once, each new one fills fewer
    // slots: the recorder's memory grows by 8 MiB, not 16, per process
    // that a fork bomb or a wide `make -j` keeps alive.
    size_t alive = 0;
    for (const auto& other : images_) alive += other->serial != 1 && !other->retired;
    image->own_slots =
        std::make_unique<Slots>(key_, alive < Slots::kCrowd ? Slots::kForkedCount : Slots::kCrowdedCount);
    image->slots = image->own_slots.get();
    image->slots->start(conn, seq_.fd());
    images_.push_back(std::move(image));
    start_pump(*images_.back(), 1);
    return true;
  }

  std::string dir_;
  trace::KeyValues root_info_;
  const Key& key_;
  const SeqPage& seq_;
  int zstd_level_;
  bool wait_descendants_;
  std::vector<std::unique_ptr<Image>> images_;
};

// 128 random bits as 32 hex digits: names one recording, so that an index
// copied beside another trace is refused.
std::string new_recording_id() {
  unsigned char bytes[16];
  if (getentropy(bytes, sizeof bytes) != 0) fail_errno("cannot get random bytes for the recording id");
  static const char* kHex = "0123456789abcdef";
  std::string id;
  for (unsigned char b : bytes) {
    id += kHex[b >> 4];
    id += kHex[b & 15];
  }
  return id;
}

std::string now_iso8601() {
  char buf[64];
  std::time_t t = std::time(nullptr);
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&t));
  return buf;
}

}  // namespace

RecordResult record(const RecordOptions& options) {
  if (options.command.empty()) fail("nothing to record: give a program to run");
  std::string vg_lib = find_valgrind_lib(options);
  // Checked here for a clear message; Valgrind is given the name as typed,
  // which it finds in PATH the same way, so that the program's argv[0] (in
  // its messages, "xz: ...") is a native run's.
  // (A name that starts with '-' would read as an option: it goes as the
  // path found.)
  std::vector<std::string> command = options.command;
  std::string found = resolve_program(command[0]);
  if (command[0][0] == '-') command[0] = found;

  std::string dir = options.output_dir;
  if (dir.empty()) dir = new_trace_dir(options.command[0]);
  else make_private_dir(dir);

  auto control = std::make_unique<ControlSocket>(dir);

  trace::TraceWriter writer(dir + "/" + kTraceFile, options.zstd_level);
  trace::KeyValues info;
  // Processes other than the root (a forked child) are images of their own,
  // each a trace directory under DIR/processes (docs/design.md).
  char cwd[4096];
  info.emplace_back("recorder", "valgrind");
  info.emplace_back("program", options.command[0]);
  for (const auto& arg : options.command) info.emplace_back("arg", arg);
  info.emplace_back("cwd", getcwd(cwd, sizeof cwd) ? cwd : "");
  info.emplace_back("started", now_iso8601());
  // Binds the index built from this trace to it (docs/index-format.md).
  info.emplace_back("recording_id", new_recording_id());
  writer.write_info(info);

  Key key;
  SeqPage seq;
  Slots slots(key, Slots::kCount);
  // --vgdb=no: no gdbserver FIFOs in /tmp (a killed run would leave them behind).
  // Valgrind's log: a descriptor, not --log-file, since Valgrind leaves the
  // file it opens at the program's first free descriptor; the tool closes
  // this one (--omni-log-fd) before the program runs.
  std::string log_path = dir + "/" + kValgrindLog;
  int log_fd = open(log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW, 0600);  // inherited by Valgrind
  if (log_fd < 0) fail_errno("cannot create " + log_path);
  // A log left by an earlier recording in an -o folder keeps its mode: made private too.
  if (fchmod(log_fd, 0600) != 0) {
    close(log_fd);
    fail_errno("cannot make " + log_path + " private (chmod 0600)");
  }
  // --command-line-only=yes: Valgrind reads no ~/.valgrindrc, $VALGRIND_OPTS
  // or ./.valgrindrc, so that a user's settings for their own Valgrind runs
  // (--leak-check=full: an unknown option to this tool; --trace-children=yes:
  // the exec'd image's tool would start with descriptors that are gone)
  // never reach omni's. Being an option on the command line, it would also
  // reach an exec'd image.
  std::vector<std::string> args = {"valgrind", "--command-line-only=yes", "--tool=omni", "-q", "--vgdb=no",
                                   "--log-fd=" + std::to_string(log_fd), "--omni-log-fd=" + std::to_string(log_fd),
                                   "--omni-ctl=" + control->tool_path()};
  if (!options.follow_forks) args.push_back("--omni-follow-forks=no");
  if (options.follow_exec) {
    args.push_back("--trace-children=yes");
    args.push_back("--omni-follow-exec=yes");
    // Valgrind matches each pattern against the path given to execve.
    std::string patterns;
    for (const std::string& name : options.skip) {
      if (name.empty() || name.find(',') != std::string::npos)
        fail("--skip takes a program name or a pattern without ',' (got '{}')", name);
      patterns += (patterns.empty() ? "" : ",") + name;
      if (name.find('/') == std::string::npos) patterns += ",*/" + name;
    }
    if (!patterns.empty()) args.push_back("--trace-children-skip=" + patterns);
  }
  for (const std::string& option : slots.tool_options()) args.push_back(option);
  args.push_back(seq.tool_option());
  args.push_back(output_files_option());
  if (options.every_block) args.push_back("--omni-every-block=yes");
  args.push_back("--omni-snapshot-interval=" + std::to_string(options.snapshot_interval));
  args.insert(args.end(), command.begin(), command.end());

  std::string valgrind = find_valgrind();
  args[0] = valgrind;

  struct sigaction ignore{}, forward{}, old_int{}, old_quit{}, old_term{}, old_hup{}, old_pipe{};
  ignore.sa_handler = SIG_IGN;
  forward.sa_sigaction = forward_signal;
  forward.sa_flags = SA_SIGINFO | SA_RESTART;
  sigaction(SIGINT, &forward, &old_int);
  sigaction(SIGQUIT, &forward, &old_quit);
  sigaction(SIGTERM, &forward, &old_term);
  sigaction(SIGHUP, &forward, &old_hup);
  sigaction(SIGPIPE, &ignore, &old_pipe);
  auto restore = [&] {
    sigaction(SIGPIPE, &old_pipe, nullptr);
    sigaction(SIGINT, &old_int, nullptr);
    sigaction(SIGQUIT, &old_quit, nullptr);
    sigaction(SIGTERM, &old_term, nullptr);
    sigaction(SIGHUP, &old_hup, nullptr);
  };
  // Orphans of the recorded tree (a process whose parent exited first) are
  // reparented to this process, so the recording knows when the last
  // recorded process has ended (record_tree) and how.
  if (options.follow_forks || options.follow_exec) prctl(PR_SET_CHILD_SUBREAPER, 1);

  // Forked from the main thread, which lives until the recording is over:
  // PR_SET_PDEATHSIG fires when the forking thread ends.
  pid_t launcher = getpid();
  pid_t child = fork();
  if (child < 0) {
    close(log_fd);
    fail_errno("fork");
  }
  if (child == 0) {
    // The program must not outlive its recorder unrecorded: if omni dies
    // (even of SIGKILL), Valgrind and the program die with it. Checked
    // after setting it, in case omni died in between.
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != launcher) _exit(127);
    sigaction(SIGINT, &old_int, nullptr);
    sigaction(SIGQUIT, &old_quit, nullptr);
    sigaction(SIGTERM, &old_term, nullptr);
    sigaction(SIGHUP, &old_hup, nullptr);
    sigaction(SIGPIPE, &old_pipe, nullptr);  // an ignored SIGPIPE would survive exec
    setenv("VALGRIND_LIB", vg_lib.c_str(), 1);
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    execvp(valgrind.c_str(), argv.data());
    std::fprintf(stderr, "omni: error: cannot run valgrind: %s (install the valgrind package)\n",
                 std::strerror(errno));
    _exit(127);
  }
  g_child = child;
  slots.close_inherited();
  seq.close_inherited();
  close(log_fd);

  int status = 0;
  int fd = -1;
  std::exception_ptr open_error;
  try {
    fd = accept_tool(*control, child, &status);
  } catch (...) {
    open_error = std::current_exception();
    kill(child, SIGKILL);
    waitpid(child, &status, 0);
  }
  if (fd < 0) {
    // Valgrind stopped (or the socket failed) before the tool started:
    // nothing is left behind, and the log says why.
    control.reset();
    g_child = 0;
    restore();
    prctl(PR_SET_CHILD_SUBREAPER, 0);
    std::string log = read_text(log_path);
    unlink((dir + "/" + kTraceFile).c_str());
    unlink(log_path.c_str());
    rmdir(dir.c_str());
    if (open_error) std::rethrow_exception(open_error);
    int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    std::string reason = startup_reason(log);
    fail("valgrind exited (status {}) before the omni tool started{}", code,
         reason.empty() ? std::string("; see its message above") : ": " + reason);
  }
  Tree tree(dir, info, key, seq, options.zstd_level, options.follow_forks);
  Image& root = tree.add_root(child, fd, slots, writer);
  try {
    tree.run(*control, child, &status);
  } catch (...) {
    control.reset();
    tree.kill_all();
    tree.join_all();
    g_child = 0;
    restore();
    prctl(PR_SET_CHILD_SUBREAPER, 0);
    // A recording cut short (a full disk, say) keeps its frames, which
    // index as incomplete.
    throw;
  }
  g_child = 0;
  restore();
  prctl(PR_SET_CHILD_SUBREAPER, 0);
  std::string refused = control->refused_text();
  control.reset();
  std::string log = read_text(log_path);
  if (log.empty()) unlink(log_path.c_str());
  // The tool found a free-slot message forged or taken (it stopped, saying
  // so in its log), or this side found a forged message on the connection.
  std::string tampered = root.pumped.tampered;
  if (std::string found_in_log = tampered_in_log(log, child); tampered.empty()) tampered = found_in_log;
  bool stream_complete = root.pumped.complete && tampered.empty();

  trace::KeyValues end;
  int exit_status;
  if (WIFEXITED(status)) {
    exit_status = WEXITSTATUS(status);
    end.emplace_back("exit_code", std::to_string(exit_status));
  } else {
    exit_status = 128 + WTERMSIG(status);
    end.emplace_back("signal", std::to_string(WTERMSIG(status)));
  }
  end.emplace_back("stream_complete", stream_complete ? "1" : "0");
  if (!tampered.empty()) end.emplace_back("tampered", "1");
  end.emplace_back("pid", std::to_string(child));
  end.emplace_back("finished", now_iso8601());
  writer.write_end(end);
  std::string forked_tampered = tree.finish_forked(log);
  if (!tampered.empty())
    fail("{}, most likely by the program ({}): the recording of {} is cut there and Valgrind was stopped; "
         "what came before is kept in {}",
         OMNI_TAMPERED_TEXT, tampered, basename_of(options.command[0]), dir);
  if (!forked_tampered.empty())
    fail("{}, most likely by the program ({}); what came before is kept in {}", OMNI_TAMPERED_TEXT,
         forked_tampered, dir);
  // The tool stopped before the program's end and says why (an internal
  // error, a failed write): the recording is cut short, and that is an error
  // of omni's, not the program's exit status.
  if (!stream_complete) {
    if (std::string reason = failure_reason(log_of_pid(log, child)); !reason.empty())
      fail("the recorder failed while recording {}: {}; the recording up to that point is kept in {}",
           basename_of(options.command[0]), reason, dir);
  }
  return {dir,    exit_status, writer.raw_bytes() + tree.forked_raw_bytes(),
          writer.file_bytes() + tree.forked_file_bytes(), WIFSIGNALED(status) ? WTERMSIG(status) : 0,
          refused,  tree.forked_count()};
}

}  // namespace omni::recorder
