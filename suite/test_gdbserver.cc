// omni serve --gdb: a real gdb (batch, scripted) debugs a recording through
// omni's server, and what it shows is compared with gdb on a native run of
// the same program: the same stops at a breakpoint, backtraces, arguments
// and globals; reverse-continue lands on the earlier stop, reverse-stepi
// undoes stepi.
#include <doctest/doctest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cstdio>
#include <regex>
#include <set>

#include "background.h"
#include "omni_fixture.h"

using namespace omni::test;

namespace {

// What gdb printed between "@@ k" markers, by k, with main's argv pointer
// blanked: Valgrind places the initial stack elsewhere (0x1fff... instead of
// 0x7fff...), the one value a recording cannot share with a native run.
std::map<int, std::string> sections(const std::string& out) {
  std::map<int, std::string> s;
  int current = -1;
  std::regex marker(R"(^@@ (\d+)$)"), addr(R"(argv=0x[0-9a-f]+)");
  for (const std::string& line : split_lines(out)) {
    std::smatch m;
    if (std::regex_match(line, m, marker)) {
      current = std::stoi(m[1]);
      continue;
    }
    if (current >= 0) s[current] += std::regex_replace(line, addr, "argv=STACK") + "\n";
  }
  return s;
}

// gdb -batch running `commands` (each followed by a marker) after `setup`.
RunResult gdb(const std::vector<std::string>& setup, const std::vector<std::string>& commands) {
  std::vector<std::string> argv = {"gdb", "-batch", "-nx", "-ex", "set pagination off", "-ex", "set confirm off",
                                   "-ex", "set width 0"};
  for (const std::string& c : setup) argv.insert(argv.end(), {"-ex", c});
  for (size_t k = 0; k < commands.size(); ++k)
    argv.insert(argv.end(), {"-ex", "echo @@ " + std::to_string(k) + "\\n", "-ex", commands[k]});
  return run(argv);
}

// Starts `omni serve --gdb 127.0.0.1:0 DIR` in the background; returns the
// address it listens on, from its one line on stderr.
std::string start_server(Background& server, const TempDir& logs, const fs::path& dir) {
  start(server, {bin("omni").string(), "serve", "--gdb", "127.0.0.1:0", dir.string()}, logs.path());
  std::string address;
  for (int tries = 0; tries < 500 && address.empty(); ++tries) {
    std::smatch m;
    std::string err = fs::exists(server.err) ? read_file(server.err) : "";
    if (std::regex_search(err, m, std::regex(R"(target remote (127\.0\.0\.1:\d+))"))) address = m[1];
    else std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  REQUIRE_MESSAGE(!address.empty(), server.describe());
  return address;
}

}  // namespace

TEST_CASE("gdbserver: gdb on omni serve stops where a native gdb does, and goes back with reverse-continue and reverse-stepi") {
  Recording r = record("executions", {"3"});
  Background server;
  TempDir logs;
  std::string address = start_server(server, logs, r.dir);

  // The same stops: three hits of fact (n = 3, 2, 1) in the first round.
  const std::vector<std::string> stops = {"bt", "print n", "print g_sink", "info registers rip"};
  std::vector<std::string> native_cmds, omni_cmds;
  for (int hit = 0; hit < 3; ++hit) {
    native_cmds.push_back(hit == 0 ? "run" : "continue");
    omni_cmds.push_back("continue");
    for (const std::string& s : stops) {
      native_cmds.push_back(s);
      omni_cmds.push_back(s);
    }
  }
  // Then back: reverse-continue to the second hit; stepi and reverse-stepi.
  omni_cmds.insert(omni_cmds.end(), {"reverse-continue", "bt", "print n", "stepi", "reverse-stepi", "print $pc",
                                     "info threads", "monitor when", "info sharedlibrary", "reverse-finish", "frame",
                                     "signal SIGUSR1", "set var g_sink = 5"});
  native_cmds.push_back("info sharedlibrary");
  RunResult native = gdb({"file " + r.prog.string(), "set args 3", "break fact"}, native_cmds);
  RunResult omni = gdb({"file " + r.prog.string(), "target remote " + address, "break fact"}, omni_cmds);
  INFO("native gdb: ", native.describe());
  INFO("gdb on omni: ", omni.describe());
  auto n = sections(native.out), o = sections(omni.out);
  size_t per_hit = 1 + stops.size();
  for (int hit = 0; hit < 3; ++hit) {
    for (size_t k = 1; k < per_hit; ++k) {
      size_t at = hit * per_hit + k;
      INFO("hit ", hit, ": ", native_cmds[at]);
      CHECK(o[int(at)] == n[int(at)]);
      CHECK_FALSE(n[int(at)].empty());
    }
  }
  CHECK(n[2].find(" = 3") != std::string::npos);  // print n at the first hit
  // reverse-continue: the second hit again, as the native run showed it.
  size_t back = 3 * per_hit;
  std::string second_bt = n[int(per_hit + 1)];
  CHECK(o[int(back + 1)] == second_bt);
  CHECK(o[int(back + 2)].find(" = 2") != std::string::npos);
  // stepi then reverse-stepi: at the breakpoint's pc again.
  std::smatch m;
  std::string rip_line = n[int(per_hit + 4)];
  REQUIRE(std::regex_search(rip_line, m, std::regex(R"(rip\s+(0x[0-9a-f]+))")));
  CHECK(o[int(back + 5)].find(m[1].str()) != std::string::npos);
  CHECK(o[int(back + 6)].find("Thread 1") != std::string::npos);
  // The libraries gdb found through the recorded memory (the auxiliary
  // vector, the dynamic linker's list): the native run's, and Valgrind's
  // preload.
  auto libraries = [](const std::string& text) {
    std::set<std::string> names;
    std::regex lib(R"((/\S+\.so[.0-9]*)\s*$)");
    for (const std::string& line : split_lines(text)) {
      std::smatch m;
      if (std::regex_search(line, m, lib)) names.insert(fs::path(m[1].str()).filename().string());
    }
    return names;
  };
  std::set<std::string> native_libs = libraries(n[int(native_cmds.size() - 1)]);
  std::set<std::string> omni_libs = libraries(o[int(back + 8)]);
  CHECK(native_libs.count("libc.so.6"));
  for (const std::string& lib : native_libs) CHECK_MESSAGE(omni_libs.count(lib), lib);
  // reverse-finish from fact (n=2): back to its call in fact (n=3), the
  // caller frame of the native backtrace at that hit.
  std::smatch caller;
  REQUIRE(std::regex_search(second_bt, caller, std::regex(R"(#1  .*(fact \(n=3\) at \S+:\d+))")));
  CHECK(o[int(back + 10)].find(caller[1].str()) != std::string::npos);
  // What would change the recording is refused.
  CHECK(omni.err.find("a recording cannot be sent a signal") != std::string::npos);
  CHECK(o[int(back + 11)].find("Continuing") == std::string::npos);
  CHECK(omni.err.find("Cannot access memory") != std::string::npos);
  // monitor when: gdb prints a target's monitor output on stderr.
  CHECK(omni.err.find("time ") != std::string::npos);
  CHECK(server.wait(30));
  CHECK(server.status == 0);
}

TEST_CASE("gdbserver: watch -l stops at each change as a native gdb's watchpoint does, and reverse-continue finds the changes before") {
  Recording r = record("executions", {"3"});
  WatchResult truth = gdb_watch(r.prog, {"3"}, "g_sink");
  REQUIRE(truth.hits.size() >= 3);
  Background server;
  TempDir logs;
  std::string address = start_server(server, logs, r.dir);
  // Forwards with the oracle's commands at each stop; then from the end,
  // backwards, without them.
  TempDir tmp;
  write_file(tmp / "watch.gdb",
             "set pagination off\nset confirm off\nset width 0\nfile " + r.prog.string() + "\ntarget remote " +
                 address +
                 "\nwatch -l g_sink\ncommands\nsilent\nprintf \"OMNI_WATCH_VALUE \"\noutput g_sink\nprintf "
                 "\"\\n\"\nprintf \"OMNI_WATCH_WHERE \"\ninfo symbol $pc\ncontinue\nend\ncontinue\ndelete\nwatch -l "
                 "g_sink\nreverse-continue\nprintf \"BACK1 \"\noutput g_sink\nprintf \"\\n\"\nreverse-continue\n"
                 "printf \"BACK2 \"\noutput g_sink\nprintf \"\\n\"\n");
  RunResult g = run({"gdb", "-batch", "-nx", "-x", (tmp / "watch.gdb").string()});
  INFO("gdb on omni: ", g.describe());
  std::vector<std::string> values, wheres;
  std::string back1, back2;
  for (const std::string& line : split_lines(g.out)) {
    auto after = [&](const std::string& key) { return line.substr(line.find(key) + key.size()); };
    if (line.find("OMNI_WATCH_VALUE ") != std::string::npos) values.push_back(after("OMNI_WATCH_VALUE "));
    if (line.find("OMNI_WATCH_WHERE ") != std::string::npos) {
      std::string where = after("OMNI_WATCH_WHERE ");
      if (auto s = where.find(" in section "); s != std::string::npos) where.resize(s);
      if (auto plus = where.find(" + "); plus != std::string::npos) where.resize(plus);
      wheres.push_back(where);
    }
    if (line.rfind("BACK1 ", 0) == 0) back1 = line.substr(6);
    if (line.rfind("BACK2 ", 0) == 0) back2 = line.substr(6);
  }
  REQUIRE(values.size() == truth.hits.size());
  for (size_t k = 0; k < values.size(); ++k) {
    INFO("change ", k);
    CHECK(values[k] == truth.hits[k].value);
    CHECK(wheres.at(k) == truth.hits[k].function);
  }
  // From the end: the last change undone shows the value before it, then
  // the one before that.
  size_t n = truth.hits.size();
  CHECK(back1 == truth.hits[n - 2].value);
  CHECK(back2 == truth.hits[n - 3].value);
  CHECK(server.wait(30));
}

TEST_CASE("gdbserver: omni replay starts gdb on the recording, at its start or --at a moment") {
  Recording r = record("executions", {"3"});
  RunResult first = run_omni({"replay", r.dir.string(), "--batch", "--ex", "break fact", "--ex", "continue", "--ex",
                              "print n", "--ex", "print g_sink"});
  INFO(first.describe());
  CHECK(first.status == 0);
  // As a native run's first stop at fact: n = 3, and g_sink = 1 (sum_to(2)).
  CHECK(first.out.find("Breakpoint 1, fact (n=3)") != std::string::npos);
  CHECK(first.out.find("$1 = 3") != std::string::npos);
  CHECK(first.out.find("$2 = 1") != std::string::npos);
  // --at output~TEXT: gdb starts where the program wrote that line.
  RunResult out = run_omni({"query", r.dir.string(), "--output"});
  REQUIRE(out.status == 0);
  std::vector<Object> writes = parse_json_lines(out.out);
  REQUIRE(writes.size() == 1);
  RunResult at = run_omni({"replay", r.dir.string(), "--at", "output~rounds", "--batch", "--ex", "monitor when"});
  INFO(at.describe());
  CHECK(at.status == 0);
  CHECK(at.err.find("time " + std::to_string(writes[0].at("time").i) + " ") != std::string::npos);
  // monitor goto moves; monitor output is what was written by then.
  RunResult moved = run_omni({"replay", r.dir.string(), "--batch", "--ex", "monitor output", "--ex",
                              "monitor goto output~rounds", "--ex", "maintenance flush register-cache", "--ex",
                              "sharedlibrary", "--ex", "bt 1", "--ex", "stepi", "--ex", "monitor output"});
  INFO(moved.describe());
  CHECK(moved.status == 0);
  CHECK(moved.err.find("(no output yet)") != std::string::npos);
  CHECK(moved.out.find("write (fd=1") != std::string::npos);
  CHECK(moved.err.find(writes[0].at("text").s) != std::string::npos);
  // Past the last breakpoint: the end, and how the program ended (the
  // recorded run's status, 0); backwards past the start: the start.
  RunResult ends = run_omni({"replay", r.dir.string(), "--batch", "--ex", "continue", "--ex", "reverse-continue"});
  CHECK(r.rec.status == 0);
  CHECK((ends.out + ends.err).find("the end of the recording: the program exited with code 0") != std::string::npos);
  CHECK((ends.out + ends.err).find("No more reverse-execution history.") != std::string::npos);
  CHECK((ends.out + ends.err).find("the start of the recording") != std::string::npos);
  // SSE and AVX registers and fs_base, as omni query --registers has them at
  // that moment (xmm0's bytes in memory order, gdb's as one number).
  RunResult regs = run_omni({"query", r.dir.string(), "--registers", "--at", "output~rounds"});
  REQUIRE(regs.status == 0);
  Object q = parse_json_object(regs.out);
  RunResult vec = run_omni({"replay", r.dir.string(), "--at", "output~rounds", "--batch", "--ex", "p/x $xmm0.uint128",
                            "--ex", "p/x $fs_base", "--ex", "p/x $ymm0h"});
  INFO(vec.describe());
  std::string le = q.at("xmm0").s, be;
  for (size_t i = le.size(); i >= 2; i -= 2) be += le.substr(i - 2, 2);
  be.erase(0, std::min(be.find_first_not_of('0'), be.size() - 1));
  CHECK(vec.out.find("$1 = 0x" + be + "\n") != std::string::npos);
  CHECK(vec.out.find("$2 = " + q.at("fs_base").s + "\n") != std::string::npos);
  CHECK(vec.out.find("$3 = ") != std::string::npos);
  RunResult bad = run_omni({"replay", r.dir.string(), "--at", "output~no such text"});
  CHECK(bad.status == 1);
  CHECK(bad.err.rfind("omni: error: ", 0) == 0);
}

TEST_CASE("gdbserver: stepi and reverse-stepi retrace the native instructions, reverse-step and reverse-next the lines") {
  Recording r = record("executions", {"3"});
  // The source line gdb shows after each command ("18\tin file" or
  // "... at file:18"), and each `p $pc`.
  std::regex marker(R"(^@@ (\d+)$)"), tab(R"(^(\d+)\t)"), at(R"(:(\d+)$)"), pc(R"(^\$\d+ = .*(0x[0-9a-f]+) <)");
  auto parse = [&](const std::string& out, std::map<int, int>& line, std::map<int, std::string>& pcs) {
    int current = -1;
    for (const std::string& l : split_lines(out)) {
      std::smatch m;
      if (std::regex_match(l, m, marker)) current = std::stoi(m[1]);
      else if (current >= 0 && std::regex_search(l, m, pc)) pcs[current] = m[1];
      else if (current >= 0 && (std::regex_search(l, m, tab) || std::regex_search(l, m, at))) line[current] = std::stoi(m[1]);
    }
  };
  // Forwards: step, next, step, next, then 8 stepi (each followed by p $pc).
  std::vector<std::string> forward = {"step", "next", "step", "next"};
  for (int k = 0; k < 8; ++k) forward.push_back("stepi");
  std::vector<std::string> ex = {"break sum_to", "continue"}, native_cmds = {"break sum_to", "run"};
  auto add = [](std::vector<std::string>& v, int k, const std::string& c) {
    v.insert(v.end(), {"echo @@ " + std::to_string(k) + "\\n", c});
    if (c.find("stepi") != std::string::npos) v.push_back("p $pc");
  };
  for (size_t k = 0; k < forward.size(); ++k) {
    add(ex, int(k), forward[k]);
    add(native_cmds, int(k), forward[k]);
  }
  // Back: 8 reverse-stepi, then reverse-next and reverse-step.
  const int back = int(forward.size());
  for (int k = 0; k < 8; ++k) add(ex, back + k, "reverse-stepi");
  add(ex, back + 8, "reverse-next");
  add(ex, back + 9, "reverse-step");
  std::vector<std::string> argv = {"replay", r.dir.string(), "--batch"};
  for (const std::string& c : ex) argv.insert(argv.end(), {"--ex", c});
  RunResult omni = run_omni(argv);
  std::vector<std::string> gargv = {"gdb", "-batch", "-nx", "-ex", "set pagination off", "-ex", "file " + r.prog.string(),
                                    "-ex", "set args 3"};
  for (const std::string& c : native_cmds) gargv.insert(gargv.end(), {"-ex", c});
  RunResult native = run(gargv);
  INFO("gdb on omni: ", omni.describe());
  INFO("native gdb: ", native.describe());
  CHECK(omni.status == 0);
  std::map<int, int> ol, nl;
  std::map<int, std::string> op, np;
  parse(omni.out, ol, op);
  parse(native.out, nl, np);
  // Forwards exactly as natively: the lines of step and next, the pc of
  // each stepi.
  for (int k = 0; k < 4; ++k) {
    INFO(forward[size_t(k)], " #", k);
    REQUIRE(nl.count(k));
    CHECK(ol[k] == nl[k]);
  }
  for (int k = 4; k < back; ++k) {
    INFO("stepi #", k);
    REQUIRE(np.count(k));
    CHECK(op[k] == np[k]);
  }
  // Backwards: each reverse-stepi at the pc before (the last one at the pc
  // the stepis started from, where the last `next` stopped).
  for (int k = 0; k < 7; ++k) {
    INFO("reverse-stepi #", k);
    CHECK(op[back + k] == np[back - 2 - k]);
  }
  // Then reverse-next undoes the last next (to the line the step before it
  // reached) and reverse-step that step.
  CHECK(ol[back + 8] == nl[2]);
  CHECK(ol[back + 9] == nl[1]);
}

TEST_CASE("gdbserver: threads: info threads, thread N, and stepi within one thread as natively with scheduler-locking") {
  Recording r = record("threads");
  // After the first worker's breakpoint: the breakpoint deleted, four
  // stepi of that thread (natively, the other threads held still).
  auto pcs_of = [](const std::string& out) {
    std::vector<std::string> pcs;
    std::regex pc(R"(^\$\d+ = .*(0x[0-9a-f]+) <)");
    for (const std::string& l : split_lines(out)) {
      std::smatch m;
      if (std::regex_search(l, m, pc)) pcs.push_back(m[1]);
    }
    return pcs;
  };
  std::vector<std::string> steps;
  for (int k = 0; k < 4; ++k) steps.insert(steps.end(), {"stepi", "p $pc"});
  std::vector<std::string> ex = {"break worker", "continue", "delete", "p $pc"};
  ex.insert(ex.end(), steps.begin(), steps.end());
  ex.insert(ex.end(), {"echo @@threads\\n", "info threads", "thread 1", "bt 1"});
  std::vector<std::string> argv = {"replay", r.dir.string(), "--batch"};
  for (const std::string& c : ex) argv.insert(argv.end(), {"--ex", c});
  RunResult omni = run_omni(argv);
  std::vector<std::string> gargv = {"gdb", "-batch", "-nx", "-ex", "set pagination off", "-ex", "file " + r.prog.string(),
                                    "-ex", "break worker", "-ex", "run", "-ex", "delete", "-ex", "set scheduler-locking step",
                                    "-ex", "p $pc"};
  for (const std::string& c : steps) gargv.insert(gargv.end(), {"-ex", c});
  RunResult native = run(gargv);
  INFO("gdb on omni: ", omni.describe());
  INFO("native gdb: ", native.describe());
  CHECK(omni.status == 0);
  std::vector<std::string> o = pcs_of(omni.out), n = pcs_of(native.out);
  REQUIRE(n.size() == 5);
  CHECK(o == n);
  // The stepping thread stays current; the main thread is listed and
  // selectable, in pthread_create or the clone it made.
  std::string threads = omni.out.substr(omni.out.find("@@threads"));
  std::smatch m;
  REQUIRE(std::regex_search(threads, m, std::regex(R"(\* (\d+)\s+Thread (\d+)\s+.*worker)")));
  CHECK(m[2] != "1");
  CHECK(threads.find("Thread 1 ") != std::string::npos);
  CHECK(threads.find("[Switching to thread 1 (Thread 1)]") != std::string::npos);
  CHECK(omni.err.find("Could not read registers") == std::string::npos);
}

TEST_CASE("gdbserver: malformed packets get error replies and the server goes on") {
  Recording r = record("executions", {"3"});
  Background server;
  TempDir logs;
  std::string address = start_server(server, logs, r.dir);
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  REQUIRE(fd >= 0);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(uint16_t(std::stoi(address.substr(address.find(':') + 1))));
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0);
  timeval tv{10, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  auto packet = [](const std::string& body) {
    unsigned sum = 0;
    for (char c : body) sum += uint8_t(c);
    char cs[3];
    snprintf(cs, sizeof cs, "%02x", sum & 0xff);
    return "$" + body + "#" + cs;
  };
  // Reads until one whole reply packet ($...#xx) has come; returns its body.
  std::string pending;
  auto reply = [&]() {
    for (;;) {
      size_t start = pending.find('$'), hash = pending.find('#', start == std::string::npos ? 0 : start);
      if (start != std::string::npos && hash != std::string::npos && hash + 2 < pending.size()) {
        std::string body = pending.substr(start + 1, hash - start - 1);
        pending.erase(0, hash + 3);
        if (::send(fd, "+", 1, MSG_NOSIGNAL) != 1) return std::string("(send failed)");
        return body;
      }
      char buf[4096];
      ssize_t n = recv(fd, buf, sizeof buf, 0);
      if (n <= 0) return std::string("(closed)");
      pending.append(buf, size_t(n));
    }
  };
  auto ask = [&](const std::string& body) {
    std::string p = packet(body);
    REQUIRE(::send(fd, p.data(), p.size(), MSG_NOSIGNAL) == ssize_t(p.size()));
    return reply();
  };
  // A bad checksum is nacked ('-') and not answered: the next good packet is.
  std::string bad = "$g#00";
  REQUIRE(::send(fd, bad.data(), bad.size(), MSG_NOSIGNAL) == ssize_t(bad.size()));
  for (const char* body : {"mzz,4", "m0,ffffffffffffffff", "p999", "Z0,zz,1", "Z2,1000", "qRcmd,zz",
                           "qXfer:features:read:target.xml:zz", "Hgzz", "vCont;x", "G00", "M1000,1:00", "C0b", ""}) {
    INFO(body);
    std::string r2 = ask(body);
    CHECK((r2.empty() || r2[0] == 'E'));
  }
  // Still serving: the registers, then a clean kill.
  CHECK(ask("qSupported").find("ReverseContinue+") != std::string::npos);
  CHECK(ask("g").size() > 100);
  ask("k");
  close(fd);
  CHECK(server.wait(30));
  CHECK(server.status == 0);
}
