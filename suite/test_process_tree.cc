// Process trees: omni record follows fork. Every forked process is a recorded
// process of its own (DIR/processes/N), indexed by `omni index`, listed by
// `omni dump` and asked about with `omni query --process N` / `--pid P`.
// Truth: what each process of the subject printed in a native run, and the
// statuses its parent's wait reported (also printed).
#include <doctest/doctest.h>

#include <cinttypes>
#include <cstdio>
#include <map>
#include <set>

#include "omni_fixture.h"

using namespace omni::test;

namespace {

// The text each recorded process wrote to stdout, by process number.
std::string output_of(const fs::path& dir, int64_t process) {
  RunResult q = run_omni({"query", dir.string(), "--process", std::to_string(process), "--output"});
  INFO("omni query --process ", process, " --output: ", q.describe());
  REQUIRE(q.status == 0);
  std::string text;
  for (const Object& o : parse_json_lines(q.out)) text += o.at("text").s;
  return text;
}

int64_t last_value(const fs::path& dir, int64_t process, const std::string& var) {
  std::vector<Write> ws = where_written(dir, var, {"--process", std::to_string(process)});
  REQUIRE_FALSE(ws.empty());
  return le_signed(ws.back().data);
}

// `omni query DIR --process N --read TARGET --at AT`: one answer.
Object read_in(const fs::path& dir, int64_t process, const std::string& target, const std::string& at) {
  RunResult q = run_omni({"query", dir.string(), "--process", std::to_string(process), "--read", target, "--at", at});
  INFO("omni query --process ", process, " --read ", target, " --at ", at, ": ", q.describe());
  REQUIRE(q.status == 0);
  auto lines = split_lines(q.out);
  REQUIRE(lines.size() == 1);
  return parse_json_object(lines[0]);
}

const Value* field(const Value& object, const std::string& key) {
  for (const auto& [k, v] : object.object)
    if (k == key) return &v;
  return nullptr;
}

}  // namespace

