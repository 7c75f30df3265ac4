// Processes a test starts in the background (omni record to be signalled,
// a native run to compare with), their output going to files: shared by the
// tests of interruption and of the recorder's hardening.
#pragma once

#include <fcntl.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "omni_fixture.h"

namespace omni::test {

// A process started in the background, its stdout and stderr going to files:
// in a process group of its own, or (with a terminal) as the leader of a new
// session whose controlling terminal is that pty.
struct Background {
  using Clock = std::chrono::steady_clock;
  pid_t pid = -1;
  fs::path out, err;
  bool reaped = false;
  int status = -1;  // exit code, or 128 + signal

  Background() = default;
  Background(const Background&) = delete;
  Background& operator=(const Background&) = delete;
  ~Background() {
    if (pid > 0) kill(-pid, SIGKILL);  // what the program left behind too
    if (pid > 0 && !reaped) {
      kill(pid, SIGKILL);
      int st;
      waitpid(pid, &st, 0);
    }
  }

  bool poll() {
    if (reaped) return true;
    int st = 0;
    if (waitpid(pid, &st, WNOHANG) != pid) return false;
    reaped = true;
    status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    return true;
  }

  bool wait(double timeout_s) {
    auto deadline = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                       std::chrono::duration<double>(timeout_s));
    while (!poll()) {
      if (Clock::now() >= deadline) return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return true;
  }

  std::string stdout_text() const { return fs::exists(out) ? read_file(out) : ""; }
  std::string describe() const {
    std::ostringstream o;
    o << "status " << status << "\n--- stdout ---\n" << stdout_text() << "\n--- stderr ---\n"
      << (fs::exists(err) ? read_file(err) : "");
    return o.str();
  }

  // Waits until stdout holds `text` (REQUIREs it within 60 s, still running).
  void wait_for_output(const std::string& text) {
    auto t0 = Clock::now();
    while (stdout_text().find(text) == std::string::npos) {
      REQUIRE_MESSAGE(!poll(), "ended before printing " << text << ": " << describe());
      REQUIRE_MESSAGE(Clock::now() - t0 < std::chrono::seconds(60),
                      "no " << text << " within 60 s: " << describe());
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }
};

// Runs argv in the background with SIGINT and SIGQUIT at their defaults
// (whatever this process has), stdin /dev/null or, with `pty_slave`, the
// controlling terminal of a new session.
inline void start(Background& b, std::vector<std::string> argv, const fs::path& logs,
           const std::string& pty_slave = "") {
  b.out = logs / "bg.out";
  b.err = logs / "bg.err";
  std::vector<char*> cargv;
  for (auto& s : argv) cargv.push_back(s.data());
  cargv.push_back(nullptr);
  std::string out = b.out.string(), err = b.err.string();
  pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    int in;
    if (pty_slave.empty()) {
      setpgid(0, 0);
      in = open("/dev/null", O_RDONLY);
    } else {
      setsid();
      in = open(pty_slave.c_str(), O_RDWR);
      if (in >= 0 && ioctl(in, TIOCSCTTY, 0) != 0) _exit(125);
    }
    int o = open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    int e = open(err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (in < 0 || o < 0 || e < 0) _exit(126);
    dup2(in, 0);
    dup2(o, 1);
    dup2(e, 2);
    for (int sig : {SIGPIPE, SIGTERM, SIGINT, SIGQUIT}) signal(sig, SIG_DFL);
    execv(cargv[0], cargv.data());
    _exit(127);
  }
  if (pty_slave.empty()) setpgid(pid, pid);
  b.pid = pid;
}

inline std::vector<pid_t> children_of(pid_t pid) {
  std::vector<pid_t> kids;
  std::error_code ec;
  for (const auto& t : fs::directory_iterator(fs::path("/proc") / std::to_string(pid) / "task", ec)) {
    std::ifstream in(t.path() / "children");
    for (long k; in >> k;) kids.push_back(static_cast<pid_t>(k));
  }
  return kids;
}

// The valgrind process of `omni record` (its only child).
inline pid_t recorder_child(pid_t omni_pid) {
  std::vector<pid_t> kids;
  for (int tries = 0; tries < 200 && kids.empty(); ++tries) {
    kids = children_of(omni_pid);
    if (kids.empty()) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  REQUIRE(kids.size() == 1);
  return kids[0];
}

}  // namespace omni::test
