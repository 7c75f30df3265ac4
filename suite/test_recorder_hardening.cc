// The recorder against its own program and its user (issue 8, items 11, 15
// and 17): the program's environment is a native run's; killing omni record
// alone stops the program, and a SIGINT sent to it alone ends the recording
// as Ctrl-C does (once); a program that writes into or reads from the
// recorder's channels is caught, and the recording is never reported
// complete. The truth is a native run of the same program (env, the
// subjects' own output and exit status), the processes the tests signal and
// the published SipHash test vectors.
#include <fcntl.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <set>
#include <sstream>
#include <thread>

#include "../libs/recorder/src/tool/omni_channel.h"
#include "background.h"
#include "omni_fixture.h"

using namespace omni::test;

namespace {

using Clock = std::chrono::steady_clock;

// Gone: no such process, or a zombie nobody has reaped yet (an orphan's
// reaper may be slow).
bool process_gone(pid_t pid) {
  if (kill(pid, 0) != 0 && errno == ESRCH) return true;
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat;
  std::getline(in, stat);
  size_t close = stat.rfind(')');
  return close == std::string::npos || (close + 2 < stat.size() && stat[close + 2] == 'Z');
}

bool json_bool(Object& o, const std::string& key, bool value) {
  return o.count(key) && o[key].is_bool() && o[key].b == value;
}

// `NAME=VALUE` entries of `env -0` output.
std::map<std::string, std::string> parse_env(const std::string& text) {
  std::map<std::string, std::string> vars;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\0', start);
    if (end == std::string::npos) end = text.size();
    std::string entry = text.substr(start, end - start);
    start = end + 1;
    size_t eq = entry.find('=');
    if (eq != std::string::npos) vars[entry.substr(0, eq)] = entry.substr(eq + 1);
  }
  return vars;
}

}  // namespace

TEST_CASE("recorder hardening: the channel's MAC is SipHash-2-4 (reference test vectors)") {
  // From the SipHash paper's reference implementation (vectors.h): key
  // 00 01 .. 0f, messages 00 01 .. (len-1).
  omni_u8 key[16], msg[64];
  for (int i = 0; i < 16; ++i) key[i] = static_cast<omni_u8>(i);
  for (int i = 0; i < 64; ++i) msg[i] = static_cast<omni_u8>(i);
  CHECK(omni_siphash24(key, msg, 0) == 0x726fdb47dd0e0e31ull);
  CHECK(omni_siphash24(key, msg, 1) == 0x74f839c593dc67fdull);
  CHECK(omni_siphash24(key, msg, 8) == 0x93f5f5799a932462ull);
  CHECK(omni_siphash24(key, msg, 15) == 0xa129ca6149be45e5ull);
  CHECK(omni_siphash24(key, msg, 63) == 0x958a324ceb064572ull);
}

