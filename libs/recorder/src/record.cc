#include "omni/recorder/record.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <linux/sockios.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <condition_variable>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <thread>
#include <chrono>
#include <cstring>
#include <ctime>

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

// SIGTERM and SIGHUP are passed on to the program. SIGINT and SIGQUIT only
// when a process sent them to omni (kill(1), si_code SI_USER/SI_QUEUE/
// SI_TKILL): one from the terminal (SI_KERNEL) went to the whole foreground
// process group, the program included, and passing it on would deliver it
// twice.
void forward_signal(int sig, siginfo_t* info, void*) {
  if ((sig == SIGINT || sig == SIGQUIT) && info && info->si_code == SI_KERNEL) return;
  if (g_child > 0) kill(g_child, sig);
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
    tool_path_ = dir + "/" + kName;
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

// The slots the tool fills (shared memory) and the key that authenticates
// the messages of both directions on the tool's connection
// (tool/omni_channel.h). The tool maps the slots and reads the key through
// descriptors it inherits; free slot numbers go to it on the connection.
class Slots {
 public:
  static constexpr uint32_t kCount = 16;
  static constexpr size_t kBytes = kFrameBytes;

  Slots() {
    if (getentropy(key_, sizeof key_) != 0) fail_errno("cannot get random bytes for the recorder's key");
    shm_fd_ = memfd_create("omni-stream", 0);  // inherited by Valgrind
    if (shm_fd_ < 0) fail_errno("memfd_create");
    if (ftruncate(shm_fd_, kCount * kBytes) != 0) fail_errno("sizing the stream slots");
    void* base = mmap(nullptr, kCount * kBytes, PROT_READ, MAP_SHARED, shm_fd_, 0);
    if (base == MAP_FAILED) fail_errno("mapping the stream slots");
    base_ = static_cast<const uint8_t*>(base);
    int fds[2];
    // The key goes through a pipe the tool reads and closes before the
    // program runs: never in argv or the environment, which the program
    // (and /proc/PID/cmdline, to other users) can read.
    if (pipe2(fds, O_CLOEXEC) != 0) fail_errno("pipe");
    key_read_ = fds[0];
    fcntl(key_read_, F_SETFD, 0);  // inherited by Valgrind
    ssize_t put = write(fds[1], key_, sizeof key_);
    close(fds[1]);
    if (put != ssize_t(sizeof key_)) fail_errno("passing the recorder's key");
  }
  ~Slots() {
    close_inherited();
    munmap(const_cast<uint8_t*>(base_), kCount * kBytes);
    explicit_bzero(key_, sizeof key_);
  }
  Slots(const Slots&) = delete;
  Slots& operator=(const Slots&) = delete;

  // Valgrind's options for these slots.
  std::vector<std::string> tool_options() const {
    return {"--omni-shm-fd=" + std::to_string(shm_fd_), "--omni-key-fd=" + std::to_string(key_read_),
            "--omni-slots=" + std::to_string(kCount),
            "--omni-buffer-kb=" + std::to_string(kBytes >> 10)};
  }
  // Once Valgrind runs, only it needs these.
  void close_inherited() {
    if (shm_fd_ >= 0) close(shm_fd_);
    if (key_read_ >= 0) close(key_read_);
    shm_fd_ = key_read_ = -1;
  }
  // The tool's connection, once its HELLO has passed its check: every slot
  // is free.
  void start(int connection) {
    connection_ = connection;
    for (uint32_t slot = 0; slot < kCount; ++slot) release(slot);
  }
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
  void release(uint32_t slot) {
    std::lock_guard lock(release_mutex_);
    uint8_t message[OMNI_RELEASE_BYTES];
    omni_encode_release(message, key_, slot, release_sequence_++);
    size_t sent = 0;
    while (sent < sizeof message) {
      ssize_t n = send(connection_, message + sent, sizeof message - sent, MSG_NOSIGNAL);
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
  int shm_fd_ = -1, key_read_ = -1, connection_ = -1;
  const uint8_t* base_ = nullptr;
  uint8_t key_[OMNI_CHANNEL_KEY_BYTES];
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
};

// Moves the stream into the trace file. The tool fills shared-memory slots and
// names each full one on its connection `fd` (tool/omni_channel.h), whose
// first message, HELLO, must pass its check before any slot is handed out;
// further connections to the socket are refused meanwhile. A reader thread
// checks and takes those messages, one compressor per core (the program
// mostly waits while compression runs) compresses straight from the slot,
// hands the slot back, and whichever finishes writes every frame that is
// next in stream order. The stream is complete when the tool's final message
// came after a stream ending with its EXIT record (the tool finishes even
// when the program crashes; not when Valgrind itself is SIGKILLed). A
// message that fails its check ends the reading: the program (or something
// it started) wrote into the channel, so Valgrind is stopped and the frames
// before that message are kept.
PumpResult pump(int fd, ControlSocket& control, pid_t child, Slots& slots, trace::TraceWriter& writer,
               int zstd_level) {
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
    if (g_child > 0) kill(g_child, SIGKILL);
    cv.notify_all();
  };

  // Takes the whole messages at the front of `pending`; false once reading
  // is over (the final message, or one that failed its check).
  uint32_t expected = 0;
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
      if (kind != OMNI_MSG_SLOT || slot >= Slots::kCount || bytes > Slots::kBytes)
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
        pollfd polled[2] = {{fd, POLLIN, 0}, {control.fd(), POLLIN, 0}};
        pollfd& p = polled[0];
        int ready_fds = poll(polled, 2, 100);
        if (ready_fds < 0 && errno == EINTR) continue;
        if (ready_fds < 0) fail_errno("waiting for the recorder's stream");
        if (polled[1].revents & POLLIN) {
          pid_t pid = 0;
          int conn = control.accept_one(&pid);
          if (conn >= 0) control.refuse(conn, pid);
          if (!(p.revents & (POLLIN | POLLHUP | POLLERR))) continue;
        }
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
          quiet_checks = missing == 1 && process_stopped(child) ? 0 : quiet_checks + 1;
          if (missing >= 2 || quiet_checks >= 50) {
            result.tampered = fmt::format("{} free-slot message{} taken before the tool read {}, after {} slots",
                                          missing, missing == 1 ? "" : "s", missing == 1 ? "it" : "them", frames);
            break;
          }
        } else {
          quiet_checks = 0;
        }
        siginfo_t info{};
        if (waitid(P_PID, child, &info, WEXITED | WNOHANG | WNOWAIT) == 0 && info.si_pid == child) {
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
      if (!result.tampered.empty() && g_child > 0) kill(g_child, SIGKILL);
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
  return result;
}


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
  char cwd[4096];
  info.emplace_back("recorder", "valgrind");
  info.emplace_back("program", options.command[0]);
  for (const auto& arg : options.command) info.emplace_back("arg", arg);
  info.emplace_back("cwd", getcwd(cwd, sizeof cwd) ? cwd : "");
  info.emplace_back("started", now_iso8601());
  // Binds the index built from this trace to it (docs/index-format.md).
  info.emplace_back("recording_id", new_recording_id());
  writer.write_info(info);

  Slots slots;
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
  for (const std::string& option : slots.tool_options()) args.push_back(option);
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
  close(log_fd);

  int status = 0;
  bool stream_complete = false;
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
  PumpResult pumped;
  try {
    pumped = pump(fd, *control, child, slots, writer, options.zstd_level);
    close(fd);
    fd = -1;
    while (waitpid(child, &status, 0) < 0 && errno == EINTR) {
    }
  } catch (...) {
    control.reset();
    if (fd >= 0) close(fd);
    kill(child, SIGKILL);
    waitpid(child, &status, 0);
    g_child = 0;
    restore();
    // A recording cut short (a full disk, say) keeps its frames, which
    // index as incomplete.
    throw;
  }
  g_child = 0;
  restore();
  std::string refused = control->refused_text();
  control.reset();
  std::string log = read_text(log_path);
  if (log.empty()) unlink(log_path.c_str());
  // The tool found a free-slot message forged or taken (it stopped, saying
  // so in its log), or this side found a forged message on the connection.
  std::string tampered = pumped.tampered;
  if (size_t at = log.find(OMNI_TAMPERED_TEXT); tampered.empty() && at != std::string::npos) {
    size_t open = log.find(" (", at), end = log.find('\n', at);
    if (open != std::string::npos && open < end) tampered = log.substr(open + 2, end - open - 3);
    else tampered = "a free-slot message failed its check";
  }
  stream_complete = pumped.complete && tampered.empty();

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
  end.emplace_back("finished", now_iso8601());
  writer.write_end(end);
  if (!tampered.empty())
    fail("{}, most likely by the program ({}): the recording of {} is cut there and Valgrind was stopped; "
         "what came before is kept in {}",
         OMNI_TAMPERED_TEXT, tampered, basename_of(options.command[0]), dir);
  // The tool stopped before the program's end and says why (an internal
  // error, a failed write): the recording is cut short, and that is an error
  // of omni's, not the program's exit status.
  if (!stream_complete) {
    if (std::string reason = failure_reason(log); !reason.empty())
      fail("the recorder failed while recording {}: {}; the recording up to that point is kept in {}",
           basename_of(options.command[0]), reason, dir);
  }
  return {dir,    exit_status, writer.raw_bytes(), writer.file_bytes(), WIFSIGNALED(status) ? WTERMSIG(status) : 0,
          refused};
}

}  // namespace omni::recorder
