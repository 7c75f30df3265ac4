// Names and expressions as a C++, glibc or gdb user writes them (issue 7,
// items 3 and 11): demangled names with or without parameters, overloads,
// namespaces, glibc's aliased and versioned symbols, gdb-style expressions
// through pointers, char arrays as text, and stripped programs. The truth:
// nm -C (binutils' demangler), addr2line -C, gdb's print on a native run,
// and what the subjects print.
#include <doctest/doctest.h>

#include <set>
#include <sstream>

#include "harness.h"
#include "omni_fixture.h"

using namespace omni::test;

namespace {

// `nm -C --defined-only PROG` (or -D): demangled name -> address. Names may
// hold spaces, so each line is "ADDR TYPE rest".
std::map<std::string, std::uint64_t> nm_demangled(const fs::path& prog, bool dynamic = false) {
  std::vector<std::string> argv = {"nm", "-C", "--defined-only"};
  if (dynamic) argv.push_back("-D");
  argv.push_back(prog.string());
  RunResult r = run(argv);
  REQUIRE_MESSAGE(r.status == 0, r.describe());
  std::map<std::string, std::uint64_t> out;
  for (const auto& line : split_lines(r.out)) {
    if (line.size() < 20 || line[16] != ' ' || line[18] != ' ') continue;
    out[line.substr(19)] = std::stoull(line.substr(0, 16), nullptr, 16);
  }
  return out;
}

std::vector<Object> query_lines(const fs::path& dir, const std::vector<std::string>& args) {
  std::vector<std::string> a = {"query", dir.string()};
  a.insert(a.end(), args.begin(), args.end());
  RunResult q = run_omni(a);
  INFO("omni query ", a.back(), ": ", q.describe());
  REQUIRE(q.status == 0);
  CHECK(q.err.empty());
  return parse_json_lines(q.out);
}

// The 1-based line of `needle` in a subject's source.
int source_line(const std::string& file, const std::string& needle) {
  std::string source = read_file(source_dir() / "suite/subjects" / file);
  auto at = source.find(needle);
  REQUIRE_MESSAGE(at != std::string::npos, needle);
  return 1 + static_cast<int>(std::count(source.begin(), source.begin() + at, '\n'));
}

// gdb stopped natively at FILE:LINE, printing "OMNI <key>=<value>" lines.
std::string gdb_at(const fs::path& prog, const std::string& file, int line, const std::vector<std::string>& printfs) {
  std::vector<std::string> argv = {"gdb", "-batch", "-nx", "-ex", "break " + file + ":" + std::to_string(line),
                                   "-ex", "run > /dev/null"};
  for (const auto& p : printfs) argv.insert(argv.end(), {"-ex", p});
  argv.push_back(prog.string());
  RunResult gdb = run(argv);
  REQUIRE_MESSAGE(gdb.status == 0, gdb.describe());
  return gdb.out;
}

std::string error_line(const RunResult& r) {
  check_error(r);
  return r.err;
}

}  // namespace

TEST_CASE("names: C++ functions by demangled name, every overload, one by its signature (nm -C)") {
  auto rec = record("names_cpp");
  auto syms = nm_demangled(rec.prog);
  std::map<std::string, std::uint64_t> overloads;  // nm -C's full names of check
  for (const auto& [name, addr] : syms)
    if (name.rfind("check(", 0) == 0) overloads[name] = addr;
  REQUIRE(overloads.size() == 3);
  std::string string_overload;
  for (const auto& [name, addr] : overloads)
    if (name.find("basic_string") != std::string::npos) string_overload = name;
  REQUIRE(!string_overload.empty());

  // --calls check: the calls of all three, each named as nm -C names it.
  auto rows = query_lines(rec.dir, {"--calls", "check"});
  REQUIRE(rows.size() == 3);
  std::map<std::string, std::int64_t> returns;
  for (auto& row : rows) {
    std::string function = row["function"].s;
    CAPTURE(function);
    REQUIRE(overloads.count(function) == 1);
    CHECK(parse_address(row["entry"].s) == overloads[function]);
    CHECK(row["caller"].s == "main");
    returns[function] = row["return"].i;
  }
  CHECK(std::to_string(returns["check(int)"]) == kv(rec.rec.out, "a").value_or("?"));
  CHECK(std::to_string(returns[string_overload]) == kv(rec.rec.out, "b").value_or("?"));
  CHECK(std::to_string(returns["check(double)"]) == kv(rec.rec.out, "c").value_or("?"));

  // One overload by its signature, however the user spells it.
  for (const std::string& spelling :
       std::vector<std::string>{"check(int, std::string const&)", "check(int,const std::string &)", string_overload}) {
    CAPTURE(spelling);
    auto one = query_lines(rec.dir, {"--calls", spelling});
    REQUIRE(one.size() == 1);
    CHECK(one[0]["function"].s == string_overload);
    CHECK(one[0]["args"].array.at(0).object.at(1).second.s == "int");
  }
  auto by_double = query_lines(rec.dir, {"--calls", "check(double)"});
  REQUIRE(by_double.size() == 1);
  CHECK(by_double[0]["function"].s == "check(double)");
  check_error(run_omni({"query", rec.dir.string(), "--calls", "check(char)"}));

  // A namespaced function, qualified or not (as gdb's `break scale`).
  std::string scale;
  for (const auto& [name, addr] : syms)
    if (name.find("scale(") != std::string::npos) scale = name;
  REQUIRE(scale == "app::scale(int)");
  for (std::string asked : {"app::scale", "scale", "app::scale(int)"}) {
    CAPTURE(asked);
    auto calls = query_lines(rec.dir, {"--calls", asked});
    REQUIRE(calls.size() == 1);
    CHECK(calls[0]["function"].s == scale);
    CHECK(parse_address(calls[0]["entry"].s) == syms[scale]);
    CHECK(std::to_string(calls[0]["return"].i) == kv(rec.rec.out, "total").value_or("?"));
  }
}