TEST_CASE("process trees: forked processes are recorded, each with its own writes, output and end") {
  RunResult native = run({subject("process_tree").string()});
  REQUIRE(native.status == 0);
  Recording r = record("process_tree");
  CHECK(r.rec.out == native.out);  // the whole tree's output, as natively

  RunResult verify = run_omni({"index", "--verify", r.dir.string()});
  INFO("omni index --verify: ", verify.describe());
  CHECK(verify.status == 0);

  Object dump = dump_json(r.dir);
  REQUIRE(dump.count("processes"));
  const std::vector<Value>& processes = dump["processes"].array;
  // The root, two children, a grandchild, the crasher and the victim.
  REQUIRE(processes.size() == 6);

  // Which process printed what: each process's own --output is exactly its
  // lines of the native output.
  std::map<std::string, int64_t> by_first_word;  // "child0", "grandchild", "crasher", "victim", "parent"
  std::map<int64_t, const Value*> by_number;
  for (const Value& p : processes) {
    int64_t n = field(p, "process")->i;
    by_number[n] = &p;
    std::string text = output_of(r.dir, n);
    if (text.empty()) continue;  // the victim, killed before its tool handed anything over
    std::string word = text.substr(0, text.find(' '));
    CHECK_MESSAGE(by_first_word.count(word) == 0, "two processes print '" << word << "'");
    by_first_word[word] = n;
    for (const std::string& line : split_lines(text)) {
      INFO("process ", n, " printed '", line, "'");
      CHECK(line.rfind(word, 0) == 0);
      CHECK(native.out.find(line + "\n") != std::string::npos);
    }
  }
  REQUIRE(by_first_word.count("parent"));
  REQUIRE(by_first_word.count("child0"));
  REQUIRE(by_first_word.count("child1"));
  REQUIRE(by_first_word.count("grandchild"));
  REQUIRE(by_first_word.count("crasher"));
  CHECK(by_first_word["parent"] == 1);

  // The tree's shape: child 1 forked the grandchild, the root the others.
  auto parent_of = [&](int64_t n) {
    const Value* p = field(*by_number.at(n), "parent_process");
    return p && p->is_int() ? p->i : 0;
  };
  CHECK(parent_of(by_first_word["child0"]) == 1);
  CHECK(parent_of(by_first_word["child1"]) == 1);
  CHECK(parent_of(by_first_word["crasher"]) == 1);
  CHECK(parent_of(by_first_word["grandchild"]) == by_first_word["child1"]);

  // Writes: each process's last write of g_value is the value it printed;
  // the root's writes are only its own.
  CHECK(last_value(r.dir, by_first_word["child0"], "g_value") == 100);
  CHECK(last_value(r.dir, by_first_word["child0"], "g_count") == 1);
  CHECK(last_value(r.dir, by_first_word["child1"], "g_value") == 101);
  CHECK(last_value(r.dir, by_first_word["child1"], "g_count") == 2);
  CHECK(last_value(r.dir, by_first_word["grandchild"], "g_value") == 500);
  for (const Write& w : where_written(r.dir, "g_value", {"--process", "1"})) {
    int64_t v = le_signed(w.data);
    CHECK_MESSAGE((v == 1 || v == 7), "the root's g_value write of " << v);
  }
  // Without --process the question is about the root (it exec'd nothing):
  // the same answer, and stderr says which process it is about.
  RunResult root = run_omni({"query", r.dir.string(), "--where-written", "g_value"});
  REQUIRE(root.status == 0);
  CHECK(root.out == run_omni({"query", r.dir.string(), "--process", "1", "--where-written", "g_value"}).out);
  CHECK(root.err.rfind("omni: about process 1 (pid ", 0) == 0);
  CHECK(root.err.find("the recording has 6") != std::string::npos);
  // A child's memory at its first instruction is its parent's at the fork:
  // g_value 1 (printed by the parent before forking), g_count 0.
  for (const char* who : {"child0", "child1"}) {
    INFO(who);
    Object at0 = read_in(r.dir, by_first_word[who], "g_value", "0");
    CHECK(at0["value"].i == 1);
  }
  // The grandchild starts from child 1's memory: g_count 2.
  CHECK(read_in(r.dir, by_first_word["grandchild"], "g_count", "0")["value"].i == 2);

  // How each ended, as its parent's wait saw it (printed): exits 10, 11 and
  // 50, SIGSEGV, SIGKILL.
  auto ended = [&](int64_t n) {
    const Value& p = *by_number.at(n);
    const Value* code = field(p, "exit_code");
    const Value* sig = field(p, "signal");
    if (code && code->is_int()) return "exit " + std::to_string(code->i);
    if (sig && sig->is_int()) return "signal " + std::to_string(sig->i);
    return std::string("unknown");
  };
  CHECK(native.out.find("parent reaped child 10\n") != std::string::npos);
  CHECK(ended(by_first_word["child0"]) == "exit 10");
  CHECK(ended(by_first_word["child1"]) == "exit 11");
  CHECK(ended(by_first_word["grandchild"]) == "exit 50");
  CHECK(ended(by_first_word["crasher"]) == "signal 11");
  int64_t victim = 0;
  for (const auto& [n, p] : by_number)
    if (n != 1 && std::find_if(by_first_word.begin(), by_first_word.end(),
                               [&](const auto& e) { return e.second == n; }) == by_first_word.end())
      victim = n;
  REQUIRE(victim != 0);
  CHECK(ended(victim) == "signal 9");
  CHECK(native.out.find("parent reaped signal 9\n") != std::string::npos);

  // --pid names the same process as --process; a pid the recording lacks is
  // a one-line error naming the ones it has.
  const Value* pid = field(*by_number.at(by_first_word["grandchild"]), "pid");
  REQUIRE(pid);
  RunResult by_pid = run_omni({"query", r.dir.string(), "--pid", std::to_string(pid->i), "--output"});
  CHECK(by_pid.status == 0);
  CHECK(by_pid.out.find("grandchild g_value 500") != std::string::npos);
  RunResult bad = run_omni({"query", r.dir.string(), "--process", "9", "--output"});
  check_error(bad);
  CHECK(bad.err.find("processes 1 to 6") != std::string::npos);

  // --output without --process: every process's output in the recording's
  // one order, which is the native run's (the subject serializes its
  // children's output), less the victim's line, lost with its tool's buffer.
  RunResult all = run_omni({"query", r.dir.string(), "--output"});
  INFO("--output: ", all.describe());
  REQUIRE(all.status == 0);
  CHECK(all.err.empty());
  std::string merged;
  for (const Object& o : parse_json_lines(all.out)) {
    merged += o.at("text").s;
    CHECK(o.count("process"));
    CHECK(o.count("pid"));
  }
  std::string expected = native.out;
  expected.erase(expected.find("victim 0\n"), 9);
  CHECK(merged == expected);
}