TEST_CASE("recorder hardening: the program's environment is a native run's but VALGRIND_LIB, LD_PRELOAD and _") {
  for (bool user_library_path : {false, true}) {
    CAPTURE(user_library_path);
    TempDir t;
    RunOptions opts;
    if (user_library_path) opts.env["LD_LIBRARY_PATH"] = "/tmp/omni-user-lib:/opt/omni-test/lib";
    else opts.unset_env.push_back("LD_LIBRARY_PATH");
    opts.unset_env.push_back("LD_PRELOAD");
    RunResult native = run({"env", "-0"}, opts);
    REQUIRE(native.status == 0);
    RunResult rec = run_omni({"record", "-o", (t / "trace").string(), "--", "env", "-0"}, opts);
    INFO("omni record env -0: ", rec.describe());
    REQUIRE(rec.status == 0);
    CHECK(rec.err.empty());
    auto n = parse_env(native.out), r = parse_env(rec.out);
    REQUIRE(n.size() > 3);
    std::set<std::string> added, removed, changed;
    for (const auto& [name, value] : r) {
      if (!n.count(name)) added.insert(name);
      else if (n[name] != value) changed.insert(name);
    }
    for (const auto& [name, value] : n)
      if (!r.count(name)) removed.insert(name);
    added.erase("_");
    changed.erase("_");
    removed.erase("_");
    std::string list;
    for (const auto& s : added) list += " +" + s;
    for (const auto& s : removed) list += " -" + s;
    for (const auto& s : changed) list += " ~" + s;
    INFO("differences:", list);
    CHECK(added == std::set<std::string>{"LD_PRELOAD", "VALGRIND_LIB"});
    CHECK(removed.empty());
    CHECK(changed.empty());
    CHECK(r["LD_PRELOAD"].find("vgpreload_core-amd64-linux.so") != std::string::npos);
    CHECK(fs::exists(fs::path(r["VALGRIND_LIB"]) / "omni-amd64-linux"));
    if (user_library_path) CHECK(r["LD_LIBRARY_PATH"] == "/tmp/omni-user-lib:/opt/omni-test/lib");
    else CHECK_FALSE(r.count("LD_LIBRARY_PATH"));
    Object o = dump_json(t / "trace");
    CHECK(json_bool(o, "recording_complete", true));
  }
}

TEST_CASE("recorder hardening: SIGKILL of omni record alone stops the program, the recording says cut short") {
  TempDir t;
  fs::path dir = t / "trace";
  Background rec;
  start(rec, {bin("omni").string(), "record", "-o", dir.string(), "--", subject("wait_signal").string(), "120"},
        t.path());
  rec.wait_for_output("ready\n");
  pid_t vg = recorder_child(rec.pid);
  REQUIRE(kill(rec.pid, SIGKILL) == 0);  // omni record alone, not its group
  REQUIRE(rec.wait(30));
  CHECK(rec.status == 128 + SIGKILL);
  auto t0 = Clock::now();
  while (!process_gone(vg) && Clock::now() - t0 < std::chrono::seconds(5))
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  CHECK_MESSAGE(process_gone(vg), "valgrind (pid " << vg << ") outlived omni record by 5 s");

  Object before = dump_json(dir);
  CHECK(json_bool(before, "recording_complete", false));
  RunResult ix = run_omni({"index", dir.string()});
  INFO("omni index: ", ix.describe());
  REQUIRE(ix.status == 0);
  CHECK(ix.err.find("cut short") != std::string::npos);
  Object after = dump_json(dir);
  CHECK(json_bool(after, "recording_complete", false));
  CHECK(json_bool(after, "complete", false));
}

TEST_CASE("recorder hardening: SIGINT sent to omni record alone ends the recording as Ctrl-C does") {
  for (bool handler : {false, true}) {
    CAPTURE(handler);
    TempDir t;
    std::vector<std::string> program = {subject("wait_signal").string(), "120"};
    if (handler) program.push_back("handler");
    // The truth: the same program, natively, sent SIGINT.
    Background native;
    start(native, program, t.path());
    native.wait_for_output("ready\n");
    REQUIRE(kill(native.pid, SIGINT) == 0);
    REQUIRE(native.wait(30));
    std::string native_out = native.stdout_text();
    INFO("native: ", native.describe());
    CHECK(native.status == (handler ? 3 : 128 + SIGINT));

    fs::path dir = t / "trace";
    std::vector<std::string> argv = {bin("omni").string(), "record", "-o", dir.string(), "--"};
    argv.insert(argv.end(), program.begin(), program.end());
    fs::create_directories(t / "rec");
    Background rec;
    start(rec, argv, t / "rec");
    rec.wait_for_output("ready\n");
    REQUIRE(kill(rec.pid, SIGINT) == 0);
    REQUIRE_MESSAGE(rec.wait(60), "omni record still runs 60 s after SIGINT: " << rec.describe());
    INFO("omni record: ", rec.describe());
    CHECK(rec.status == native.status);
    CHECK(rec.stdout_text() == native_out);
    CHECK(read_file(rec.err).empty());
    Object o = dump_json(dir);
    CHECK(json_bool(o, "recording_complete", true));
    if (handler) CHECK((o.count("exit_code") && o["exit_code"].is_int() && o["exit_code"].i == 3));
    else CHECK((o.count("signal") && o["signal"].is_int() && o["signal"].i == SIGINT));
  }
}

