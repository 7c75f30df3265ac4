// Memory at any moment (issue 3: --read --at), against gdb's watchpoint values
// and the bytes a real gzip wrote.
#include <doctest/doctest.h>

#include "harness.h"
#include "omni_fixture.h"

using namespace omni::test;

namespace {


std::int64_t value_at(const fs::path& dir, const std::string& target, std::uint64_t time) {
  Object o = read_at(dir, target, std::to_string(time));
  REQUIRE(o["unmapped"].array.empty());
  return le_signed(from_hex(o["data"].s));
}

}  // namespace

TEST_CASE("e2e read: g_counter at each moment equals gdb's watchpoint values") {
  auto rec = record("globals");
  WatchResult gdb = gdb_watch(subject("globals"), {}, "g_counter");
  REQUIRE(gdb.hits.size() >= 10);
  // The moments: omni's value-changing writes, in order. Just before the
  // first, g_counter holds its initial 0; at the k-th, gdb's k-th value; one
  // instruction before the k-th, the (k-1)-th.
  auto ws = where_written(rec.dir, "g_counter");
  std::vector<std::uint64_t> moments;
  std::int64_t previous = 0;
  for (const auto& w : ws) {
    std::int64_t v = le_signed(w.data);
    if (v != previous) moments.push_back(w.time);
    previous = v;
  }
  REQUIRE(moments.size() == gdb.hits.size());
  CHECK(value_at(rec.dir, "g_counter", 0) == 0);
  CHECK(value_at(rec.dir, "g_counter", moments[0] - 1) == 0);
  for (std::size_t k = 0; k < moments.size(); ++k) {
    CAPTURE(k);
    CHECK(std::to_string(value_at(rec.dir, "g_counter", moments[k])) == gdb.hits[k].value);
    if (k > 0) CHECK(std::to_string(value_at(rec.dir, "g_counter", moments[k] - 1)) == gdb.hits[k - 1].value);
  }
  // --at end and --at output:1 (the program prints once, at the end).
  CHECK(std::to_string(le_signed(from_hex(read_at(rec.dir, "g_counter", "end")["data"].s))) ==
        gdb.hits.back().value);
  CHECK(std::to_string(le_signed(from_hex(read_at(rec.dir, "g_counter", "output:1")["data"].s))) ==
        kv(rec.rec.out, "g_counter").value_or("?"));
}

TEST_CASE("e2e read: every write(1) buffer of gzip, read back at its time, is what gzip wrote") {
  // 1.5 MB of real text: gzip writes its output buffer several times.
  TempDir t;
  std::string text;
  for (const char* f : {"suite/harness.cc", "suite/test_e2e.cc", "suite/test_robustness.cc"})
    text += read_file(source_dir() / f);
  while (text.size() < 1500000) text += text;
  write_file(t / "input.txt", text);
  Recording rec{TempDir(), fs::path("/bin/gzip"), {}, {}};
  rec.dir = rec.tmp / "trace";
  rec.rec = run_omni({"record", "-o", rec.dir.string(), "--", "/bin/gzip", "-c", (t / "input.txt").string()});
  REQUIRE(rec.rec.status == 0);
  REQUIRE(run_omni({"index", rec.dir.string()}).status == 0);
  const std::string& compressed = rec.rec.out;  // what gzip really wrote
  REQUIRE(compressed.size() > 10000);

  RunResult q = run_omni({"query", rec.dir.string(), "--syscalls", "--name", "write"});
  REQUIRE(q.status == 0);
  std::string rebuilt;
  int writes = 0;
  for (const auto& line : split_lines(q.out)) {
    Object call = parse_json_object(line);
    if (call["args"].array.at(0).i != 1) continue;
    std::uint64_t buf = call["args"].array.at(1).i;
    std::int64_t n = call["result"].i;
    REQUIRE(n > 0);
    Object mem = read_at(rec.dir, hex_address(buf) + ":" + std::to_string(n), std::to_string(call["time"].i));
    auto bytes = from_hex(mem["data"].s);
    rebuilt.append(bytes.begin(), bytes.end());
    ++writes;
  }
  CHECK(writes >= 2);
  CHECK(rebuilt.size() == compressed.size());
  CHECK(rebuilt == compressed);
}