TEST_CASE("process trees: --no-children records the first process only, as before") {
  TempDir t;
  fs::path dir = t / "trace";
  RunResult rec = run_omni({"record", "--no-children", "-o", dir.string(), "--", subject("process_tree").string()});
  INFO(rec.describe());
  REQUIRE(rec.status == 0);
  CHECK_FALSE(fs::exists(dir / "processes"));
  RunResult ix = run_omni({"index", dir.string()});
  REQUIRE(ix.status == 0);
  Object dump = dump_json(dir);
  CHECK_FALSE(dump.count("processes"));
  // The children it started ran unrecorded, and the dump says so.
  REQUIRE(dump.count("unrecorded_children"));
  CHECK(dump["unrecorded_children"].array.size() == 4);
}

namespace {

// The recording's processes by number (dump --json "processes"): pointers
// into `dump`, which must outlive them.
std::map<int64_t, const Value*> processes_of(const Object& dump) {
  std::map<int64_t, const Value*> out;
  for (const Value& p : dump.at("processes").array) out[field(p, "process")->i] = &p;
  return out;
}

// `omni record -o <t>/trace -- COMMAND...` of any command: REQUIREs exit 0
// and stdout equal to `native_out`; returns the trace directory.
fs::path record_command(const TempDir& t, const std::vector<std::string>& command, const std::string& native_out) {
  fs::path dir = t / "trace";
  std::vector<std::string> a = {"record", "-o", dir.string(), "--"};
  a.insert(a.end(), command.begin(), command.end());
  RunResult rec = run_omni(a);
  INFO("omni record: ", rec.describe());
  REQUIRE(rec.status == 0);
  CHECK(rec.out == native_out);
  return dir;
}

std::vector<std::string> args_of(const Value& p) {
  std::vector<std::string> out;
  for (const Value& a : field(p, "args")->array) out.push_back(a.s);
  return out;
}

}  // namespace

TEST_CASE("process trees: an exec chain of three images is three recorded images of one process") {
  for (const char* mode : {"1", "missing-first"}) {
    INFO("mode ", mode);
    RunResult native = run({subject("exec_chain").string(), mode});
    REQUIRE(native.status == 3);
    Recording r = record("exec_chain", {mode}, 3);
    CHECK(r.rec.out == native.out);
    RunResult ix = run_omni({"index", "--verify", r.dir.string()});
    INFO("omni index: ", ix.describe());
    CHECK(ix.status == 0);
    CHECK(ix.err.find("warning") == std::string::npos);  // an exec followed loses nothing

    Object dump = dump_json(r.dir);
    auto processes = processes_of(dump);
    REQUIRE(processes.size() == 3);
    int64_t pid = field(*processes[1], "pid")->i;
    for (int64_t n = 1; n <= 3; ++n) {
      INFO("image ", n);
      const Value& p = *processes[n];
      CHECK(field(p, "pid")->i == pid);
      if (n > 1) {
        CHECK(field(p, "origin")->s == "exec");
        CHECK(field(p, "parent_process")->i == n - 1);
        CHECK(args_of(p) == std::vector<std::string>{subject("exec_chain").string(), std::to_string(n)});
      }
      if (n < 3) CHECK(field(p, "exec_into")->i == n + 1);
      // Each image's own writes and output: what it printed.
      CHECK(last_value(r.dir, n, "g_value") == 10 * n);
      std::string out = output_of(r.dir, n);
      CHECK(out.rfind("image " + std::to_string(n) + " g_value " + std::to_string(10 * n) + "\n", 0) == 0);
      CHECK(native.out.find(out) != std::string::npos);
    }
    CHECK(field(*processes[3], "exit_code")->i == 3);
    // The first image's recording ends at its exec, which names the image
    // that continues it; no question about it warns.
    CHECK(dump["ended_by"].s == "exec");
    RunResult text = run_omni({"dump", r.dir.string()});
    CHECK(text.out.find("the new image is recorded as process 2") != std::string::npos);
    RunResult q = run_omni({"query", r.dir.string(), "--process", "1", "--where-written", "g_value"});
    CHECK(q.status == 0);
    CHECK(q.err.empty());
    // Without --process: the image the process's last exec left, process 3.
    RunResult last = run_omni({"query", r.dir.string(), "--where-written", "g_value"});
    REQUIRE(last.status == 0);
    CHECK(last.out == run_omni({"query", r.dir.string(), "--process", "3", "--where-written", "g_value"}).out);
    CHECK(last.err.rfind("omni: about process 3 (pid " + std::to_string(pid) + ", " + subject("exec_chain").string() +
                             "), the program process 1 exec'd last",
                         0) == 0);
  }
}

