// Program output and system calls (issue 3), against the program's real
// output and strace of a native run.
#include <doctest/doctest.h>

#include <regex>

#include "harness.h"
#include "omni_fixture.h"

using namespace omni::test;

namespace {

std::vector<Object> query_lines(const fs::path& dir, std::vector<std::string> args) {
  args.insert(args.begin(), {"query", dir.string()});
  RunResult q = run_omni(args);
  INFO("omni ", args[2], ": ", q.describe());
  REQUIRE(q.status == 0);
  CHECK(q.err.empty());
  std::vector<Object> out;
  for (const auto& line : split_lines(q.out)) out.push_back(parse_json_object(line));
  return out;
}

struct Call {
  std::string name;
  long long fd;
  long long result;
  bool operator==(const Call&) const = default;
};

// `strace -e trace=read,write,writev` of a native run: (name, first arg, result).
std::vector<Call> strace_calls(const std::vector<std::string>& argv, const fs::path& log) {
  std::vector<std::string> cmd = {"strace", "-qq", "-e", "trace=read,write,writev", "-o", log.string()};
  cmd.insert(cmd.end(), argv.begin(), argv.end());
  RunResult r = run(cmd);
  REQUIRE_MESSAGE(r.status == 0, r.describe());
  std::vector<Call> calls;
  static const std::regex line(R"(^(\w+)\((\d+),.*\)\s+=\s+(-?\d+))");
  for (const auto& l : split_lines(read_file(log))) {
    std::smatch m;
    if (std::regex_search(l, m, line)) calls.push_back({m[1], std::stoll(m[2]), std::stoll(m[3])});
  }
  return calls;
}

}  // namespace

TEST_CASE("e2e output: --output equals the program's stdout and stderr byte for byte") {
  auto rec = record("chatty");
  RunResult native = run({subject("chatty").string()});
  REQUIRE(native.status == 0);
  REQUIRE(rec.rec.out == native.out);

  auto rows = query_lines(rec.dir, {"--output"});
  REQUIRE(rows.size() >= 4);
  std::string out, err;
  std::uint64_t last_time = 0;
  for (auto& row : rows) {
    REQUIRE(row["fd"].is_int());
    REQUIRE(row["time"].is_int());
    CHECK(static_cast<std::uint64_t>(row["time"].i) >= last_time);
    last_time = row["time"].i;
    auto bytes = from_hex(row["data"].s);
    std::string data(bytes.begin(), bytes.end());
    (row["fd"].i == 1 ? out : err) += data;
    // text is the same bytes where they are UTF-8, U+FFFD where not.
    REQUIRE(row["text"].is_string());
    if (data.find('\xff') == std::string::npos) CHECK(row["text"].s == data);
    else CHECK(row["text"].s == "bytes \xef\xbf\xbd\xef\xbf\xbd\n");
  }
  CHECK(out == rec.rec.out);
  CHECK(err == rec.rec.err);
  // The writev's three pieces are one write, at one time.
  bool writev_whole = false;
  for (auto& row : rows) writev_whole |= row["text"].s == "writev in three pieces\n";
  CHECK(writev_whole);
}

TEST_CASE("e2e syscalls: read and write calls agree with strace of a native run") {
  auto src = source_dir() / "suite/subjects/chatty.c";
  auto rec = record("chatty", {src.string()});
  TempDir t;
  auto native = strace_calls({subject("chatty").string(), src.string()}, t / "strace.log");

  // The loader's reads differ under Valgrind (its preload library); the
  // program's own calls are the ones on fd >= 1 after its first write.
  auto program_calls = [](std::vector<Call> calls) {
    auto first_write = std::find_if(calls.begin(), calls.end(), [](const Call& c) { return c.name != "read"; });
    return std::vector<Call>(first_write, calls.end());
  };
  std::vector<Call> recorded;
  for (auto& row : query_lines(rec.dir, {"--syscalls"})) {
    std::string name = row["name"].s;
    if (name != "read" && name != "write" && name != "writev") continue;
    REQUIRE(row["args"].kind == Value::Kind::Array);
    REQUIRE(row["result"].is_int());
    recorded.push_back({name, row["args"].array.at(0).i, row["result"].i});
  }
  auto expected = program_calls(native);
  REQUIRE(expected.size() >= 5);
  CHECK(program_calls(recorded) == expected);

  // --name keeps only that call, with its number.
  auto reads = query_lines(rec.dir, {"--syscalls", "--name", "read"});
  REQUIRE_FALSE(reads.empty());
  for (auto& row : reads) {
    CHECK(row["name"].s == "read");
    CHECK(row["nr"].i == 0);  // x86-64
  }
  // Unknown names are an error.
  RunResult bad = run_omni({"query", rec.dir.string(), "--syscalls", "--name", "no_such_call"});
  check_error(bad);
}