TEST_CASE("e2e read: unmapped memory is reported, not zeros, argv is on the initial stack") {
  auto src = source_dir() / "suite/subjects/readfile.c";
  auto rec = record("readfile", {src.string()});
  Object null_page = read_at(rec.dir, "0x0:16", "end");
  REQUIRE(null_page["unmapped"].array.size() == 1);
  CHECK(null_page["unmapped"].array[0].object.size() == 2);
  CHECK(null_page["data"].s == std::string(32, '-'));
  // openat(argv[1]): reading its path argument at the call's time gives the
  // file name, which lives on the initial stack (captured before the first
  // instruction, never written since).
  RunResult q = run_omni({"query", rec.dir.string(), "--syscalls", "--name", "openat"});
  REQUIRE(q.status == 0);
  bool found = false;
  for (const auto& line : split_lines(q.out)) {
    Object call = parse_json_object(line);
    std::uint64_t path = call["args"].array.at(1).i;
    std::string want = src.string();
    Object mem = read_at(rec.dir, hex_address(path) + ":" + std::to_string(want.size() + 1),
                         std::to_string(call["time"].i));
    auto bytes = from_hex(mem["data"].s);
    if (std::string(bytes.begin(), bytes.end()) == want + std::string(1, '\0')) found = true;
  }
  CHECK(found);
}

TEST_CASE("e2e read: typed variables and fields agree with gdb's print at the same moment") {
  auto rec = record("globals");
  // The moment: the first printf in main, after every store to these globals;
  // in omni that is the first output write.
  std::string source = read_file(source_dir() / "suite/subjects/globals.c");
  auto at = source.find("printf(\"g_counter=");
  REQUIRE(at != std::string::npos);
  int line = 1 + static_cast<int>(std::count(source.begin(), source.begin() + at, '\n'));
  std::vector<std::string> exprs = {"g_counter", "g_point.x", "g_point.y", "g_point.z"};
  std::vector<std::string> argv = {"gdb", "-batch", "-nx", "-ex", "break globals.c:" + std::to_string(line),
                                   "-ex", "run > /dev/null"};
  for (const auto& e : exprs) argv.insert(argv.end(), {"-ex", "printf \"OMNI %s=%ld\\n\", \"" + e + "\", (long)(" + e + ")"});
  argv.push_back(subject("globals").string());
  RunResult gdb = run(argv);
  REQUIRE_MESSAGE(gdb.status == 0, gdb.describe());
  for (const auto& e : exprs) {
    CAPTURE(e);
    auto expected = kv(gdb.out, "OMNI " + e);
    REQUIRE(expected);
    Object o = read_at(rec.dir, e, "output:1");
    CHECK(o["variable"].s == e);
    REQUIRE(o["value"].is_int());
    CHECK(std::to_string(o["value"].i) == *expected);
  }
  // The declared types, as gdb names them.
  RunResult ptype = run({"gdb", "-batch", "-nx", "-ex", "whatis g_point.y", "-ex", "whatis g_counter",
                         subject("globals").string()});
  CHECK(ptype.out.find("type = int") != std::string::npos);
  CHECK(read_at(rec.dir, "g_point.y", "end")["type"].s == "int");
  CHECK(read_at(rec.dir, "g_point", "end")["value"].is_null());  // a struct has no scalar value

  // Arrays: each slot's final value is what the threads subject printed.
  auto threads = record("threads");
  for (int i = 0; i < 4; ++i) {
    std::string e = "g_slots[" + std::to_string(i) + "]";
    CHECK(std::to_string(read_at(threads.dir, e, "end")["value"].i) == kv(threads.rec.out, e).value_or("?"));
  }
  // Accessors that do not fit the type are one-line errors.
  for (std::string bad : {"g_point.nope", "g_counter[1]", "g_slots[4]", "g_point.x.y", "g_slots[x]"})
    check_error(run_omni({"query", rec.dir.string(), "--read", bad}));
  check_error(run_omni({"query", threads.dir.string(), "--read", "g_slots[4]"}));
}