TEST_CASE("process trees: sh -c with a pipeline records every process, each exec'd program an image of its own") {
  const std::vector<std::string> command = {"sh", "-c", "echo start; ls / | wc -l; echo done"};
  RunResult native = run(command);
  REQUIRE(native.status == 0);
  TempDir t;
  fs::path dir = record_command(t, command, native.out);
  RunResult ix = run_omni({"index", dir.string()});
  REQUIRE(ix.status == 0);
  Object dump = dump_json(dir);
  auto processes = processes_of(dump);
  // sh, the two children it forked for the pipeline, and their exec'd ls
  // and wc.
  REQUIRE(processes.size() == 5);
  int64_t ls = 0, wc = 0;
  for (const auto& [n, p] : processes) {
    if (n == 1 || field(*p, "origin")->s != "exec") continue;
    std::vector<std::string> args = args_of(*p);
    REQUIRE_FALSE(args.empty());
    std::string name = fs::path(args[0]).filename().string();
    const Value& forked = *processes.at(field(*p, "parent_process")->i);
    CHECK(field(forked, "origin")->s == "fork");  // each exec'd from a child of sh
    CHECK(field(forked, "parent_process")->i == 1);
    CHECK(field(forked, "pid")->i == field(*p, "pid")->i);
    if (name == "ls") ls = n;
    if (name == "wc") wc = n;
  }
  REQUIRE(ls != 0);
  REQUIRE(wc != 0);
  // wc printed the count; sh printed start and done.
  std::vector<std::string> lines = split_lines(native.out);
  REQUIRE(lines.size() == 3);
  CHECK(output_of(dir, wc) == lines[1] + "\n");
  CHECK(output_of(dir, 1) == lines[0] + "\n" + lines[2] + "\n");
  // The merged --output is what the terminal showed, in its order: sh's
  // "start", wc's count, sh's "done"; what ls wrote into the pipe is not
  // output (the truth: the native run's stdout, byte for byte).
  RunResult all = run_omni({"query", dir.string(), "--output"});
  REQUIRE(all.status == 0);
  std::vector<int64_t> order;
  std::string text;
  for (const Object& o : parse_json_lines(all.out)) {
    order.push_back(o.at("process").i);
    text += o.at("text").s;
  }
  CHECK(order == std::vector<int64_t>{1, wc, 1});
  CHECK(text == native.out);
  CHECK(output_of(dir, ls).empty());
  RunResult calls = run_omni({"query", dir.string(), "--syscalls", "--name", "execve"});
  REQUIRE(calls.status == 0);
  CHECK(parse_json_lines(calls.out).size() == 2);
  // ls's writes into the pipe come before wc's write of their count in the
  // one order, and wc read as many lines as ls wrote.
  RunResult writes = run_omni({"query", dir.string(), "--syscalls", "--name", "write"});
  REQUIRE(writes.status == 0);
  std::vector<int64_t> writers;
  for (const Object& o : parse_json_lines(writes.out))
    if (o.at("process").i == ls || o.at("process").i == wc) writers.push_back(o.at("process").i);
  REQUIRE_FALSE(writers.empty());
  CHECK(writers.back() == wc);
  CHECK(std::count(writers.begin(), writers.end(), wc) == 1);
  CHECK(writers.front() == ls);
}

