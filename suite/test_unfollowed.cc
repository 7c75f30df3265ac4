// What omni does not record is said, not hidden: with `--no-exec` a
// recording that ends where the program exec'd says so, with the call, path
// and argv (from the program's memory), instead of "cut short"; with
// `--no-children` the child processes the program forked are listed as not
// recorded. By default both are recorded, as processes of their own, and a
// recording that ends by an exec names the process that continues it. A
// recording cut by SIGKILL is still cut short, even when its stream ends
// like an exec's.
#include <doctest/doctest.h>

#include <algorithm>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "background.h"
#include "omni_fixture.h"

using namespace omni::test;

namespace {

std::string str(Object& o, const std::string& key) {
  REQUIRE_MESSAGE((o.count(key) && o[key].is_string()), key << " is not a string");
  return o[key].s;
}

std::vector<std::string> strings(const Value& v) {
  REQUIRE(v.kind == Value::Kind::Array);
  std::vector<std::string> out;
  for (const auto& e : v.array) {
    REQUIRE(e.is_string());
    out.push_back(e.s);
  }
  return out;
}

const Value& member(const Value& v, const std::string& key) {
  REQUIRE(v.kind == Value::Kind::Object);
  for (const auto& [k, value] : v.object)
    if (k == key) return value;
  FAIL("no key " << key << " in " << v.repr());
  static Value none;
  return none;
}

// "PREFIX N" lines of a program's own output: the pids it printed.
std::vector<int64_t> printed_pids(const std::string& out, const std::string& prefix) {
  std::vector<int64_t> pids;
  for (const auto& line : split_lines(out))
    if (line.rfind(prefix, 0) == 0) pids.push_back(std::stoll(line.substr(prefix.size())));
  return pids;
}

// The pids forks_and_execs's children printed, each from the child itself:
// the fork child's, the vfork child's, the spawn child's.
std::vector<int64_t> children_printed(const std::string& out) {
  std::vector<int64_t> truth;
  for (const char* kind : {"fork child ", "vfork child ", "spawn child "}) {
    std::vector<int64_t> pids = printed_pids(out, kind);
    REQUIRE_MESSAGE(pids.size() == 1, kind << "in " << out);
    truth.push_back(pids[0]);
  }
  return truth;
}

// `omni record [OPTIONS] -o DIR -- ARGV...` of any program, then `omni
// index`; the index's stderr.
std::string record_and_index(const fs::path& dir, const std::vector<std::string>& argv, RunResult* rec,
                             const std::vector<std::string>& options = {}) {
  std::vector<std::string> a = {"record"};
  a.insert(a.end(), options.begin(), options.end());
  a.insert(a.end(), {"-o", dir.string(), "--"});
  a.insert(a.end(), argv.begin(), argv.end());
  *rec = run_omni(a);
  INFO("omni record: ", rec->describe());
  REQUIRE_FALSE(rec->timed_out);
  RunResult ix = run_omni({"index", dir.string()});
  INFO("omni index: ", ix.describe());
  REQUIRE(ix.status == 0);
  return ix.err;
}

}  // namespace

