// System call results against strace (issue 7): a failed execve returns to
// the program, so its result is the -errno strace shows, not null.
#include <doctest/doctest.h>

#include <cerrno>
#include <map>

#include "harness.h"
#include "omni_fixture.h"

using namespace omni::test;

namespace {

// "= -1 ENOENT (No such file or directory)" -> -ENOENT; "= 0" -> 0.
std::optional<std::int64_t> strace_result(const std::string& line) {
  static const std::map<std::string, int> kErrno = {{"ENOENT", ENOENT}, {"EACCES", EACCES},
                                                    {"ENOEXEC", ENOEXEC}, {"ENOTDIR", ENOTDIR}};
  auto eq = line.rfind(" = ");
  if (eq == std::string::npos) return std::nullopt;
  std::string rest = line.substr(eq + 3);
  if (rest.rfind("-1 ", 0) == 0) {
    std::string name = rest.substr(3, rest.find(' ', 3) - 3);
    auto it = kErrno.find(name);
    if (it == kErrno.end()) return std::nullopt;
    return -static_cast<std::int64_t>(it->second);
  }
  return std::stoll(rest);
}

}  // namespace

TEST_CASE("syscalls: a failed execve has strace's -errno as its result, and the recording goes on") {
  // The truth: strace on a native run.
  TempDir t;
  fs::path log = t / "strace.log";
  RunResult native = run({"strace", "-qq", "-e", "trace=execve", "-o", log.string(), subject("execve_missing").string()});
  REQUIRE(native.status == 0);
  std::optional<std::int64_t> expected;
  for (const auto& line : split_lines(read_file(log)))
    if (line.find("/nonexistent/omni-missing-program") != std::string::npos) expected = strace_result(line);
  INFO("strace log: ", read_file(log));
  REQUIRE(expected);
  CHECK(*expected == -ENOENT);
  // The program's own view agrees.
  CHECK(kv(native.out, "errno").value_or("?") == std::to_string(-*expected));

  auto rec = record("execve_missing");
  CHECK(rec.rec.out == native.out);
  RunResult q = run_omni({"query", rec.dir.string(), "--syscalls", "--name", "execve"});
  INFO(q.describe());
  REQUIRE(q.status == 0);
  auto rows = parse_json_lines(q.out);
  REQUIRE(rows.size() == 1);  // one row, not one for the call and one for its result
  REQUIRE(rows[0]["result"].is_int());
  CHECK(rows[0]["result"].i == *expected);

  // After the failed execve the program goes on: its later output is
  // recorded, and the registers after the syscall instruction hold the
  // result in rax.
  RunResult out = run_omni({"query", rec.dir.string(), "--output"});
  REQUIRE(out.status == 0);
  std::string text;
  for (const auto& o : parse_json_lines(out.out)) text += o.at("text").s;
  CHECK(text == native.out);
  RunResult regs =
      run_omni({"query", rec.dir.string(), "--registers", "--at", std::to_string(rows[0]["time"].i)});
  INFO(regs.describe());
  REQUIRE(regs.status == 0);
  Object r = parse_json_object(regs.out);
  CHECK(static_cast<std::int64_t>(parse_address(r["rax"].s)) == *expected);
}
