// Point-in-time state against independent truth: gdb stopped at the entry
// of each call of scale() in a native run of the `calls` subject, and the
// subject's own printed arguments and results. Moments are matched by the
// Nth hit of the breakpoint = the Nth call --calls reports.
#include <doctest/doctest.h>

#include <cstring>
#include <regex>
#include <sstream>

#include "omni_fixture.h"

namespace omni::test {

namespace {

struct GdbStop {
  std::map<std::string, uint64_t> regs;  // rip rdi rsi rdx xmm0 (low 8 bytes), ret ([rsp])
  long total = 0;
  std::vector<std::string> backtrace;    // function names, innermost first
};

// gdb at `break *scale` (before the first instruction: the state right after
// the call), five times.
std::vector<GdbStop> gdb_stops(const fs::path& prog, int count) {
  std::vector<std::string> argv = {"gdb", "-batch", "-nx", "-ex", "set pagination off", "-ex", "set confirm off",
                                   "-ex", "break *scale", "-ex", "run"};
  for (int k = 0; k < count; ++k) {
    for (const char* cmd : {"printf \"STOP rip=%lx rdi=%lx rsi=%lx rdx=%lx\\n\", $rip, $rdi, $rsi, $rdx",
                            "printf \"XMM0=%lx\\n\", $xmm0.v2_int64[0]", "printf \"RET=%lx\\n\", *(long*)$rsp",
                            "printf \"TOTAL=%ld\\n\", g_total", "bt", "continue"}) {
      argv.push_back("-ex");
      argv.push_back(cmd);
    }
  }
  argv.push_back("--args");
  argv.push_back(prog.string());
  RunResult g = run(argv);
  INFO("gdb: ", g.describe());
  std::vector<GdbStop> stops;
  std::istringstream in(g.out);
  std::string line;
  std::regex frame(R"(^#\d+\s+(?:0x[0-9a-f]+ in )?([A-Za-z_][A-Za-z0-9_]*) )");
  while (std::getline(in, line)) {
    std::smatch m;
    if (line.rfind("STOP ", 0) == 0) {
      stops.emplace_back();
      std::istringstream fields(line.substr(5));
      std::string field;
      while (fields >> field) {
        auto eq = field.find('=');
        stops.back().regs[field.substr(0, eq)] = std::stoull(field.substr(eq + 1), nullptr, 16);
      }
    } else if (stops.empty()) {
      continue;
    } else if (line.rfind("XMM0=", 0) == 0) {
      stops.back().regs["xmm0"] = std::stoull(line.substr(5), nullptr, 16);
    } else if (line.rfind("RET=", 0) == 0) {
      stops.back().regs["ret"] = std::stoull(line.substr(4), nullptr, 16);
    } else if (line.rfind("TOTAL=", 0) == 0) {
      stops.back().total = std::stol(line.substr(6));
    } else if (std::regex_search(line, m, frame)) {
      stops.back().backtrace.push_back(m[1]);
    }
  }
  REQUIRE(stops.size() == static_cast<size_t>(count));
  return stops;
}

Object query_one(const fs::path& dir, const std::vector<std::string>& args) {
  std::vector<std::string> a = {"query", dir.string()};
  a.insert(a.end(), args.begin(), args.end());
  RunResult q = run_omni(a);
  INFO("omni query: ", q.describe());
  REQUIRE(q.status == 0);
  return parse_json_object(q.out);
}

std::string fmt_hex_range(uint64_t addr, uint64_t size) {
  std::ostringstream s;
  s << "0x" << std::hex << addr << ":" << std::dec << size;
  return s.str();
}

uint64_t le64(const std::string& hex) {
  std::vector<uint8_t> bytes = from_hex(hex);
  REQUIRE(bytes.size() >= 8);
  uint64_t v;
  std::memcpy(&v, bytes.data(), 8);
  return v;
}

}  // namespace

TEST_CASE("state: --registers, --stack and --read at each call agree with gdb at the same breakpoint hit") {
  Recording r = record("calls");
  std::vector<GdbStop> stops = gdb_stops(r.prog, 5);
  RunResult c = run_omni({"query", r.dir.string(), "--calls", "scale"});
  REQUIRE(c.status == 0);
  std::vector<Object> calls = parse_json_lines(c.out);
  REQUIRE(calls.size() == 5);
  for (size_t k = 0; k < calls.size(); ++k) {
    CAPTURE(k);
    std::string at = std::to_string(calls[k]["time"].i);
    Object regs = query_one(r.dir, {"--registers", "--at", at});
    const GdbStop& g = stops[k];
    // Code and static data have the same addresses natively and recorded
    // (the subject is not position independent).
    CHECK(parse_address(regs["rip"].s) == g.regs.at("rip"));
    CHECK(regs["function"].s == "scale");
    CHECK(parse_address(regs["rdi"].s) == g.regs.at("rdi"));  // i
    CHECK(parse_address(regs["rsi"].s) == g.regs.at("rsi"));  // p.x
    CHECK(parse_address(regs["rdx"].s) == g.regs.at("rdx"));  // p.y
    CHECK(le64(regs["xmm0"].s) == g.regs.at("xmm0"));         // factor
    CHECK(parse_address(regs["rdi"].s) == static_cast<uint64_t>(k));
    // rsp differs between the runs: compare what it points at, the return
    // address into outer().
    uint64_t rsp = parse_address(regs["rsp"].s);
    Object ret = query_one(r.dir, {"--read", fmt_hex_range(rsp, 8), "--at", at});
    CHECK(le64(ret["data"].s) == g.regs.at("ret"));

    Object stack = query_one(r.dir, {"--stack", "--at", at});
    std::vector<std::string> names;
    for (const Value& f : stack["frames"].array)
      for (const auto& [key, value] : f.object)
        if (key == "function") names.push_back(value.is_string() ? value.s : "?");
    REQUIRE(names.size() >= 3);
    REQUIRE(g.backtrace.size() >= 3);
    for (size_t i = 0; i < 3; ++i) CHECK(names[i] == g.backtrace[i]);

    Object total = query_one(r.dir, {"--read", "g_total", "--at", at});
    CHECK(total["value"].i == g.total);
  }
}

TEST_CASE("state: --calls arguments and return values equal what the subject printed") {
  Recording r = record("calls");
  // scale(<i>,<factor>,<tag>,<p.x>,<p.y>)=<result>
  std::regex printed(R"(scale\((\d+),([0-9.]+),(\w+),(\d+),(\d+)\)=([0-9.]+))");
  std::vector<std::string> texts;
  std::istringstream in(r.rec.out);
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("scale(", 0) == 0) texts.push_back(line);
  REQUIRE(texts.size() == 5);
  RunResult c = run_omni({"query", r.dir.string(), "--calls", "scale"});
  REQUIRE(c.status == 0);
  std::vector<Object> calls = parse_json_lines(c.out);
  REQUIRE(calls.size() == 5);
  for (size_t k = 0; k < 5; ++k) {
    CAPTURE(texts[k]);
    std::smatch m;
    REQUIRE(std::regex_search(texts[k], m, printed));
    Object& call = calls[k];
    CHECK(call["function"].s == "scale");
    CHECK(call["caller"].s == "outer");
    CHECK(call["end_time"].i > call["time"].i);
    const auto& args = call["args"].array;
    REQUIRE(args.size() == 4);
    auto field = [](const Value& v, const std::string& key) {
      for (const auto& [k2, v2] : v.object)
        if (k2 == key) return v2;
      return Value{};
    };
    CHECK(field(args[0], "name").s == "i");
    CHECK(field(args[0], "value").i == std::stol(m[1]));
    CHECK(field(args[1], "name").s == "factor");
    CHECK(field(args[1], "value").d == doctest::Approx(std::stod(m[2])));
    CHECK(field(args[2], "string").s == m[3].str());
    std::vector<uint8_t> p = from_hex(field(args[3], "data").s);
    REQUIRE(p.size() == 16);
    int64_t x, y;
    std::memcpy(&x, p.data(), 8);
    std::memcpy(&y, p.data() + 8, 8);
    CHECK(x == std::stol(m[4]));
    CHECK(y == std::stol(m[5]));
    const Value& ret = call["return"];
    CHECK((ret.is_number() ? (ret.kind == Value::Kind::Int ? double(ret.i) : ret.d) : -1) ==
          doctest::Approx(std::stod(m[6])));
    // A local of scale() just before it returned, and of outer() (frame 1).
    std::string before_ret = std::to_string(call["end_time"].i - 1);
    Object result = query_one(r.dir, {"--read", "local:result", "--at", before_ret});
    CHECK(result["value"].d == doctest::Approx(std::stod(m[6])));
    Object loop = query_one(r.dir, {"--read", "local:k", "--at", before_ret, "--frame", "1"});
    CHECK(loop["function"].s == "outer");
    CHECK(loop["value"].i == static_cast<int64_t>(k));
  }
}

}  // namespace omni::test