TEST_CASE("recorder hardening: a Ctrl-C on the terminal reaches the program once, as natively") {
  TempDir t;
  fs::create_directories(t / "native");
  fs::create_directories(t / "rec");
  auto ctrl_c = [&](const std::vector<std::string>& argv, const fs::path& logs) {
    int master = posix_openpt(O_RDWR | O_NOCTTY);
    REQUIRE(master >= 0);
    REQUIRE(grantpt(master) == 0);
    REQUIRE(unlockpt(master) == 0);
    std::string slave = ptsname(master);
    Background b;
    start(b, argv, logs, slave);
    b.wait_for_output("ready\n");
    unsigned char c = 3;  // VINTR by default: SIGINT to the foreground group
    struct termios tio {};
    REQUIRE(tcgetattr(master, &tio) == 0);
    c = tio.c_cc[VINTR];
    REQUIRE(write(master, &c, 1) == 1);
    bool ended = b.wait(60);
    close(master);
    REQUIRE_MESSAGE(ended, "still running 60 s after Ctrl-C: " << b.describe());
    return std::make_pair(b.status, b.stdout_text());
  };
  std::vector<std::string> program = {subject("wait_signal").string(), "120", "handler"};
  auto native = ctrl_c(program, t / "native");
  INFO("native: status ", native.first, " output ", native.second);
  REQUIRE(native.first == 3);
  REQUIRE(native.second.find("sigints=1\n") != std::string::npos);
  std::vector<std::string> argv = {bin("omni").string(), "record", "-o", (t / "trace").string(), "--"};
  argv.insert(argv.end(), program.begin(), program.end());
  auto rec = ctrl_c(argv, t / "rec");
  INFO("omni record: status ", rec.first, " output ", rec.second);
  CHECK(rec.first == native.first);
  CHECK(rec.second == native.second);
}

namespace {

const std::string kTampered = OMNI_TAMPERED_TEXT;

// The value of meta KEY in DIR/index.db, by the sqlite3 shell; "" if absent.
std::string meta_value(const fs::path& dir, const std::string& key) {
  RunResult q = run({"sqlite3", (dir / "index.db").string(), "SELECT value FROM meta WHERE key='" + key + "'"});
  REQUIRE(q.status == 0);
  auto lines = split_lines(q.out);
  return lines.empty() ? "" : lines[0];
}

}  // namespace

TEST_CASE("recorder hardening: a program that forges or steals recorder messages is caught, never a clean recording") {
  // Natively the subject finds none of Valgrind's descriptors and runs to its
  // end: what it prints before it touches them is the truth for its output.
  RunResult native = run({subject("forge_channel").string(), "fifo"});
  REQUIRE(native.status == 0);
  REQUIRE(native.out == "before\ndone 0\nafter\n");

  for (std::string mode : {"fifo", "fifo8", "garbage", "release", "steal", "steal1"}) {
    CAPTURE(mode);
    TempDir t;
    fs::path dir = t / "trace";
    RunResult rec = run_omni({"record", "-o", dir.string(), "--", subject("forge_channel").string(), mode});
    INFO("omni record: ", rec.describe());
    check_error(rec);
    CHECK(rec.err.find(kTampered) != std::string::npos);
    CHECK(rec.err.find(dir.string()) != std::string::npos);
    // Its output up to the forgery is intact; it was stopped before its end.
    CHECK(rec.out.rfind("before\n", 0) == 0);
    CHECK(rec.out.find("after") == std::string::npos);
    if (rec.out.find("done") != std::string::npos) CHECK(rec.out == "before\ndone 1\n");

    Object o = dump_json(dir);
    CHECK(json_bool(o, "recording_complete", false));
    CHECK(json_bool(o, "tampered", true));
    RunResult text = run_omni({"dump", dir.string()});
    CHECK(text.out.find("wrote or read the recorder's channel") != std::string::npos);
    RunResult ix = run_omni({"index", dir.string()});
    INFO("omni index: ", ix.describe());
    REQUIRE(ix.status == 0);
    CHECK(ix.err.find("cut short") != std::string::npos);
    Object after = dump_json(dir);
    CHECK(json_bool(after, "recording_complete", false));
    CHECK(meta_value(dir, "tampered") == "1");
    CHECK(meta_value(dir, "stream_complete") == "0");
    CHECK(json_bool(after, "tampered", true));
  }
}

