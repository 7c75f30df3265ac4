// omni query --executions: every time code ran, against gdb's breakpoints on
// a native run of the same subject (suite/subjects/executions.c): a loop
// body, a recursive function, functions broken on past their prologue, and
// libc's strlen. Truth is gdb's sequence of stops (each breakpoint's hits,
// in order) and its breakpoint addresses; replay's registers at each
// answer's time must show the thread at that pc.
#include <doctest/doctest.h>

#include <algorithm>
#include <fstream>
#include <map>
#include <regex>

#include "omni/index/reader.h"
#include "omni/replay/executions.h"
#include "omni_fixture.h"

using namespace omni::test;

namespace {

std::vector<Object> executions(const fs::path& dir, const std::vector<std::string>& args) {
  std::vector<std::string> a = {"query", dir.string(), "--executions"};
  a.insert(a.end(), args.begin(), args.end());
  RunResult q = run_omni(a);
  INFO("omni query --executions: ", q.describe());
  REQUIRE(q.status == 0);
  CHECK(q.err.empty());
  std::vector<Object> out = parse_json_lines(q.out);
  for (const Object& o : out) {
    for (const char* key : {"time", "tid", "pc", "function", "file", "line", "location"})
      CHECK_MESSAGE(o.count(key), "key ", key, " missing");
    CHECK(o.size() == 7);
  }
  for (size_t k = 1; k < out.size(); ++k) CHECK(out[k - 1].at("time").i <= out[k].at("time").i);
  return out;
}

// A libc string function's name without glibc's ifunc variant (__strlen_avx2,
// __strlen_evex: Valgrind hides AVX-512, so the variant differs natively).
std::string without_variant(std::string name) {
  static const std::regex variant(R"(^__(\w+?)_(sse2|sse4_2|ssse3|avx2|avx2_rtm|evex|evex512|avx512|erms|unaligned.*)$)");
  std::smatch m;
  if (std::regex_match(name, m, variant)) return m[1];
  return name;
}

struct GdbBreakpoint {
  std::uint64_t addr = 0;
  std::string function;
  long hits = 0;
};

struct GdbRun {
  std::vector<int> stops;                 // breakpoint numbers, in the order gdb stopped
  std::map<int, GdbBreakpoint> breakpoints;
};

// gdb on PROG ARGS: `break main`, run, then `breaks` (each one breakpoint
// command; one gdb cannot set is skipped), each silently printing its number
// at every stop and continuing.
GdbRun gdb_stops(const fs::path& prog, const std::vector<std::string>& args, const std::vector<std::string>& breaks) {
  // Breakpoints by -ex, which goes on after one gdb cannot set (a variant
  // this CPU's libc lacks), where a script would stop; the commands then
  // from a script.
  TempDir tmp;
  fs::path script = tmp / "stops.gdb";
  {
    std::ofstream s(script);
    s << "commands 2-$bpnum\nsilent\nprintf \"STOP %d\\n\", $_hit_bpnum\ncontinue\nend\ncontinue\ninfo breakpoints\n";
  }
  std::vector<std::string> argv = {"gdb", "-batch", "-nx", "-ex", "set pagination off", "-ex", "set confirm off",
                                   "-ex", "set breakpoint pending off", "-ex", "break main", "-ex", "run"};
  for (const std::string& b : breaks) {
    argv.push_back("-ex");
    argv.push_back(b);
  }
  argv.insert(argv.end(), {"-x", script.string(), "--args", prog.string()});
  argv.insert(argv.end(), args.begin(), args.end());
  RunResult g = run(argv);
  INFO("gdb: ", g.describe());
  REQUIRE(g.exited);
  GdbRun out;
  std::regex stop(R"(^STOP (\d+)$)"), head(R"(^(\d+)\s+breakpoint\s+keep\s+y\s+0x([0-9a-f]+) in (\S+))"),
      hit(R"(breakpoint already hit (\d+) time)");
  int current = 0;
  for (const std::string& line : split_lines(g.out)) {
    std::smatch m;
    if (std::regex_search(line, m, stop)) {
      out.stops.push_back(std::stoi(m[1]));
    } else if (std::regex_search(line, m, head)) {
      current = std::stoi(m[1]);
      out.breakpoints[current] = {std::stoull(m[2], nullptr, 16), m[3], 0};
    } else if (current && std::regex_search(line, m, hit)) {
      out.breakpoints[current].hits = std::stol(m[1]);
    }
  }
  REQUIRE_MESSAGE(!out.stops.empty(), g.out);
  return out;
}

}  // namespace

