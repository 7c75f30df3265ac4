// Symbols are read per object and per need: a question whose answer lies in
// the program's own code reads no other object's debug information, while
// one whose stack passes through libc reads libc's. The truth is strace of
// the real `omni query` (which files it opened), Debian's libc6-dbg debug
// file named by the recorded build-id of libc, the subject's source (which
// code writes what) and nm. A stripped program without a debug file does
// not make omni load libdebuginfod unless DEBUGINFOD_URLS asks for servers
// (truth: strip, nm, strace). These are the questions of an index built
// with --no-symbols, or about code the recording did not run; with symbols
// precomputed (the default), a question about code the recording ran opens
// neither the program nor libc's debug file, and answers the same. The
// tests skip, saying why, without strace or without libc's debug file.
#include <doctest/doctest.h>

#include <algorithm>

#include "omni_fixture.h"

namespace omni::test {

namespace {

bool have_strace() {
  try {
    return run({"strace", "-V"}).status == 0;
  } catch (const std::exception&) {
    return false;
  }
}

// `omni query DIR ARGS...` under strace: its answer and every path it
// tried to open (successfully or not) from the moment it opened the
// recording on (before that, the dynamic linker loads omni's own libraries,
// libc among them).
struct Traced {
  RunResult query;
  std::vector<std::string> opened;
  bool opened_path(const std::string& path) const {
    return std::find(opened.begin(), opened.end(), path) != opened.end();
  }
  bool opened_containing(const std::string& part) const {
    return std::any_of(opened.begin(), opened.end(),
                       [&](const std::string& p) { return p.find(part) != std::string::npos; });
  }
};

Traced traced_query(const fs::path& dir, const std::vector<std::string>& args, const RunOptions& opts = {}) {
  TempDir tmp;
  fs::path log = tmp / "strace.log";
  std::vector<std::string> argv = {"strace", "-f", "-qq", "-e", "trace=open,openat", "-o", log.string(),
                                   bin("omni").string(), "query", dir.string()};
  argv.insert(argv.end(), args.begin(), args.end());
  Traced t;
  t.query = run(argv, opts);
  RunResult cat = run({"cat", log.string()});
  REQUIRE(cat.status == 0);
  bool recording_opened = false;
  for (const std::string& line : split_lines(cat.out)) {
    size_t open = line.find('"');
    size_t close = open == std::string::npos ? open : line.find('"', open + 1);
    if (close == std::string::npos) continue;
    std::string path = line.substr(open + 1, close - open - 1);
    recording_opened = recording_opened || path.rfind(dir.string() + "/", 0) == 0;
    if (recording_opened) t.opened.push_back(path);
  }
  REQUIRE_MESSAGE(recording_opened, "strace saw no file of the recording opened: " << cat.out);
  return t;
}

// The debug file of the recorded object whose path ends with `suffix`, by
// its recorded build-id, where Debian's -dbg packages install it.
fs::path debug_file_of(const fs::path& dir, const std::string& suffix) {
  Object dump = dump_json(dir);
  for (const Value& o : dump["objects"].array) {
    std::string path, build_id;
    for (const auto& [k, v] : o.object) {
      if (k == "path") path = v.s;
      if (k == "build_id") build_id = v.s;
    }
    if (path.size() >= suffix.size() && path.compare(path.size() - suffix.size(), suffix.size(), suffix) == 0 &&
        build_id.size() > 2)
      return fs::path("/usr/lib/debug/.build-id") / build_id.substr(0, 2) / (build_id.substr(2) + ".debug");
  }
  return {};
}

// "memset" for glibc's __memset_avx2_unaligned_erms and the like: the
// variant differs under omni and natively.
bool is_memset(const std::string& function) { return function.find("memset") != std::string::npos; }

}  // namespace

TEST_CASE("lazy symbols: a question answered in the program's own code opens no debug file of libc, a stack through libc does") {
  if (!have_strace()) {
    MESSAGE("skipped: strace is not installed");
    return;
  }
  Recording r = record("lazy_symbols", {}, 0, false);
  CHECK(r.rec.out == "g_own=15 g_buf=x\n");
  REQUIRE(run_omni({"index", "--no-symbols", r.dir.string()}).status == 0);
  fs::path libc_debug = debug_file_of(r.dir, "/libc.so.6");
  REQUIRE_FALSE(libc_debug.empty());
  if (!fs::exists(libc_debug)) {
    MESSAGE("skipped: no debug file for libc (" << libc_debug << "): install libc6-dbg");
    return;
  }
  const std::string program = r.prog.string();
  const uint64_t g_own = addr_of(r.prog, "g_own");
  const uint64_t add = addr_of(r.prog, "add");

  // Only add writes g_own, once per call, five calls (the source).
  Traced written = traced_query(r.dir, {"--where-written", "g_own"});
  INFO(written.query.describe());
  REQUIRE(written.query.status == 0);
  std::vector<Write> writes = parse_writes(written.query.out);
  REQUIRE(writes.size() == 5);
  for (const Write& w : writes) {
    CHECK(w.addr == g_own);
    CHECK(w.function == std::optional<std::string>("add"));
  }
  // It did read the program's symbols (so the trace sees what omni opens),
  // and no file of libc's: neither the library nor its debug file.
  CHECK(written.opened_path(program));
  CHECK_FALSE(written.opened_containing("/libc.so.6"));
  CHECK_FALSE(written.opened_path(libc_debug.string()));

  Traced read = traced_query(r.dir, {"--read", "g_own"});
  INFO(read.query.describe());
  REQUIRE(read.query.status == 0);
  Object value = parse_json_object(split_lines(read.query.out).at(0));
  CHECK(value["data"].s == "0f00000000000000");  // 15, as the program printed
  CHECK(read.opened_path(program));
  CHECK_FALSE(read.opened_path(libc_debug.string()));

  // The moment of the last write: rip is in add.
  const std::string last = std::to_string(writes.back().time);
  Traced regs = traced_query(r.dir, {"--registers", "--at", last});
  INFO(regs.query.describe());
  REQUIRE(regs.query.status == 0);
  Object registers = parse_json_object(split_lines(regs.query.out).at(0));
  CHECK(registers["function"].s == "add");
  CHECK_FALSE(regs.opened_path(libc_debug.string()));

  // add's callers are main's code: the program's alone.
  Traced calls = traced_query(r.dir, {"--calls", "add", "--last", "5"});
  INFO(calls.query.describe());
  REQUIRE(calls.query.status == 0);
  std::vector<Object> rows = parse_json_lines(calls.query.out);
  REQUIRE(rows.size() == 5);
  for (Object& c : rows) {
    CHECK(c["entry"].s == hex_address(add));
    CHECK(c["caller"].s == "main");
  }
  CHECK_FALSE(calls.opened_path(libc_debug.string()));

  // memset writes g_buf from inside libc: naming the function that wrote
  // and the stack then (memset, main, libc's start code) needs libc's
  // debug file.
  Traced in_libc = traced_query(r.dir, {"--where-written", "g_buf", "--last", "1"});
  INFO(in_libc.query.describe());
  REQUIRE(in_libc.query.status == 0);
  std::vector<Write> memset_writes = parse_writes(in_libc.query.out);
  REQUIRE(memset_writes.size() == 1);
  CHECK(is_memset(memset_writes[0].function.value_or("")));
  CHECK(in_libc.opened_path(libc_debug.string()));

  Traced stack = traced_query(r.dir, {"--stack", "--at", std::to_string(memset_writes[0].time)});
  INFO(stack.query.describe());
  REQUIRE(stack.query.status == 0);
  Object answer = parse_json_object(split_lines(stack.query.out).at(0));
  REQUIRE(answer["frames"].array.size() >= 2);
  std::vector<std::string> functions;
  for (const Value& f : answer["frames"].array)
    for (const auto& [k, v] : f.object)
      if (k == "function") functions.push_back(v.is_string() ? v.s : "");
  CHECK(is_memset(functions.at(0)));
  CHECK(functions.at(1) == "main");
  CHECK(stack.opened_path(libc_debug.string()));

  // Indexed with its symbols: the same answers (the writes asked by
  // address, as a name is looked up in the program's symbol table), and no
  // object file opened.
  RunResult reindex = run_omni({"index", r.dir.string()});
  INFO(reindex.describe());
  REQUIRE(reindex.status == 0);
  REQUIRE(reindex.err.find("warning") == std::string::npos);
  auto same_writes = [](const std::vector<Write>& a, const std::vector<Write>& b) {
    if (a.size() != b.size()) return false;
    for (size_t i = 0; i < a.size(); ++i)
      if (a[i].time != b[i].time || a[i].pc != b[i].pc || a[i].function != b[i].function ||
          a[i].file != b[i].file || a[i].line != b[i].line || a[i].data != b[i].data)
        return false;
    return true;
  };
  Traced written_after = traced_query(r.dir, {"--where-written", hex_address(g_own) + ":8"});
  Traced in_libc_after =
      traced_query(r.dir, {"--where-written", hex_address(addr_of(r.prog, "g_buf")) + ":300", "--last", "1"});
  Traced stack_after = traced_query(r.dir, {"--stack", "--at", std::to_string(memset_writes[0].time)});
  CHECK(same_writes(parse_writes(written_after.query.out), writes));
  CHECK(same_writes(parse_writes(in_libc_after.query.out), memset_writes));
  CHECK(stack_after.query.out == stack.query.out);
  for (const Traced* after : {&written_after, &in_libc_after}) {
    INFO(after->query.describe());
    CHECK_FALSE(after->opened_path(program));
    CHECK_FALSE(after->opened_containing("/libc.so.6"));
    CHECK_FALSE(after->opened_path(libc_debug.string()));
  }
  // A stack replays registers, which reads the code and read-only data of
  // the program and libc from their files; but no debug file.
  CHECK_FALSE(stack_after.opened_path(libc_debug.string()));
}

TEST_CASE("lazy symbols: a stripped program without a debug file does not load libdebuginfod unless DEBUGINFOD_URLS is set") {
  if (!have_strace()) {
    MESSAGE("skipped: strace is not installed");
    return;
  }
  TempDir tmp;
  fs::path prog = tmp / "lazy_symbols";
  fs::copy_file(subject("lazy_symbols"), prog);
  const uint64_t g_own = addr_of(prog, "g_own");  // fixed address: the same once stripped
  REQUIRE(run({"strip", prog.string()}).status == 0);
  RunResult nm = run({"nm", prog.string()});
  REQUIRE(nm.err.find("no symbols") != std::string::npos);
  fs::path dir = tmp / "trace";
  REQUIRE(run_omni({"record", "-o", dir.string(), "--", prog.string()}).status == 0);
  REQUIRE(run_omni({"index", "--no-symbols", dir.string()}).status == 0);
  fs::path debug = debug_file_of(dir, "/lazy_symbols");
  REQUIRE_FALSE(debug.empty());
  REQUIRE_FALSE(fs::exists(debug));

  // A write by add, whose name is gone: the answer names no function.
  const std::vector<std::string> ask = {"--where-written", hex_address(g_own) + ":8", "--last", "1"};
  RunOptions plain;
  plain.unset_env = {"DEBUGINFOD_URLS"};
  Traced without = traced_query(dir, ask, plain);
  INFO(without.query.describe());
  REQUIRE(without.query.status == 0);
  std::vector<Write> writes = parse_writes(without.query.out);
  REQUIRE(writes.size() == 1);
  CHECK_FALSE(writes[0].function.has_value());
  CHECK(without.opened_path(prog.string()));  // it looked at the program's symbols
  CHECK_FALSE(without.opened_containing("libdebuginfod"));

  // With servers set, libdwfl's search still asks debuginfod (here a port
  // nothing listens on, with a private cache), and the answer is the same.
  RunResult ldconfig = run({"/sbin/ldconfig", "-p"});
  if (ldconfig.out.find("libdebuginfod.so.1") == std::string::npos) {
    MESSAGE("not checked with DEBUGINFOD_URLS: this system has no libdebuginfod");
    return;
  }
  RunOptions servers;
  servers.env = {{"DEBUGINFOD_URLS", "http://127.0.0.1:9"},
                 {"DEBUGINFOD_CACHE_PATH", (tmp / "debuginfod-cache").string()},
                 {"DEBUGINFOD_TIMEOUT", "5"}};
  Traced with = traced_query(dir, ask, servers);
  INFO(with.query.describe());
  REQUIRE(with.query.status == 0);
  CHECK(with.query.out == without.query.out);
  CHECK(with.opened_containing("libdebuginfod"));
}

}  // namespace omni::test