TEST_CASE("names: C++ globals by name, and demangled names in --where-written, --stack and --registers") {
  auto rec = record("names_cpp");
  auto syms = nm_demangled(rec.prog);
  // g_map is "g_map[abi:cxx11]" to nm -C (its mangled name carries the tag).
  REQUIRE(syms.count("g_map[abi:cxx11]") == 1);
  Object map = read_at(rec.dir, "g_map");
  CHECK(parse_address(map["addr"].s) == syms["g_map[abi:cxx11]"]);
  Symbol raw = nm_symbol(rec.prog, "_Z5g_mapB5cxx11");
  CHECK(static_cast<std::uint64_t>(map["size"].i) == raw.size);

  REQUIRE(syms.count("app::g_total") == 1);
  Object total = read_at(rec.dir, "app::g_total");
  CHECK(parse_address(total["addr"].s) == syms["app::g_total"]);
  CHECK(std::to_string(total["value"].i) == kv(rec.rec.out, "total").value_or("?"));
  CHECK(read_at(rec.dir, "app::g_total:4")["size"].i == 4);
  // Unqualified, as gdb's `print g_total` finds the one variable of that name.
  Object unqualified = read_at(rec.dir, "g_total");
  CHECK(parse_address(unqualified["addr"].s) == syms["app::g_total"]);
  CHECK(std::to_string(unqualified["value"].i) == kv(rec.rec.out, "total").value_or("?"));

  // The one write to app::g_total is in app::scale: addr2line -C names it.
  auto writes = query_lines(rec.dir, {"--where-written", "app::g_total", "--stack"});
  REQUIRE(writes.size() == 1);
  std::string pc = writes[0]["pc"].s;
  RunResult a2l = run({"addr2line", "-C", "-f", "-e", rec.prog.string(), pc});
  REQUIRE(a2l.status == 0);
  std::string truth = split_lines(a2l.out).at(0);
  CHECK(truth == "app::scale(int)");
  CHECK(writes[0]["function"].s == truth);
  auto& frames = writes[0]["stack"].array;
  REQUIRE(frames.size() >= 2);
  auto field = [](const Value& v, const std::string& key) -> std::string {
    for (const auto& [k, value] : v.object)
      if (k == key) return value.is_string() ? value.s : value.repr();
    return "";
  };
  CHECK(field(frames[0], "function") == truth);
  CHECK(field(frames[1], "function") == "main");

  std::string at = std::to_string(writes[0]["time"].i);
  auto regs = query_lines(rec.dir, {"--registers", "--at", at});
  REQUIRE(regs.size() == 1);
  CHECK(regs[0]["function"].s == truth);
  auto stack = query_lines(rec.dir, {"--stack", "--at", at});
  REQUIRE(stack.size() == 1);
  CHECK(field(stack[0]["frames"].array.at(0), "function") == truth);
}

