#include "omni/recorder/record.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
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

namespace omni::recorder {

namespace {

// Read size per STREAM frame: large enough for zstd to find redundancy,
// small enough that a killed recorder loses little.
constexpr size_t kFrameBytes = 4 << 20;

volatile sig_atomic_t g_child = 0;

void forward_signal(int sig) {
  if (g_child > 0) kill(g_child, sig);
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

// Opens the FIFO for reading without blocking forever if Valgrind never
// starts: polls the child while waiting for the writer.
int open_fifo(const std::string& fifo, pid_t child) {
  int fd = open(fifo.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) fail_errno("cannot open " + fifo);
  // A FIFO opened without a writer reads EOF; wait until the tool has it open.
  for (;;) {
    struct stat st;
    if (fstat(fd, &st) == 0) {
      // There is no direct "writer present" test; try a zero-timeout poll,
      // which reports POLLIN once data (the preamble) has arrived.
      pollfd p{fd, POLLIN, 0};
      if (poll(&p, 1, 50) > 0 && (p.revents & POLLIN)) break;
    }
    int status;
    pid_t done = waitpid(child, &status, WNOHANG);
    if (done == child) {
      close(fd);
      errno = 0;
      int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      fail("valgrind exited (status {}) before the omni tool started; see its message above", code);
    }
  }
  int flags = fcntl(fd, F_GETFL);
  fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);
  fcntl(fd, F_SETPIPE_SZ, 1 << 20);
  return fd;
}

// Moves the stream from the FIFO into the trace file. A reader thread keeps
// the FIFO drained, so the recorded program does not stall on compression it
// need not wait for; one compressor per core (the program mostly waits while
// compression runs) compresses frames; whichever finishes writes every frame
// that is next in stream order. kQueuedFrames bounds the memory in between.
// Returns whether the stream ended with the tool's EXIT record, i.e. the tool
// finished (it does even when the program crashes; not when Valgrind itself
// is SIGKILLed).
bool pump(int fd, trace::TraceWriter& writer, int zstd_level) {
  constexpr size_t kQueuedFrames = 16;
  struct Frame {
    uint64_t sequence;
    std::unique_ptr<uint8_t[]> bytes;  // kFrameBytes, reused
    size_t size;
  };
  std::mutex mutex;
  std::condition_variable cv;
  std::deque<Frame> full;                          // read, not yet compressed
  std::vector<std::unique_ptr<uint8_t[]>> spare;   // buffers to reuse
  std::map<uint64_t, std::pair<std::vector<uint8_t>, size_t>> ready;  // compressed, by sequence
  size_t in_flight = 0;  // frames read and not yet written
  uint64_t next_to_write = 0;
  bool eof = false;
  std::exception_ptr error;
  // The stream's last bytes, across buffers: the EXIT record is 24 bytes.
  constexpr size_t kExitRecordBytes = OMNI_WORD_BYTES + 16;
  std::vector<uint8_t> tail;
  auto record_error = [&] {
    std::lock_guard lock(mutex);
    if (!error) error = std::current_exception();
    eof = true;
    cv.notify_all();
  };

  std::thread reader([&] {
    try {
      for (uint64_t sequence = 0;;) {
        std::unique_ptr<uint8_t[]> buffer;
        {
          std::unique_lock lock(mutex);
          cv.wait(lock, [&] { return in_flight < kQueuedFrames || error; });
          if (error) return;
          if (!spare.empty()) {
            buffer = std::move(spare.back());
            spare.pop_back();
          }
        }
        if (!buffer) buffer = std::make_unique_for_overwrite<uint8_t[]>(kFrameBytes);
        size_t filled = 0;
        bool done = false;
        while (filled < kFrameBytes) {
          ssize_t n = read(fd, buffer.get() + filled, kFrameBytes - filled);
          if (n < 0 && errno == EINTR) continue;
          if (n < 0) fail_errno("reading the recorder's stream");
          if (n == 0) {
            done = true;
            break;
          }
          filled += n;
          // Hand over what has come once the pipe runs dry, so a slow
          // program's events still reach the disk promptly.
          if (filled >= (256u << 10)) {
            pollfd p{fd, POLLIN, 0};
            if (poll(&p, 1, 0) == 0) break;
          }
        }
        tail.insert(tail.end(), buffer.get() + filled - std::min(filled, kExitRecordBytes),
                    buffer.get() + filled);
        if (tail.size() > kExitRecordBytes) tail.erase(tail.begin(), tail.end() - kExitRecordBytes);
        std::lock_guard lock(mutex);
        if (filled) {
          full.push_back({sequence++, std::move(buffer), filled});
          ++in_flight;
        }
        if (done) eof = true;
        cv.notify_all();
        if (done) return;
      }
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
          frame = std::move(full.front());
          full.pop_front();
        }
        std::vector<uint8_t> compressed = compressor.compress(frame.bytes.get(), frame.size);
        std::lock_guard lock(mutex);
        spare.push_back(std::move(frame.bytes));
        ready.emplace(frame.sequence, std::make_pair(std::move(compressed), frame.size));
        for (auto it = ready.begin(); it != ready.end() && it->first == next_to_write;
             it = ready.erase(it)) {
          writer.write_compressed_stream(it->second.first, it->second.second);
          ++next_to_write;
          --in_flight;
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
  return word == OMNI_EXT_WORD(OMNI_EXT_EXIT, 16);
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
  std::vector<std::string> command = options.command;
  command[0] = resolve_program(command[0]);

  std::string dir = options.output_dir;
  if (dir.empty()) dir = new_trace_dir(options.command[0]);
  else make_private_dir(dir);

  std::string fifo = dir + "/stream.fifo";
  unlink(fifo.c_str());
  if (mkfifo(fifo.c_str(), 0600) != 0) fail_errno("cannot create " + fifo);

  trace::TraceWriter writer(dir + "/" + kTraceFile, options.zstd_level);
  trace::KeyValues info;
  char cwd[4096];
  info.emplace_back("recorder", "valgrind");
  info.emplace_back("program", options.command[0]);
  for (const auto& arg : options.command) info.emplace_back("arg", arg);
  info.emplace_back("cwd", getcwd(cwd, sizeof cwd) ? cwd : "");
  info.emplace_back("started", now_iso8601());
  writer.write_info(info);

  std::vector<std::string> args = {"valgrind", "--tool=omni", "-q", "--omni-out=" + fifo};
  args.insert(args.end(), command.begin(), command.end());

  struct sigaction ignore{}, forward{}, old_int{}, old_quit{}, old_term{}, old_hup{};
  ignore.sa_handler = SIG_IGN;
  forward.sa_handler = forward_signal;
  sigaction(SIGINT, &ignore, &old_int);
  sigaction(SIGQUIT, &ignore, &old_quit);
  sigaction(SIGTERM, &forward, &old_term);
  sigaction(SIGHUP, &forward, &old_hup);
  auto restore = [&] {
    sigaction(SIGINT, &old_int, nullptr);
    sigaction(SIGQUIT, &old_quit, nullptr);
    sigaction(SIGTERM, &old_term, nullptr);
    sigaction(SIGHUP, &old_hup, nullptr);
  };

  pid_t child = fork();
  if (child < 0) fail_errno("fork");
  if (child == 0) {
    sigaction(SIGINT, &old_int, nullptr);
    sigaction(SIGQUIT, &old_quit, nullptr);
    sigaction(SIGTERM, &old_term, nullptr);
    sigaction(SIGHUP, &old_hup, nullptr);
    setenv("VALGRIND_LIB", vg_lib.c_str(), 1);
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    execvp("valgrind", argv.data());
    std::fprintf(stderr, "omni: error: cannot run valgrind: %s (install the valgrind package)\n",
                 std::strerror(errno));
    _exit(127);
  }
  g_child = child;

  int status = 0;
  bool stream_complete = false;
  try {
    int fd = open_fifo(fifo, child);
    unlink(fifo.c_str());
    stream_complete = pump(fd, writer, options.zstd_level);
    close(fd);
    while (waitpid(child, &status, 0) < 0 && errno == EINTR) {
    }
  } catch (...) {
    unlink(fifo.c_str());
    kill(child, SIGKILL);
    waitpid(child, &status, 0);
    restore();
    // Nothing was recorded: leave no trace directory behind.
    unlink((dir + "/" + kTraceFile).c_str());
    rmdir(dir.c_str());
    throw;
  }
  g_child = 0;
  restore();

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
  end.emplace_back("finished", now_iso8601());
  writer.write_end(end);
  return {dir, exit_status, writer.raw_bytes(), writer.file_bytes()};
}

}  // namespace omni::recorder