TEST_CASE("process trees: --output is what reached omni record's stdout and stderr, not what a redirection sent to a file") {
  TempDir t;
  fs::path file = t / "two.txt";
  // One process: sh runs echo with fd 1 redirected to a file, then to stderr.
  const std::vector<std::string> command = {"sh", "-c", "echo one; echo two > '" + file.string() + "'; echo three >&2"};
  RunResult native = run(command);
  REQUIRE(native.status == 0);
  REQUIRE(native.err == "three\n");
  fs::remove(file);
  fs::path dir = record_command(t, command, native.out);
  CHECK(read_file(file) == "two\n");
  REQUIRE(run_omni({"index", dir.string()}).status == 0);
  RunResult q = run_omni({"query", dir.string(), "--output"});
  REQUIRE(q.status == 0);
  std::vector<Object> writes = parse_json_lines(q.out);
  REQUIRE(writes.size() == 2);
  CHECK(writes[0].at("text").s == native.out);
  CHECK(writes[1].at("text").s == native.err);
  CHECK(writes[1].at("fd").i == 1);  // echo's fd 1, a copy of stderr
  // The write into the file is still a recorded system call.
  RunResult calls = run_omni({"query", dir.string(), "--syscalls", "--name", "write"});
  REQUIRE(calls.status == 0);
  CHECK(parse_json_lines(calls.out).size() == 3);
}

