// Moments that do not exist, and questions replay cannot answer, fail in one
// line (issue 7): never an answer for another moment, or a guess.
#include <doctest/doctest.h>

#include "harness.h"
#include "omni_fixture.h"

using namespace omni::test;

namespace {

std::uint64_t last_instruction(const fs::path& dir) {
  RunResult d = run_omni({"dump", dir.string(), "--json"});
  REQUIRE(d.status == 0);
  Object o = parse_json_object(d.out);
  REQUIRE(o["instructions"].is_int());
  return static_cast<std::uint64_t>(o["instructions"].i);
}

}  // namespace

TEST_CASE("errors: --at past the end of the recording, or an output that does not exist") {
  auto rec = record("calls");
  const std::string dir = rec.dir.string();
  std::uint64_t last = last_instruction(rec.dir);
  REQUIRE(last > 0);
  // How many writes to stdout/stderr the program made: strace on a native run.
  TempDir t;
  RunResult native = run({"strace", "-qq", "-e", "trace=write,writev", "-o", (t / "log").string(),
                          subject("calls").string()});
  REQUIRE(native.status == 0);
  std::size_t outputs = 0;
  for (const auto& line : split_lines(read_file(t / "log")))
    if (line.rfind("write(1,", 0) == 0 || line.rfind("write(2,", 0) == 0 || line.rfind("writev(1,", 0) == 0 ||
        line.rfind("writev(2,", 0) == 0)
      ++outputs;
  REQUIRE(outputs > 0);

  const std::vector<std::vector<std::string>> questions = {
      {"--read", "g_total"}, {"--registers"}, {"--stack"}, {"--read", "local:i"}};
  for (const auto& question : questions) {
    CAPTURE(question.front());
    auto refused = [&](const std::string& at) {
      CAPTURE(at);
      std::vector<std::string> a = {"query", dir};
      a.insert(a.end(), question.begin(), question.end());
      a.insert(a.end(), {"--at", at});
      RunResult r = run_omni(a);
      check_error(r);
      CHECK(r.out.empty());
      return r;
    };
    for (const std::string& at : {std::to_string(last + 1), std::string("99999999999")}) {
      RunResult r = refused(at);
      // The message names the moment asked for and the last instruction.
      CHECK(r.err.find(at) != std::string::npos);
      CHECK(r.err.find("last instruction " + std::to_string(last)) != std::string::npos);
    }
    for (const std::string& at : {"output:" + std::to_string(outputs + 1), std::string("output:0"),
                                  std::string("output:1abc"), std::string("output:")})
      refused(at);
  }
  // The last instruction itself, and the last output, are moments of the recording.
  for (const std::string& at : {std::to_string(last), "output:" + std::to_string(outputs)}) {
    CAPTURE(at);
    RunResult r = run_omni({"query", dir, "--read", "g_total", "--at", at});
    INFO(r.describe());
    CHECK(r.status == 0);
    CHECK(r.err.empty());
  }
}

TEST_CASE("errors: --stack fails when replay cannot tell where the thread is, instead of guessing") {
  auto rec = record("calls");
  const std::string dir = rec.dir.string();
  // A moment inside the program: main's first call.
  RunResult calls = run_omni({"query", dir, "--calls", "main"});
  REQUIRE(calls.status == 0);
  auto rows = parse_json_lines(calls.out);
  REQUIRE(rows.size() == 1);
  std::string at = std::to_string(rows[0]["time"].i + 20);
  RunResult good = run_omni({"query", dir, "--stack", "--at", at});
  INFO(good.describe());
  REQUIRE(good.status == 0);

  // Without the recorded code, replay cannot run: the innermost pc is unknown.
  RunResult del = run({"sqlite3", (rec.dir / "index.db").string(), "DELETE FROM blocks"});
  REQUIRE(del.status == 0);
  for (const char* question : {"--stack", "--registers"}) {
    CAPTURE(question);
    RunResult r = run_omni({"query", dir, question, "--at", at});
    check_error(r);
    CHECK(r.out.empty());
  }
}

TEST_CASE("errors: --tid of a thread the recording does not have names the threads it has") {
  auto rec = record("threads");
  RunResult d = run_omni({"dump", rec.dir.string(), "--json"});
  REQUIRE(d.status == 0);
  std::string known;
  std::int64_t missing = 1;
  Object dump = parse_json_object(d.out);
  for (const Value& t : dump["threads"].array)
    for (const auto& [k, v] : t.object)
      if (k == "tid") {
        known += (known.empty() ? "" : ", ") + std::to_string(v.i);
        missing = std::max(missing, v.i + 1);
      }
  REQUIRE(known.find(',') != std::string::npos);  // several threads
  for (const std::vector<std::string>& q :
       {std::vector<std::string>{"--registers"}, {"--stack"}, {"--read", "local:i"}}) {
    std::vector<std::string> args = {"query", rec.dir.string()};
    args.insert(args.end(), q.begin(), q.end());
    args.insert(args.end(), {"--tid", std::to_string(missing), "--at", "1000"});
    RunResult r = run_omni(args);
    CAPTURE(q[0]);
    check_error(r);
    CHECK(r.err.find("no thread " + std::to_string(missing) + " in this recording (its threads: " + known + ")") !=
          std::string::npos);
  }
}