TEST_CASE("e2e read: memory moved by mremap reads back at its new address") {
  auto rec = record("remap");
  auto moved = kv(rec.rec.out, "moved");
  auto text = kv(rec.rec.out, "text");
  REQUIRE((moved && text));
  CHECK(kv(rec.rec.out, "same") == std::string("0"));  // it really moved
  // The program's own printf of the moved bytes is the truth.
  const std::string& want = *text;
  REQUIRE(want == "moved_by_mremap");
  Object o = read_at(rec.dir, *moved + ":" + std::to_string(want.size()), "end");
  CHECK(o["unmapped"].array.empty());
  auto bytes = from_hex(o["data"].s);
  CHECK(std::string(bytes.begin(), bytes.end()) == want);
}

TEST_CASE("e2e read: deep stack memory, a second thread's kernel write, and typed edge cases") {
  auto rec = record("deepstack");
  auto addr = kv(rec.rec.out, "addr");
  REQUIRE(addr);
  // 16 KiB below the first stack pages: mapped, and the bytes memset wrote.
  std::uint64_t base = parse_address(*addr);
  for (std::uint64_t offset : {0ull, 8000ull, 16368ull}) {
    Object o = read_at(rec.dir, hex_address(base + offset) + ":16", "output:1");
    CHECK(o["unmapped"].array.empty());
    CHECK(o["data"].s == "5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a");
  }
  // read() on thread 2 filled g_buf: the kernel's write carries thread 2's
  // id, the same as its read syscall's, not the main thread's.
  auto ws = where_written(rec.dir, "g_buf");
  REQUIRE(ws.size() == 1);
  RunResult reads = run_omni({"query", rec.dir.string(), "--syscalls", "--name", "read"});
  std::int64_t read_tid = -1;
  for (const auto& line : split_lines(reads.out)) {
    Object call = parse_json_object(line);
    if (call["result"].i == 14) read_tid = call["tid"].i;
  }
  CHECK(read_tid > 1);
  CHECK(ws[0].tid == read_tid);
  CHECK(std::string(ws[0].data.begin(), ws[0].data.end()) == "through a pipe");
  // Typed edge cases: infinity is a string (JSON has none), an enum with an
  // unsigned underlying type is unsigned, a bit-field is refused clearly.
  CHECK(read_at(rec.dir, "g_inf", "end")["value"].s == "inf");
  CHECK(read_at(rec.dir, "g_enum", "end")["value"].i == 2147483648LL);
  RunResult bit = run_omni({"query", rec.dir.string(), "--read", "g_flags.hi"});
  check_error(bit);
  CHECK(bit.err.find("bit-field") != std::string::npos);
}

TEST_CASE("e2e read: code bytes come from the mapped file or its copy in the recording, and a changed file without one is reported") {
  TempDir t;
  fs::path prog = t / "globals";
  fs::copy_file(subject("globals"), prog);
  Recording rec{TempDir(), prog, {}, {}};
  rec.dir = rec.tmp / "trace";
  REQUIRE(run_omni({"record", "-o", rec.dir.string(), "--", prog.string()}).status == 0);
  REQUIRE(run_omni({"index", rec.dir.string()}).status == 0);
  std::string main_addr = hex_address(nm_symbol(prog, "main").addr);
  // gdb reads the executable file itself: the truth about main's first bytes.
  RunResult gdb = run({"gdb", "-batch", "-nx", "-ex", "x/8xb main", prog.string()});
  REQUIRE(gdb.status == 0);
  std::string want;
  for (std::size_t at = gdb.out.find("0x", gdb.out.find(':')); at != std::string::npos; at = gdb.out.find("0x", at + 4))
    want += gdb.out.substr(at + 2, 2);
  REQUIRE(want.size() == 16);
  Object o = read_at(rec.dir, main_addr + ":8", "1");
  CHECK(o["data"].s == want);
  CHECK(o.count("files_missing") == 0);
  // Rebuilt or patched since: not the recorded file, so not used; its
  // copy in the recording (files/, by omni index) is, and without that
  // the bytes are reported missing.
  REQUIRE(run({"objcopy", "--remove-section", ".note.gnu.build-id", prog.string()}).status == 0);
  Object from_copy = read_at(rec.dir, main_addr + ":8", "1");
  CHECK(from_copy["data"].s == want);
  CHECK(from_copy.count("files_missing") == 0);
  fs::remove_all(rec.dir / "files");
  Object changed = read_at(rec.dir, main_addr + ":8", "1");
  REQUIRE(changed.count("files_missing") == 1);
  CHECK(changed["files_missing"].array.at(0).s == prog.string());
}