TEST_CASE("unfollowed: forked children and the final exec are listed as not recorded, against the program's truth") {
  // --no-children --no-exec: the children and the exec'd program run
  // unrecorded (recorded ones: the next test case).
  Recording r{TempDir(), subject("forks_and_execs"), {}, {}};
  r.dir = r.tmp / "trace";
  r.rec = run_omni({"record", "--no-children", "--no-exec", "-o", r.dir.string(), "--", r.prog.string()});
  INFO("omni record: ", r.rec.describe());
  REQUIRE(r.rec.status == 0);
  RunResult ix = run_omni({"index", r.dir.string()});
  INFO("omni index: ", ix.describe());
  REQUIRE(ix.status == 0);
  const std::string said = "ends where the program called execve(\"/bin/true\", ...) at time ";
  CHECK(ix.err.find(said) != std::string::npos);
  CHECK(ix.err.find("the new image ran unrecorded") != std::string::npos);
  CHECK(ix.err.find("cut short") == std::string::npos);

  std::vector<int64_t> truth = children_printed(r.rec.out);

  Object o = dump_json(r.dir);
  CHECK(str(o, "ended_by") == "exec");
  REQUIRE(o.count("exec"));
  const Value& exec = o["exec"];
  CHECK(member(exec, "call").s == "execve");
  CHECK(member(exec, "path").s == "/bin/true");
  CHECK(strings(member(exec, "argv")) == std::vector<std::string>{"true", "from-subject"});
  CHECK(member(exec, "tid").i == 1);
  int64_t exec_time = member(exec, "time").i;
  // Not the recording's own completeness: the new image is not in it.
  CHECK((o["recording_complete"].is_bool() && !o["recording_complete"].b));
  CHECK((o["exit_code"].is_int() && o["exit_code"].i == 0));

  // The exec is the last system call, the one without a result.
  RunResult sc = run_omni({"query", r.dir.string(), "--syscalls"});
  REQUIRE(sc.status == 0);
  CHECK(sc.err.find(said) != std::string::npos);
  CHECK(sc.err.find("cut short") == std::string::npos);
  std::vector<Object> calls = parse_json_lines(sc.out);
  REQUIRE_FALSE(calls.empty());
  CHECK(calls.back()["name"].s == "execve");
  CHECK(calls.back()["time"].i == exec_time);
  CHECK(calls.back()["result"].is_null());
  // Their output and system calls are not in the answer: it says so.
  CHECK(sc.err.find("omni: warning: 3 child processes ran unrecorded") != std::string::npos);

  // Children: the pids the children printed, in order, each a successful
  // fork-like call of thread 1 before the exec, as the syscalls say.
  REQUIRE(o["unrecorded_children"].kind == Value::Kind::Array);
  std::vector<int64_t> listed;
  int64_t last_time = -1;
  for (const Value& c : o["unrecorded_children"].array) {
    int64_t pid = member(c, "pid").i, time = member(c, "time").i;
    listed.push_back(pid);
    CHECK(member(c, "tid").i == 1);
    CHECK(member(c, "recorded").b == false);
    CHECK(time > last_time);
    CHECK(time < exec_time);
    last_time = time;
    std::string call = member(c, "call").s;
    bool found = false;
    for (auto& row : calls)
      if (row["time"].i == time && row["name"].s == call && row["result"].is_int() && row["result"].i == pid)
        found = true;
    CHECK_MESSAGE(found, "no " << call << " = " << pid << " at " << time << " in --syscalls");
  }
  CHECK(listed == truth);

  RunResult text = run_omni({"dump", r.dir.string()});
  REQUIRE(text.status == 0);
  for (int64_t pid : truth)
    CHECK(text.out.find("child process " + std::to_string(pid) + " forked at time ") != std::string::npos);
  CHECK(text.out.find("execve(\"/bin/true\", ...)") != std::string::npos);
  CHECK(text.out.find("cut short") == std::string::npos);
}

TEST_CASE("unfollowed: forked children and exec'd programs are recorded processes") {
  Recording r = record("forks_and_execs");
  std::vector<int64_t> truth = children_printed(r.rec.out);
  Object o = dump_json(r.dir);
  REQUIRE(o["unrecorded_children"].kind == Value::Kind::Array);
  CHECK(o["unrecorded_children"].array.empty());
  REQUIRE(o.count("processes"));
  std::vector<int64_t> forked;
  std::map<int64_t, std::vector<std::string>> exec_args_by_pid;  // the images exec'd, by pid
  for (const Value& p : o["processes"].array) {
    if (member(p, "process").i == 1) continue;
    if (member(p, "origin").s == "fork") {
      CHECK(member(p, "parent_process").i == 1);
      forked.push_back(member(p, "pid").i);
    } else {
      CHECK(member(p, "origin").s == "exec");
      exec_args_by_pid[member(p, "pid").i] = strings(member(p, "args"));
    }
  }
  CHECK(forked == truth);
  // The vfork and spawn children exec'd sh (which printed their pids), the
  // root /bin/true: each a recorded image of the same pid.
  REQUIRE(exec_args_by_pid.count(truth[1]));
  CHECK(exec_args_by_pid[truth[1]].at(0) == "/bin/sh");
  REQUIRE(exec_args_by_pid.count(truth[2]));
  CHECK(exec_args_by_pid[truth[2]].at(0) == "/bin/sh");
  REQUIRE(o["exec"].kind == Value::Kind::Object);
  CHECK(str(o, "ended_by") == "exec");
  bool true_image = false;
  for (const auto& [pid, args] : exec_args_by_pid)
    if (args == std::vector<std::string>{"/bin/true", "from-subject"}) true_image = true;
  CHECK(true_image);
}