TEST_CASE("process trees: posix_spawn, system and popen children are recorded, and --process NAME picks one or lists the candidates") {
  // Truth: the native run's output, and strace -f's execve calls (the PATH
  // walk of posix_spawnp fails until it finds echo).
  const std::string program = subject("spawns").string();
  RunResult native = run({program});
  REQUIRE(native.status == 0);
  TempDir t;
  fs::path trace_log = t / "strace.txt";
  RunResult traced = run({"strace", "-f", "-qq", "-e", "trace=execve", "-o", trace_log.string(), program});
  REQUIRE(traced.status == 0);
  REQUIRE(traced.out == native.out);
  std::vector<std::string> exec_paths;  // successful execve, the root's own left out
  size_t failed_execs = 0;
  for (const std::string& line : split_lines(read_file(trace_log))) {
    size_t q = line.find("execve(\"");
    if (q == std::string::npos) continue;
    std::string path = line.substr(q + 8, line.find('"', q + 8) - (q + 8));
    if (line.find(") = 0") != std::string::npos) {
      if (path != program) exec_paths.push_back(path);
    } else {
      ++failed_execs;
    }
  }
  REQUIRE(exec_paths.size() == 3);  // echo, and sh twice
  fs::path dir = record_command(t, {program}, native.out);
  REQUIRE(run_omni({"index", dir.string()}).status == 0);

  // Three forks of the root, each exec'd a program strace saw exec'd.
  Object dump = dump_json(dir);
  auto processes = processes_of(dump);
  std::vector<std::string> recorded_paths;
  for (const auto& [n, p] : processes) {
    if (n == 1) continue;
    if (field(*p, "origin")->s == "fork") {
      CHECK(field(*p, "parent_process")->i == 1);
      CHECK(field(*p, "exec_into")->i != 0);
    } else {
      const Value& forked = *processes.at(field(*p, "parent_process")->i);
      CHECK(field(forked, "origin")->s == "fork");
      recorded_paths.push_back(args_of(*p).at(0));
      CHECK(field(*p, "program")->s == args_of(*p).at(0));
      // Causality in the one order: the exec'd image starts after the
      // forked image's last call, its execve.
      CHECK(field(*p, "seq_first")->i > field(forked, "seq_last")->i);
      CHECK(field(forked, "seq_first")->i > field(*processes.at(1), "seq_first")->i);
    }
    CHECK(field(*p, "events")->i > 0);
    CHECK(field(*p, "started")->kind == Value::Kind::String);
  }
  CHECK(processes.size() == 7);
  std::sort(exec_paths.begin(), exec_paths.end());
  std::sort(recorded_paths.begin(), recorded_paths.end());
  CHECK(recorded_paths == exec_paths);

  // The terminal's lines, in order: echo's, the shells' (not the popen
  // shell's, which went into the pipe), the parent's.
  RunResult out = run_omni({"query", dir.string(), "--output"});
  REQUIRE(out.status == 0);
  std::string text;
  for (const Object& o : parse_json_lines(out.out)) text += o.at("text").s;
  CHECK(text == native.out);

  // Every execve across the processes, failed ones too.
  RunResult calls = run_omni({"query", dir.string(), "--syscalls", "--name", "execve"});
  REQUIRE(calls.status == 0);
  size_t failed = 0, succeeded = 0;
  for (const Object& o : parse_json_lines(calls.out)) {
    if (o.at("result").kind == Value::Kind::Null) ++succeeded;
    else if (o.at("result").i < 0) ++failed;
  }
  CHECK(succeeded == 3);
  CHECK(failed == failed_execs);

  // --process NAME: echo is one process; sh names two, and the error lists them.
  RunResult echo = run_omni({"query", dir.string(), "--process", "echo", "--syscalls", "--name", "write"});
  INFO(echo.describe());
  REQUIRE(echo.status == 0);
  CHECK(parse_json_lines(echo.out).size() == 1);
  CHECK(echo.err.empty());
  RunResult sh = run_omni({"query", dir.string(), "--process", "sh", "--syscalls"});
  CHECK(sh.status == 1);
  CHECK(sh.err.find("omni: error: 'sh' names 2 recorded processes: ") == 0);
  RunResult none = run_omni({"query", dir.string(), "--process", "python3", "--syscalls"});
  CHECK(none.status == 1);
  CHECK(none.err.find("no recorded process ran 'python3'") != std::string::npos);
  // Without a process named, a question about one address space is about
  // the root, and says so.
  std::vector<Write> ws = where_written(dir, "g_status", {"--process", "1"});
  REQUIRE_FALSE(ws.empty());
  CHECK(le_signed(ws.back().data) == 0);  // pclose's status, the last
  RunResult regs = run_omni({"query", dir.string(), "--registers"});
  REQUIRE(regs.status == 0);
  CHECK(regs.err.find("omni: about process 1 (pid ") == 0);
  CHECK(regs.err.find("the recording has 7") != std::string::npos);
}

TEST_CASE("process trees: twenty processes alive at once are all recorded, those beyond sixteen with fewer slots") {
  // Each child writes its buffer four times over and prints its sum; they
  // start writing only once all twenty exist, so the recorder holds twenty
  // images at once (the last four get two slots, not four).
  RunResult native = run({subject("crowd").string(), "20"});
  REQUIRE(native.status == 0);
  Recording r = record("crowd", {"20"});
  std::vector<std::string> want = split_lines(native.out), got = split_lines(r.rec.out);
  std::sort(want.begin(), want.end());
  std::sort(got.begin(), got.end());
  CHECK(got == want);
  REQUIRE(run_omni({"index", r.dir.string()}).status == 0);
  Object dump = dump_json(r.dir);
  auto processes = processes_of(dump);
  REQUIRE(processes.size() == 21);
  std::set<int64_t> children_seen;
  for (const auto& [n, p] : processes) {
    if (n == 1) continue;
    INFO("process ", n);
    CHECK(field(*p, "recording_complete")->b);
    std::string text = output_of(r.dir, n);
    int64_t child = -1, sum = -1;
    REQUIRE(std::sscanf(text.c_str(), "child %" SCNd64 " sum %" SCNd64, &child, &sum) == 2);
    CHECK(field(*p, "exit_code")->i == child);
    children_seen.insert(child);
    CHECK(last_value(r.dir, n, "g_sum") == sum);
    // g_buffer[1000] as each of the four rounds left it: 1000 * (child + 1) + round.
    std::vector<Write> ws = where_written(r.dir, "g_buffer[1000]", {"--process", std::to_string(n)});
    REQUIRE(ws.size() == 4);
    for (int round = 0; round < 4; ++round)
      CHECK(ws[size_t(round)].data == std::vector<uint8_t>{uint8_t(1000 * (child + 1) + round)});
  }
  CHECK(children_seen.size() == 20);
}