TEST_CASE("names: glibc's pthread_mutex_lock, an alias with a version, is found (nm -D)") {
  auto rec = record("names_cpp");
  RunResult dump = run_omni({"dump", rec.dir.string(), "--json"});
  REQUIRE(dump.status == 0);
  Object d = parse_json_object(dump.out);
  std::optional<std::uint64_t> bias;
  fs::path libc;
  for (const auto& object : d["objects"].array) {
    std::map<std::string, Value> o(object.object.begin(), object.object.end());
    if (fs::path(o["path"].s).filename().string().rfind("libc.so", 0) == 0) {
      libc = o["path"].s;
      bias = o["bias"].is_string() ? parse_address(o["bias"].s) : static_cast<std::uint64_t>(o["bias"].i);
    }
  }
  REQUIRE(bias);
  // glibc exports it as pthread_mutex_lock@@GLIBC_2.2.5, an alias of its
  // ___pthread_mutex_lock.
  auto exported = nm_demangled(libc, true);
  REQUIRE(exported.count("pthread_mutex_lock@@GLIBC_2.2.5") == 1);
  std::uint64_t entry = *bias + exported["pthread_mutex_lock@@GLIBC_2.2.5"];
  auto calls = query_lines(rec.dir, {"--calls", "pthread_mutex_lock"});
  REQUIRE(!calls.empty());
  for (auto& call : calls) {
    CHECK(call["function"].s == "pthread_mutex_lock");
    CHECK(parse_address(call["entry"].s) == entry);
  }
}

TEST_CASE("expressions: g_p->b, *g_p, g_tab[3].name agree with gdb's print at the same moment") {
  auto rec = record("names_c");
  auto first = kv(rec.rec.out, "first"), second = kv(rec.rec.out, "second");
  REQUIRE((first && second));
  // gdb natively, just before the second block is printed; omni when it was.
  int line = source_line("names_c.c", "printf(\"second=");
  std::string gdb = gdb_at(rec.prog, "names_c.c", line,
                           {"printf \"OMNI b=%ld\\n\", g_p->b", "printf \"OMNI a=%d\\n\", g_p->a",
                            "printf \"OMNI itid=%d\\n\", g_p->it->id", "printf \"OMNI name3=%s\\n\", g_tab[3].name",
                            "printf \"OMNI itname=%s\\n\", g_p->it->name", "printf \"OMNI size=%d\\n\", (int)sizeof(*g_p)",
                            "printf \"OMNI boff=%d\\n\", (int)((char*)&g_p->b - (char*)g_p)",
                            "printf \"OMNI p1a=%d\\n\", g_p[0].a", "printf \"OMNI tabid=%d\\n\", g_tab->id"});
  auto want = [&](const std::string& key) {
    auto v = kv(gdb, "OMNI " + key);
    REQUIRE_MESSAGE(v, key << " in " << gdb);
    return *v;
  };
  Object b = read_at(rec.dir, "g_p->b", "output:2");
  CHECK(b["variable"].s == "g_p->b");
  CHECK(b["type"].s.find("long") != std::string::npos);
  CHECK(std::to_string(b["value"].i) == want("b"));
  CHECK(std::to_string(b["value"].i) == kv(rec.rec.out, "second_b").value_or("?"));
  CHECK(parse_address(b["addr"].s) == parse_address(*second) + std::stoull(want("boff")));
  CHECK(std::to_string(read_at(rec.dir, "g_p->a", "output:2")["value"].i) == want("a"));
  CHECK(std::to_string(read_at(rec.dir, "g_p[0].a", "output:2")["value"].i) == want("p1a"));
  CHECK(std::to_string(read_at(rec.dir, "g_p->it->id", "output:2")["value"].i) == want("itid"));
  CHECK(std::to_string(read_at(rec.dir, "g_tab->id", "output:2")["value"].i) == want("tabid"));
  // The pointer itself is what the program printed under omni.
  CHECK(read_at(rec.dir, "g_p", "output:2")["value"].s == *second);

  Object deref = read_at(rec.dir, "*g_p", "output:2");
  CHECK(std::to_string(deref["size"].i) == want("size"));
  CHECK(deref["type"].s == "struct node");
  auto bytes = from_hex(deref["data"].s);
  REQUIRE(bytes.size() >= 4);
  CHECK(std::to_string(le_signed(std::vector<std::uint8_t>(bytes.begin(), bytes.begin() + 4))) == want("a"));

  // Char arrays: the text beside the bytes.
  Object name3 = read_at(rec.dir, "g_tab[3].name", "output:2");
  CHECK(name3["type"].s == "char[12]");
  CHECK(name3["string"].s == want("name3"));
  auto raw = from_hex(name3["data"].s);
  CHECK(std::string(raw.begin(), raw.begin() + static_cast<long>(want("name3").size())) == want("name3"));
  CHECK(read_at(rec.dir, "g_p->it->name", "output:2")["string"].s == want("itname"));
  CHECK(read_at(rec.dir, "g_p->it->name")["string"].s == kv(rec.rec.out, "name").value_or("?"));
  CHECK(read_at(rec.dir, "g_tab[3].id")["string"].is_null());  // not text: no key

  // Followed at the moment asked: after the first block, g_p was the first node.
  Object b1 = read_at(rec.dir, "g_p->b", "output:1");
  CHECK(std::to_string(b1["value"].i) == kv(rec.rec.out, "first_b").value_or("?"));
  CHECK(parse_address(b1["addr"].s) == parse_address(*first) + std::stoull(want("boff")));
}