TEST_CASE("unfollowed: with --no-exec, sh -c 'echo a, exec ls -d /' ends by the exec of the ls the shell finds") {
  TempDir t;
  RunResult rec;
  std::string index_err =
      record_and_index(t / "trace", {"sh", "-c", "echo a; exec ls -d /"}, &rec, {"--no-exec"});
  RunResult native = run({"sh", "-c", "echo a; exec ls -d /"});
  CHECK(rec.status == native.status);
  CHECK(rec.out == native.out);
  CHECK(index_err.find("cut short") == std::string::npos);
  RunResult which = run({"sh", "-c", "command -v ls"});  // the same PATH walk
  REQUIRE(which.status == 0);
  std::string ls = split_lines(which.out).at(0);

  Object o = dump_json(t / "trace");
  CHECK(str(o, "ended_by") == "exec");
  CHECK(member(o["exec"], "path").s == ls);
  CHECK(strings(member(o["exec"], "argv")) == std::vector<std::string>{"ls", "-d", "/"});
  CHECK(o["unrecorded_children"].array.empty());
  RunResult q = run_omni({"query", (t / "trace").string(), "--output"});
  REQUIRE(q.status == 0);
  CHECK(q.err.find("execve(\"" + ls + "\", ...)") != std::string::npos);
}

TEST_CASE("unfollowed: a shell's background child is recorded with the pid the shell gives it, the recording is complete") {
  TempDir t;
  RunResult rec;
  std::string index_err = record_and_index(t / "trace", {"sh", "-c", "/bin/true & echo $!; wait; echo done"}, &rec);
  CHECK(rec.status == 0);
  CHECK(index_err.find("warning") == std::string::npos);
  std::vector<std::string> lines = split_lines(rec.out);
  REQUIRE(lines.size() == 2);
  CHECK(lines[1] == "done");
  Object o = dump_json(t / "trace");
  CHECK(str(o, "ended_by") == "exit");
  CHECK(o["exec"].is_null());
  CHECK(o["unrecorded_children"].array.empty());
  // The child is process 2, recorded up to its exec of /bin/true, which is
  // process 3.
  REQUIRE(o["processes"].array.size() == 3);
  const Value& child = o["processes"].array[1];
  CHECK(std::to_string(member(child, "pid").i) == lines[0]);
  CHECK(member(child, "exec_into").i == 3);
  Object own = dump_json(member(child, "dir").s);
  CHECK(str(own, "ended_by") == "exec");
  CHECK(member(own["exec"], "path").s == "/bin/true");
  const Value& image = o["processes"].array[2];
  CHECK(member(image, "pid").i == member(child, "pid").i);
  CHECK(strings(member(image, "args")) == std::vector<std::string>{"/bin/true"});
  CHECK(member(image, "exit_code").i == 0);
  RunResult out = run_omni({"query", (t / "trace").string(), "--output"});
  REQUIRE(out.status == 0);
  CHECK(out.err.empty());
  std::string text;
  for (const Object& w : parse_json_lines(out.out)) text += w.at("text").s;
  CHECK(text == rec.out);  // every process's output in one order: the shell's two lines
  // A question about the recorded process's own memory does not warn; it
  // only says which of the processes it is about.
  RunResult regs = run_omni({"query", (t / "trace").string(), "--registers"});
  REQUIRE(regs.status == 0);
  CHECK(regs.err.rfind("omni: about process 1 (pid ", 0) == 0);
  CHECK(regs.err.find("warning") == std::string::npos);
  CHECK(split_lines(regs.err).size() == 1);
}

TEST_CASE("unfollowed: SIGKILL after a failed execve is still cut short, though the stream ends like an exec's") {
  TempDir t;
  fs::path dir = t / "trace";
  Background rec;
  // The loop after "ready" logs nothing (no stores, no block entries, no
  // snapshots): nothing fills the tool's buffer and flushes the execve's
  // result before the kill (a loop that stored did, on a faster machine).
  start(rec, {bin("omni").string(), "record", "--no-every-block", "--snapshot-interval", "1099511627776", "-o",
              dir.string(), "--", subject("forks_and_execs").string(), "failed-exec-then-spin"},
        t.path());
  rec.wait_for_output("ready\n");
  pid_t vg = recorder_child(rec.pid);
  REQUIRE(kill(vg, SIGKILL) == 0);
  REQUIRE(rec.wait(30));
  CHECK(rec.status == 128 + SIGKILL);
  RunResult ix = run_omni({"index", dir.string()});
  INFO("omni index: ", ix.describe());
  REQUIRE(ix.status == 0);
  CHECK(ix.err.find("the recording was cut short") != std::string::npos);
  CHECK(ix.err.find("execve(") == std::string::npos);
  Object o = dump_json(dir);
  CHECK(str(o, "ended_by") == "cut");
  CHECK(o["exec"].is_null());
  RunResult q = run_omni({"query", dir.string(), "--syscalls", "--name", "execve"});
  REQUIRE(q.status == 0);
  CHECK(q.err.find("the recording was cut short") != std::string::npos);
  // The stream's last call is that execve, without a result: only the
  // SIGKILL tells it from an exec.
  std::vector<Object> calls = parse_json_lines(q.out);
  REQUIRE(calls.size() == 1);
  CHECK(calls[0]["result"].is_null());
}