TEST_CASE("process trees: env python3 is followed into python, whose calls the recording answers") {
  RunOptions opts;
  opts.env["PATH"] = "/usr/bin:/bin";  // python3 itself, not a wrapper found first
  TempDir t;
  fs::path dir = t / "trace";
  RunResult rec = run_omni({"record", "-o", dir.string(), "--", "/usr/bin/env", "python3", "-c", "print(42)"}, opts);
  INFO("omni record: ", rec.describe());
  REQUIRE(rec.status == 0);
  CHECK(rec.out == "42\n");
  RunResult ix = run_omni({"index", dir.string()});
  INFO("omni index: ", ix.describe());
  REQUIRE(ix.status == 0);
  CHECK(ix.err.find("cut short") == std::string::npos);
  CHECK(ix.err.find("warning") == std::string::npos);
  Object dump = dump_json(dir);
  auto processes = processes_of(dump);
  REQUIRE(processes.size() == 2);
  const Value& python = *processes.at(2);
  INFO("process 2 ran ", field(python, "args")->repr());
  CHECK(fs::path(args_of(python).at(0)).filename().string().rfind("python3", 0) == 0);
  CHECK(output_of(dir, 2) == "42\n");
  // Python's main returns its exit status.
  RunResult calls = run_omni({"query", dir.string(), "--process", "2", "--calls", "Py_BytesMain"});
  INFO("--calls: ", calls.describe());
  REQUIRE(calls.status == 0);
  std::vector<Object> rows = parse_json_lines(calls.out);
  REQUIRE(rows.size() == 1);
  REQUIRE(rows[0].count("return"));
  CHECK((rows[0]["return"].is_int() && rows[0]["return"].i == 0));
}

TEST_CASE("process trees: a fork from a second thread, two calls deep: the child's stack goes on in its parent's, as gdb's does") {
  // Truth: gdb following the child of a native run, stopped at its write.
  fs::path prog = subject("thread_fork");
  RunResult gdb = run({"gdb", "-batch", "-nx", "-ex", "set follow-fork-mode child", "-ex", "set detach-on-fork on",
                       "-ex", "break thread_fork.c:15", "-ex", "run", "-ex", "bt", prog.string()});
  INFO("gdb: ", gdb.describe());
  std::vector<std::string> truth;
  for (const std::string& line : split_lines(gdb.out)) {
    if (line.size() < 2 || line[0] != '#') continue;
    std::string rest = line.substr(line.find(' ') + 1);
    rest = rest.substr(rest.find_first_not_of(' '));
    if (rest.rfind("0x", 0) == 0) rest = rest.substr(rest.find(" in ") + 4);
    truth.push_back(rest.substr(0, rest.find(' ')));
  }
  REQUIRE(truth.size() >= 3);
  REQUIRE(truth[0] == "spawn_child");
  REQUIRE(truth[1] == "worker");
  REQUIRE(truth[2] == "start_thread");

  Recording r = record("thread_fork");
  CHECK(r.rec.out.find("child g_value 42\n") != std::string::npos);
  RunResult ix = run_omni({"index", "--verify", r.dir.string()});
  INFO("omni index --verify: ", ix.describe());
  CHECK(ix.status == 0);
  Object dump = dump_json(r.dir);
  auto processes = processes_of(dump);
  REQUIRE(processes.size() == 2);
  CHECK(field(*processes.at(2), "exit_code")->i == 5);
  // The child's one thread is thread 1 of its recording.
  Object child = dump_json(field(*processes.at(2), "dir")->s);
  REQUIRE(child["threads"].array.size() == 1);

  std::vector<Write> ws = where_written(r.dir, "g_value", {"--process", "2", "--stack"});
  REQUIRE(ws.size() == 1);
  CHECK(le_signed(ws[0].data) == 42);
  RunResult q = run_omni({"query", r.dir.string(), "--process", "2", "--where-written", "g_value", "--stack"});
  REQUIRE(q.status == 0);
  Object answer = parse_json_object(split_lines(q.out).at(0));
  std::vector<std::string> functions;
  for (const Value& frame : answer["stack"].array) {
    const Value* inl = field(frame, "inline");
    if (inl && inl->is_bool() && inl->b) continue;
    functions.push_back(field(frame, "function")->s);
  }
  // gdb's frames up to start_thread (the thread's outermost frame is
  // clone3 natively, __clone under Valgrind, which has no clone3).
  REQUIRE(functions.size() >= 3);
  CHECK(std::vector<std::string>(functions.begin(), functions.begin() + 3) ==
        std::vector<std::string>(truth.begin(), truth.begin() + 3));
}