namespace omni::test {

TEST_CASE("state: --where-written --stack gives each write's call stack, as the program's call structure has it") {
  Recording r = record("calls");
  RunResult q = run_omni({"query", r.dir.string(), "--where-written", "g_total", "--stack"});
  REQUIRE(q.status == 0);
  std::vector<Object> writes = parse_json_lines(q.out);
  REQUIRE(writes.size() == 5);  // one += per scale() call
  RunResult c = run_omni({"query", r.dir.string(), "--calls", "scale"});
  std::vector<Object> calls = parse_json_lines(c.out);
  REQUIRE(calls.size() == 5);
  for (size_t k = 0; k < writes.size(); ++k) {
    CAPTURE(k);
    std::vector<std::string> names;
    std::vector<int64_t> since;
    for (const Value& f : writes[k]["stack"].array)
      for (const auto& [key, value] : f.object) {
        if (key == "function") names.push_back(value.is_string() ? value.s : "?");
        if (key == "since") since.push_back(value.is_int() ? value.i : -1);
      }
    REQUIRE(names.size() >= 3);
    CHECK(names[0] == "scale");
    CHECK(names[1] == "outer");
    CHECK(names[2] == "main");
    CHECK(names.back() == "_start");
    // The innermost frame began with the k-th call of scale, before the write.
    CHECK(since[0] == calls[k]["time"].i);
    CHECK(since[0] < writes[k]["time"].i);
    CHECK(writes[k]["time"].i < calls[k]["end_time"].i);
  }
}

}  // namespace omni::test

namespace omni::test {

TEST_CASE("state: at the end of a crashed run, rip is where gdb sees the SIGSEGV and the stack reaches _start") {
  Recording r = record("crash", {}, 139);
  RunResult g = run({"gdb", "-batch", "-nx", "-ex", "run", "-ex", "printf \"PC=%lx\\n\", $pc", "--args", r.prog.string()});
  INFO("gdb: ", g.describe());
  auto at = g.out.find("PC=");
  REQUIRE(at != std::string::npos);
  uint64_t gdb_pc = std::stoull(g.out.substr(at + 3), nullptr, 16);
  Object regs = query_one(r.dir, {"--registers", "--at", "end"});
  CHECK(parse_address(regs["rip"].s) == gdb_pc);
  CHECK(regs["function"].s == "main");
  Object stack = query_one(r.dir, {"--stack", "--at", "end"});
  std::vector<std::string> names;
  for (const Value& f : stack["frames"].array)
    for (const auto& [key, value] : f.object)
      if (key == "function") names.push_back(value.is_string() ? value.s : "?");
  REQUIRE(names.size() >= 2);
  CHECK(names.front() == "main");
  CHECK(names.back() == "_start");
}

}  // namespace omni::test