TEST_CASE("executions: a loop, a recursive function and strlen stop as often and in the order gdb's breakpoints do") {
  Recording r = record("executions", {"5"});
  // Breakpoints 2.. in this order; the strlen variants that exist natively.
  const std::vector<std::pair<std::string, std::string>> targets = {
      {"executions.c:19", "break executions.c:19"},  // the loop body
      {"fact", "break fact"},                        // recursive, past its prologue
      {"sum_to", "break sum_to"},
      {"executions.c:18", "break executions.c:18"},  // a for line: once per loop
      {"executions.c:12", "break executions.c:12"},  // fact's first line: fact's address
  };
  // gdb names one breakpoint per stop (the first at the address): the line
  // that shares fact's address counts hits, not stops.
  const std::string shared = "executions.c:12";
  std::vector<std::string> breaks;
  for (const auto& t : targets) breaks.push_back(t.second);
  for (const char* v : {"sse2", "avx2", "evex", "avx2_rtm", "evex512"}) breaks.push_back(std::string("break __strlen_") + v);
  GdbRun gdb = gdb_stops(r.prog, {"5"}, breaks);

  // gdb's stops as names: the target's, or "strlen" for a variant.
  std::map<int, std::string> name_of;
  for (const auto& [num, bp] : gdb.breakpoints) {
    if (num < 2) continue;
    if (static_cast<size_t>(num - 2) < targets.size()) name_of[num] = targets[num - 2].first;
    else name_of[num] = without_variant(bp.function);
  }
  std::vector<std::string> expected;
  for (int num : gdb.stops)
    if (name_of.at(num) != shared) expected.push_back(name_of.at(num));

  // omni's, after main began, as gdb's run after `break main`.
  std::vector<Object> main = executions(r.dir, {"main"});
  REQUIRE(main.size() == 1);
  std::int64_t t_main = main[0].at("time").i;
  std::vector<std::pair<std::int64_t, std::string>> answers;
  for (size_t k = 0; k < targets.size(); ++k) {
    std::vector<Object> xs = executions(r.dir, {targets[k].first, "--from", std::to_string(t_main)});
    const GdbBreakpoint& bp = gdb.breakpoints.at(static_cast<int>(k) + 2);
    INFO(targets[k].first);
    CHECK(static_cast<long>(xs.size()) == bp.hits);
    for (const Object& x : xs) {
      CHECK(parse_address(x.at("pc").s) == bp.addr);  // gdb's address (a non-PIE subject)
      CHECK(x.at("tid").i == 1);
      CHECK(x.at("location").i == 1);
      if (targets[k].first != shared) answers.push_back({x.at("time").i, targets[k].first});
    }
  }
  // strlen: ld.so's own strlen and libc's implementation; after main only
  // libc's runs.
  std::vector<Object> strlens = executions(r.dir, {"strlen", "--from", std::to_string(t_main)});
  for (const Object& x : strlens) {
    REQUIRE(x.at("function").is_string());
    CHECK(without_variant(x.at("function").s) == "strlen");
    answers.push_back({x.at("time").i, "strlen"});
  }
  std::stable_sort(answers.begin(), answers.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  std::vector<std::string> got;
  for (const auto& a : answers) got.push_back(a.second);
  auto joined = [](const std::vector<std::string>& v) {
    std::string out;
    for (const std::string& s : v) out += s + " ";
    return out;
  };
  INFO("gdb:  ", joined(expected));
  INFO("omni: ", joined(got));
  CHECK(got == expected);
  CHECK(std::count(expected.begin(), expected.end(), "strlen") == 5);
}

TEST_CASE("executions: at an answer's time the replayed thread is at its pc, as gdb is at a breakpoint") {
  Recording r = record("executions", {"3"});
  for (const char* target : {"fact", "executions.c:19", "strlen"}) {
    std::vector<Object> xs = executions(r.dir, {target, "--last", "3"});
    REQUIRE(xs.size() == 3);
    for (const Object& x : xs) {
      RunResult q = run_omni({"query", r.dir.string(), "--registers", "--at", std::to_string(x.at("time").i)});
      REQUIRE(q.status == 0);
      Object regs = parse_json_object(q.out);
      CHECK(regs.at("rip").s == x.at("pc").s);
      CHECK(regs.at("tid").i == x.at("tid").i);
    }
  }
  // --last N is the tail of the whole answer.
  std::vector<Object> all = executions(r.dir, {"fact"});
  std::vector<Object> last = executions(r.dir, {"fact", "--last", "4"});
  REQUIRE(all.size() >= 4);
  for (size_t k = 0; k < 4; ++k) CHECK(last[k].at("time").i == all[all.size() - 4 + k].at("time").i);
  RunResult table = run_omni({"query", r.dir.string(), "--executions", "fact", "--format", "table"});
  CHECK(table.status == 0);
  CHECK(split_lines(table.out).size() == all.size() + 1);
}

TEST_CASE("executions: next and previous execution at a time are lookups that agree with the full list") {
  Recording r = record("executions", {"4"});
  std::vector<Object> all = executions(r.dir, {"executions.c:19"});
  REQUIRE(all.size() > 4);
  omni::index::IndexReader reader(r.dir.string());
  omni::replay::Executions ex(reader, {parse_address(all[0].at("pc").s)});
  CHECK_FALSE(ex.unknown_from());
  std::vector<std::uint64_t> times;
  for (const Object& o : all) times.push_back(static_cast<std::uint64_t>(o.at("time").i));
  for (std::uint64_t t : times) {
    for (std::uint64_t probe : {t - 1, t, t + 1}) {
      auto next = ex.next(probe, std::nullopt);
      auto it = std::lower_bound(times.begin(), times.end(), probe);
      if (it == times.end()) CHECK_FALSE(next);
      else REQUIRE((next && next->time == *it));
      auto prev = ex.previous(probe, 1);
      auto before = std::lower_bound(times.begin(), times.end(), probe);
      if (before == times.begin()) CHECK_FALSE(prev);
      else REQUIRE((prev && prev->time == *(before - 1) && prev->tid == 1));
    }
  }
  CHECK_FALSE(ex.next(0, 2));  // no second thread ran it
}

TEST_CASE("executions: code whose entries the recording lacks is refused, not undercounted") {
  Recording r{TempDir(), subject("executions"), {}, {}};
  r.dir = r.tmp / "trace";
  r.rec = run_omni({"record", "--no-every-block", "-o", r.dir.string(), "--", r.prog.string(), "3"});
  REQUIRE(r.rec.status == 0);
  REQUIRE(run_omni({"index", r.dir.string()}).status == 0);
  // sum_to's loop condition: the `jmp` into it starts a superblock with no
  // store and no call, whose entries a --no-every-block recording lacks.
  RunResult d = run({"objdump", "-d", "--no-show-raw-insn", r.prog.string()});
  REQUIRE(d.status == 0);
  std::smatch m;
  std::regex jmp(R"(jmp\s+([0-9a-f]+) <sum_to\+0x[0-9a-f]+>)");
  REQUIRE(std::regex_search(d.out, m, jmp));
  std::string cond = "0x" + m[1].str();
  RunResult q = run_omni({"query", r.dir.string(), "--executions", cond});
  check_error(q);
  CHECK(q.err.find("does not log") != std::string::npos);
  // Before that block was first translated, the answer is complete (and empty).
  std::smatch t;
  std::string err = q.err;
  REQUIRE(std::regex_search(err, t, std::regex(R"(from time (\d+) on)")));
  RunResult before = run_omni({"query", r.dir.string(), "--executions", cond, "--to", std::to_string(std::stoull(t[1]) - 1)});
  CHECK(before.status == 0);
  CHECK(before.out.empty());
}

TEST_CASE("executions: code in a block that writes nothing stops as gdb's breakpoint does (every block entry is logged)") {
  TempDir t;
  fs::path prog = subject("executions"), dir = t / "trace";
  RunResult rec = run_omni({"record", "-o", dir.string(), "--", prog.string(), "4"});
  REQUIRE(rec.status == 0);
  REQUIRE(run_omni({"index", dir.string()}).status == 0);
  // The block of sum_to's loop condition, which the default recording
  // refuses (the test above).
  RunResult d = run({"objdump", "-d", "--no-show-raw-insn", prog.string()});
  REQUIRE(d.status == 0);
  std::smatch m;
  REQUIRE(std::regex_search(d.out, m, std::regex(R"(jmp\s+([0-9a-f]+) <sum_to\+0x[0-9a-f]+>)")));
  std::string cond = "0x" + m[1].str();
  GdbRun gdb = gdb_stops(prog, {"4"}, {"break *" + cond, "break executions.c:19"});
  REQUIRE(gdb.breakpoints.count(2));
  REQUIRE(gdb.breakpoints.count(3));
  std::vector<Object> main = executions(dir, {"main"});
  REQUIRE(main.size() == 1);
  std::string after_main = std::to_string(main[0].at("time").i);
  std::vector<Object> conds = executions(dir, {cond, "--from", after_main});
  std::vector<Object> bodies = executions(dir, {"executions.c:19", "--from", after_main});
  CHECK(static_cast<long>(conds.size()) == gdb.breakpoints.at(2).hits);
  CHECK(static_cast<long>(bodies.size()) == gdb.breakpoints.at(3).hits);
  // In gdb's order: the two interleave as the loop runs.
  std::vector<std::pair<std::int64_t, int>> answers;
  for (const Object& x : conds) answers.push_back({x.at("time").i, 2});
  for (const Object& x : bodies) answers.push_back({x.at("time").i, 3});
  std::sort(answers.begin(), answers.end());
  std::vector<int> got;
  for (const auto& a : answers) got.push_back(a.second);
  CHECK(got == gdb.stops);
  // The index says it holds every block entry.
  Object dump = dump_json(dir);
  REQUIRE(dump.count("every_block_entry"));
  CHECK(dump["every_block_entry"].b);
}

TEST_CASE("executions: unknown functions, files and lines without code are one-line errors") {
  Recording r = record("executions", {"1"});
  RunResult a = run_omni({"query", r.dir.string(), "--executions", "no_such_function"});
  check_error(a);
  CHECK(a.err.find("no function named 'no_such_function'") != std::string::npos);
  RunResult b = run_omni({"query", r.dir.string(), "--executions", "no_such_file.c:3"});
  check_error(b);
  CHECK(b.err.find("no source file") != std::string::npos);
  RunResult c = run_omni({"query", r.dir.string(), "--executions", "executions.c:9"});  // the static declaration
  check_error(c);
  CHECK(c.err.find("no code at executions.c:9") != std::string::npos);
}