TEST_CASE("process trees: an orphan that outlives process 1 is recorded until it exits, as its parent's child") {
  const std::vector<std::string> command = {"sh", "-c", "(sleep 1; echo late) & echo early"};
  RunResult native = run(command);
  REQUIRE(native.out == "early\nlate\n");
  TempDir t;
  fs::path dir = record_command(t, command, native.out);  // omni record waited for the orphan
  REQUIRE(run_omni({"index", dir.string()}).status == 0);
  Object dump = dump_json(dir);
  auto processes = processes_of(dump);
  // sh, the subshell (an orphan once sh exits), its fork for sleep, sleep.
  REQUIRE(processes.size() == 4);
  const Value& subshell = *processes.at(2);
  CHECK(field(subshell, "parent_process")->i == 1);
  CHECK(field(subshell, "ppid")->i == field(*processes.at(1), "pid")->i);
  CHECK(field(subshell, "exit_code")->i == 0);
  CHECK(output_of(dir, 2) == "late\n");
  CHECK(dump["unrecorded_children"].array.empty());
}

TEST_CASE("process trees: --skip runs a named program natively, with nothing of the recorder's, and says so") {
  // fd_probe prints the descriptors it got: natively and under --skip the
  // same (no key pipe, no log descriptor of the tool's leaks into it).
  const std::string probe = subject("fd_probe").string();
  const std::vector<std::string> command = {"sh", "-c", probe + "; ls -d / | cat"};
  RunResult native = run(command);
  REQUIRE(native.status == 0);
  TempDir t;
  fs::path dir = t / "trace";
  std::vector<std::string> a = {"record", "--skip", "fd_probe", "--skip", "cat", "-o", dir.string(), "--"};
  a.insert(a.end(), command.begin(), command.end());
  RunResult rec = run_omni(a);
  INFO("omni record: ", rec.describe());
  REQUIRE(rec.status == 0);
  CHECK(rec.out == native.out);
  REQUIRE(run_omni({"index", dir.string()}).status == 0);
  Object dump = dump_json(dir);
  auto processes = processes_of(dump);
  // sh; its forks for fd_probe, ls and cat; only ls exec'd into a recorded
  // image.
  REQUIRE(processes.size() == 5);
  int skipped = 0, ls = 0;
  for (const auto& [n, p] : processes) {
    if (n == 1) continue;
    const Value* into = field(*p, "exec_into");
    if (field(*p, "origin")->s == "exec") {
      CHECK(fs::path(args_of(*p).at(0)).filename() == "ls");
      ++ls;
    } else if (!into || into->is_null()) {
      CHECK(field(*p, "ended_by")->s == "exec");  // exec'd a program that ran unrecorded
      ++skipped;
    }
  }
  CHECK(skipped == 2);
  CHECK(ls == 1);
  // No recorded process wrote to the terminal: ls wrote into the pipe, and
  // the skipped cat, which printed it, ran unrecorded.
  RunResult out = run_omni({"query", dir.string(), "--output"});
  REQUIRE(out.status == 0);
  CHECK(out.out.empty());
}
