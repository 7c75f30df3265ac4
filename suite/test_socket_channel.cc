// The recorder's socket (docs/design.md, "The recorder's channels"): omni
// record listens on DIR/control.sock, a 0600 socket in the 0700 trace
// directory that is gone when the recording ends, and takes the one
// connection Valgrind's process makes (SO_PEERCRED); any other process that
// connects, with a forged hello or not, is refused and the recording goes on
// undisturbed. The truth: lstat of the socket, /proc of the Valgrind process,
// what the connection gives this process, and a native run of the same
// program sent the same signal (its output and exit status).
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <poll.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <thread>

#include "../libs/recorder/src/tool/omni_channel.h"
#include "background.h"
#include "omni_fixture.h"

using namespace omni::test;

namespace {

using Clock = std::chrono::steady_clock;

// What Valgrind's process holds that names a socket or a FIFO.
std::vector<std::string> channel_descriptors(pid_t pid) {
  std::vector<std::string> found;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(fs::path("/proc") / std::to_string(pid) / "fd", ec)) {
    std::error_code lec;
    fs::path target = fs::read_symlink(e.path(), lec);
    if (lec) continue;
    std::string t = target.string();
    struct stat st {};
    bool fifo = ::stat(e.path().c_str(), &st) == 0 && S_ISFIFO(st.st_mode) && t.rfind("pipe:", 0) != 0;
    if (t.rfind("socket:", 0) == 0 || fifo) found.push_back(e.path().filename().string() + " -> " + t);
  }
  return found;
}