TEST_CASE("expressions: --where-written through a pointer follows it at --at, else at the end") {
  auto rec = record("names_c");
  auto first = parse_address(kv(rec.rec.out, "first").value_or("0x0"));
  auto second = parse_address(kv(rec.rec.out, "second").value_or("0x0"));
  std::uint64_t b_offset = parse_address(read_at(rec.dir, "g_p->b")["addr"].s) - second;
  CHECK(b_offset == 8);  // long after int, as gdb's offset in the other test says

  auto at_end = where_written(rec.dir, "g_p->b");
  REQUIRE(!at_end.empty());
  check_touches(at_end, second + b_offset, 8);
  CHECK(std::to_string(le_signed(at_end.back().data)) == kv(rec.rec.out, "second_b").value_or("?"));
  CHECK(at_end.back().function == std::optional<std::string>("bump"));

  auto at_first = where_written(rec.dir, "g_p->b", {"--at", "output:1"});
  REQUIRE(!at_first.empty());
  check_touches(at_first, first + b_offset, 8);
  CHECK(std::to_string(le_signed(at_first.back().data)) == kv(rec.rec.out, "first_b").value_or("?"));
}

TEST_CASE("expressions: a null or unmapped pointer, or one that does not fit, is a one-line error naming it") {
  auto rec = record("names_c");
  auto fails = [&](const std::vector<std::string>& args) {
    std::vector<std::string> a = {"query", rec.dir.string()};
    a.insert(a.end(), args.begin(), args.end());
    return error_line(run_omni(a));
  };
  std::string null = fails({"--read", "g_null->a"});
  CHECK(null.find("'g_null->a'") != std::string::npos);
  CHECK(null.find("null pointer") != std::string::npos);
  std::string bad = fails({"--read", "g_bad->a"});
  CHECK(bad.find("'g_bad->a'") != std::string::npos);
  CHECK(bad.find("0x10") != std::string::npos);
  CHECK(bad.find("not mapped") != std::string::npos);
  CHECK(fails({"--read", "g_bad->it->name"}).find("not mapped") != std::string::npos);
  CHECK(fails({"--where-written", "*g_null"}).find("null pointer") != std::string::npos);
  for (std::string wrong : {"**g_p", "g_p->zz", "g_tab[1]->id", "g_p.a", "g_p->"})
    fails({"--read", wrong});
}

TEST_CASE("names: a stripped program: names fail in one line that says it has no symbols and how to get them") {
  TempDir tmp;
  fs::path prog = tmp / "names_c";
  fs::copy_file(subject("names_c"), prog);
  REQUIRE(run({"strip", prog.string()}).status == 0);
  RunResult nm = run({"nm", prog.string()});
  REQUIRE(nm.err.find("no symbols") != std::string::npos);  // binutils agrees: nothing left
  fs::path dir = tmp / "trace";
  REQUIRE(run_omni({"record", "-o", dir.string(), "--", prog.string()}).status == 0);
  REQUIRE(run_omni({"index", dir.string()}).status == 0);
  for (std::vector<std::string> ask : std::vector<std::vector<std::string>>{
           {"--read", "g_p"}, {"--read", "g_p->b"}, {"--where-written", "g_tab[3].name"}, {"--calls", "bump"}}) {
    CAPTURE(ask[1]);
    std::vector<std::string> a = {"query", dir.string()};
    a.insert(a.end(), ask.begin(), ask.end());
    std::string err = error_line(run_omni(a));
    CHECK(err.find("no symbol table") != std::string::npos);
    CHECK(err.find(prog.string()) != std::string::npos);
    CHECK(err.find("debug package") != std::string::npos);
    CHECK(err.find("-g") != std::string::npos);
  }
  // The same program with its symbols: an unknown name does not blame it.
  auto rec = record("names_c");
  std::string err = error_line(run_omni({"query", rec.dir.string(), "--read", "no_such_variable"}));
  CHECK(err.find("stripped") == std::string::npos);

}