TEST_CASE("recorder hardening: a write end of the FIFO kept by the program does not hold omni record after Valgrind dies") {
  TempDir t;
  fs::path dir = t / "trace";
  Background rec;
  // --no-children: the forked child, which holds a copy of the root's
  // connection, runs unrecorded and is not waited for (a recorded one would
  // be, until it exits).
  start(rec,
        {bin("omni").string(), "record", "--no-children", "-o", dir.string(), "--",
         subject("forge_channel").string(), "hold"},
        t.path());
  rec.wait_for_output("done 1\n");  // a forked child holds the reopened FIFO for 60 s
  pid_t vg = recorder_child(rec.pid);
  std::vector<pid_t> holders;
  for (auto t0 = Clock::now(); holders.empty() && Clock::now() - t0 < std::chrono::seconds(30);) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    holders = children_of(vg);
  }
  REQUIRE(holders.size() == 1);  // it has forked
  REQUIRE(kill(vg, SIGKILL) == 0);
  REQUIRE_MESSAGE(rec.wait(20), "omni record still waits 20 s after Valgrind died: " << rec.describe());
  INFO("omni record: ", rec.describe());
  CHECK(rec.status == 128 + SIGKILL);
  CHECK(read_file(rec.err).find(kTampered) == std::string::npos);  // nothing was forged
  CHECK_MESSAGE(!process_gone(holders[0]), "the program's child holding the FIFO is gone");
  Object o = dump_json(dir);
  CHECK(json_bool(o, "recording_complete", false));
  CHECK((o.count("signal") && o["signal"].is_int() && o["signal"].i == SIGKILL));
}

TEST_CASE("recorder hardening: SIGKILL of the whole group keeps what a waiting program did before it waited") {
  // wait_signal prints "ready" and then sleeps in short steps: the tool's
  // buffer is far from full, but a system call hands it over when the last
  // flush is older than 200 ms, so a kill a second later loses nothing
  // before the wait.
  TempDir t;
  fs::path dir = t / "trace";
  Background rec;
  start(rec, {bin("omni").string(), "record", "-o", dir.string(), "--", subject("wait_signal").string(), "120"},
        t.path());
  rec.wait_for_output("ready\n");
  std::this_thread::sleep_for(std::chrono::milliseconds(1000));
  REQUIRE(kill(-rec.pid, SIGKILL) == 0);  // omni record, Valgrind and the program
  REQUIRE(rec.wait(30));
  CHECK(rec.status == 128 + SIGKILL);
  RunResult ix = run_omni({"index", dir.string()});
  INFO("omni index: ", ix.describe());
  REQUIRE(ix.status == 0);
  CHECK(ix.err.find("cut short") != std::string::npos);
  RunResult out = run_omni({"query", dir.string(), "--output"});
  INFO("omni query --output: ", out.describe());
  REQUIRE(out.status == 0);
  auto lines = parse_json_lines(out.out);
  REQUIRE(lines.size() == 1);
  CHECK(lines[0]["text"].s == "ready\n");
  CHECK(lines[0]["fd"].i == 1);
}