// Connects to `path`, sends a hello and a slot message MACed with a key that
// is not the recording's, and returns how many bytes came back before the
// connection closed (-1: it was still open after 20 s).
long forge_and_wait_for_close(const fs::path& path) {
  int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  REQUIRE(s >= 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  REQUIRE(path.string().size() < sizeof addr.sun_path);
  std::memcpy(addr.sun_path, path.c_str(), path.string().size());
  REQUIRE(connect(s, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  omni_u8 key[OMNI_CHANNEL_KEY_BYTES] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
  omni_u8 msg[2 * OMNI_MSG_BYTES];
  omni_encode_message(msg, key, OMNI_MSG_HELLO, 0, 0, 0);
  omni_encode_message(msg + OMNI_MSG_BYTES, key, OMNI_MSG_SLOT, 0, 4096, 1);
  // The recorder may close the connection before reading it all.
  (void)send(s, msg, sizeof msg, MSG_NOSIGNAL);
  long got = 0;
  auto t0 = Clock::now();
  while (Clock::now() - t0 < std::chrono::seconds(20)) {
    pollfd p{s, POLLIN, 0};
    if (poll(&p, 1, 100) <= 0) continue;
    char buf[256];
    ssize_t n = recv(s, buf, sizeof buf, MSG_DONTWAIT);
    if (n > 0) {
      got += n;
      continue;
    }
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
      close(s);
      return got;
    }
  }
  close(s);
  return -1;
}

bool json_bool(Object& o, const std::string& key, bool value) {
  return o.count(key) && o[key].is_bool() && o[key].b == value;
}

}  // namespace

TEST_CASE("socket channel: the socket is private, one per recording, refuses other processes and is gone at the end") {
  TempDir t;
  std::vector<std::string> program = {subject("wait_signal").string(), "120"};
  // The truth: the program run natively and sent SIGTERM once it is ready.
  fs::create_directories(t / "native");
  Background native;
  start(native, program, t / "native");
  native.wait_for_output("ready\n");
  REQUIRE(kill(native.pid, SIGTERM) == 0);
  REQUIRE(native.wait(30));
  REQUIRE(native.status == 128 + SIGTERM);

  fs::path dir = t / "trace";
  fs::path sock = dir / "control.sock";
  std::vector<std::string> argv = {bin("omni").string(), "record", "-o", dir.string(), "--"};
  argv.insert(argv.end(), program.begin(), program.end());
  fs::create_directories(t / "rec");
  Background rec;
  start(rec, argv, t / "rec");
  rec.wait_for_output("ready\n");
  pid_t vg = recorder_child(rec.pid);

  // Private: a socket (not a link), ours, 0600, in a 0700 directory.
  struct stat st {};
  REQUIRE(::lstat(sock.c_str(), &st) == 0);
  CHECK(S_ISSOCK(st.st_mode));
  CHECK((st.st_mode & 07777) == 0600);
  CHECK(st.st_uid == getuid());
  CHECK(file_mode(dir) == 0700);
  // The tool holds one connection and nothing else of the channel's: no
  // FIFO, no second socket (Valgrind has room for few descriptors).
  auto held = channel_descriptors(vg);
  std::string held_text;
  for (const auto& h : held) held_text += h + "; ";
  INFO("valgrind's sockets and FIFOs: ", held_text);
  CHECK(held.size() == 1);
  if (!held.empty()) CHECK(held[0].find("socket:") != std::string::npos);

  // Another process (this one) connects and forges a hello: it gets nothing
  // and its connection is closed, twice over.
  CHECK(forge_and_wait_for_close(sock) == 0);
  CHECK(forge_and_wait_for_close(sock) == 0);
  CHECK_MESSAGE(!rec.poll(), "omni record ended after a foreign connection: " << rec.describe());

  REQUIRE(kill(rec.pid, SIGTERM) == 0);  // passed on to the program
  REQUIRE_MESSAGE(rec.wait(60), "omni record still runs 60 s after SIGTERM: " << rec.describe());
  INFO("omni record: ", rec.describe());
  CHECK(rec.status == native.status);
  CHECK(rec.stdout_text() == native.stdout_text());
  CHECK(read_file(rec.err).empty());
  CHECK_FALSE(fs::exists(fs::symlink_status(sock)));
  for (const auto& e : fs::directory_iterator(dir)) CHECK_FALSE(fs::is_socket(fs::symlink_status(e.path())));

  Object o = dump_json(dir);
  CHECK(json_bool(o, "recording_complete", true));
  CHECK_FALSE(o.count("tampered"));
  CHECK((o.count("signal") && o["signal"].is_int() && o["signal"].i == SIGTERM));
  RunResult ix = run_omni({"index", dir.string()});
  INFO("omni index: ", ix.describe());
  REQUIRE(ix.status == 0);
  CHECK(ix.err.find("cut short") == std::string::npos);
  RunResult out = run_omni({"query", dir.string(), "--output"});
  INFO("omni query --output: ", out.describe());
  REQUIRE(out.status == 0);
  CHECK(out.err.empty());
  auto lines = parse_json_lines(out.out);
  std::string text;
  for (auto& l : lines) text += l["text"].s;
  CHECK(text == native.stdout_text());
}

TEST_CASE("socket channel: a Valgrind killed mid-recording is cut short, and the socket is still removed") {
  TempDir t;
  fs::path dir = t / "trace";
  Background rec;
  start(rec, {bin("omni").string(), "record", "-o", dir.string(), "--", subject("wait_signal").string(), "120"},
        t.path());
  rec.wait_for_output("ready\n");
  REQUIRE(fs::is_socket(fs::symlink_status(dir / "control.sock")));
  pid_t vg = recorder_child(rec.pid);
  REQUIRE(kill(vg, SIGKILL) == 0);  // the connection closes without FINAL
  REQUIRE_MESSAGE(rec.wait(30), "omni record still runs 30 s after Valgrind died: " << rec.describe());
  INFO("omni record: ", rec.describe());
  CHECK(rec.status == 128 + SIGKILL);
  CHECK_FALSE(fs::exists(fs::symlink_status(dir / "control.sock")));
  Object o = dump_json(dir);
  CHECK(json_bool(o, "recording_complete", false));
  CHECK_FALSE(o.count("tampered"));
}

TEST_CASE("socket channel: a program that reads the free-slot messages off the tool's connection is caught, not waited on") {
  // Natively there is no recorder's socket: nothing to steal.
  RunResult native = run({subject("steal_releases").string()});
  REQUIRE(native.status == 0);
  REQUIRE(native.out == "stole 0\nafter\n");

  TempDir t;
  fs::path dir = t / "trace";
  RunOptions opts;
  opts.timeout_s = 120;
  RunResult rec = run_omni({"record", "-o", dir.string(), "--", subject("steal_releases").string()}, opts);
  // Without a check the tool would wait forever for a free slot; the
  // recorder sees that everything it sent was read (SIOCOUTQ 0) while the
  // tool has named fewer slots than it was given, or the tool sees a
  // message out of sequence.
  INFO("omni record: ", rec.describe());
  check_error(rec);
  CHECK(rec.err.find(OMNI_TAMPERED_TEXT) != std::string::npos);
  CHECK((rec.err.find("taken before the tool read") != std::string::npos ||
         rec.err.find("free-slot message") != std::string::npos));
  CHECK(rec.out.find("after") == std::string::npos);
  CHECK_FALSE(fs::exists(fs::symlink_status(dir / "control.sock")));
  Object o = dump_json(dir);
  CHECK(json_bool(o, "recording_complete", false));
  CHECK(json_bool(o, "tampered", true));
}
