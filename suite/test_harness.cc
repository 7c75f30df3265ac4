// Tests of the suite's own helpers and of the oracles (gdb, nm, addr2line)
// against the test subjects run natively. None of these needs omni.
#include <doctest/doctest.h>

#include <algorithm>
#include <set>

#include "harness.h"

using namespace omni::test;

TEST_CASE("harness: run() passes argv verbatim and separates stdout stderr and status") {
  RunResult r = run({"sh", "-c", "printf '%s|' \"$@\"; echo err >&2; exit 3", "sh", "a b",
                     "it's", "\"q\"", "$HOME", ""});
  CHECK(r.exited);
  CHECK(r.status == 3);
  CHECK(r.out == "a b|it's|\"q\"|$HOME||");
  CHECK(r.err == "err\n");
}

TEST_CASE("harness: run() handles 128+signal - environment - stdin - timeout") {
  RunResult seg = run({"sh", "-c", "kill -SEGV $$"});
  CHECK_FALSE(seg.exited);
  CHECK(seg.signal == 11);
  CHECK(seg.status == 139);

  RunOptions o;
  o.env["OMNI_SUITE_PROBE"] = "x y";
  o.unset_env.push_back("HOME");
  RunResult env = run({"sh", "-c", "echo \"[$OMNI_SUITE_PROBE][${HOME-unset}]\""}, o);
  CHECK(env.out == "[x y][unset]\n");

  RunOptions in;
  in.stdin_data = std::string(200000, 'z');  // larger than a pipe buffer
  RunResult cat = run({"wc", "-c"}, in);
  CHECK(cat.status == 0);
  CHECK(cat.out.find("200000") != std::string::npos);

  RunOptions t;
  t.timeout_s = 0.5;
  RunResult slow = run({"sleep", "30"}, t);
  CHECK(slow.timed_out);
  CHECK(slow.signal == 9);

  RunResult missing = run({"/nonexistent/omni-suite-no-such-program"});
  CHECK(missing.status == 127);
}

TEST_CASE("harness: TempDir is private and removed") {
  fs::path p;
  {
    TempDir t;
    p = t.path();
    CHECK(fs::is_directory(p));
    CHECK((fs::status(p).permissions() & fs::perms::all) == fs::perms::owner_all);
    write_file(t / "f", "abc");
    CHECK(read_file(t / "f") == "abc");
  }
  if (!std::getenv("OMNI_SUITE_KEEP")) CHECK_FALSE(fs::exists(p));
}

TEST_CASE("harness: JSON lines parser") {
  auto objs = parse_json_lines(
      "{\"time\": 12, \"tid\":-3, \"pc\":\"0x40\", \"function\":null, \"ok\":true, "
      "\"no\":false, \"d\":1.5e2, \"s\":\"a\\\"b\\\\c\\n\\u00e9\\ud83d\\ude00\"}\n"
      "\n"
      "{}\n"
      "{\"nested\":{\"a\":[1,2,{\"b\":null}]},\"big\":18446744073709551615}");
  REQUIRE(objs.size() == 3);
  auto& o = objs[0];
  CHECK(o["time"].is_int());
  CHECK(o["time"].i == 12);
  CHECK(o["tid"].i == -3);
  CHECK(o["pc"].s == "0x40");
  CHECK(o["function"].is_null());
  CHECK((o["ok"].is_bool() && o["ok"].b));
  CHECK((o["no"].is_bool() && !o["no"].b));
  CHECK(o["d"].kind == Value::Kind::Double);
  CHECK(o["d"].d == 150.0);
  CHECK(o["s"].s == "a\"b\\c\n\xc3\xa9\xf0\x9f\x98\x80");
  CHECK(objs[1].empty());
  CHECK(objs[2]["nested"].kind == Value::Kind::Object);
  CHECK(objs[2]["nested"].repr() == "{\"a\":[1,2,{\"b\":null}]}");
  CHECK(objs[2]["big"].kind == Value::Kind::Double);

  for (const char* bad : {"{", "{\"a\":}", "{\"a\":1,}", "[1]", "{\"a\":1} x", "{\"a\":01}",
                          "{\"a\":\"\x01\"}", "{\"a\":1,\"a\":2}", "{'a':1}", "{\"a\":tru}"}) {
    INFO(bad);
    CHECK_THROWS(parse_json_object(bad));
  }
}

TEST_CASE("harness: hex helpers and write parsing") {
  CHECK(from_hex("2a00ff") == std::vector<std::uint8_t>{0x2a, 0x00, 0xff});
  CHECK(to_hex({0x2a, 0x00, 0xff}) == "2a00ff");
  CHECK_THROWS(from_hex("abc"));
  CHECK_THROWS(from_hex("zz"));
  CHECK(parse_address("0x7ffdEADbeef") == 0x7ffdeadbeefULL);
  CHECK_THROWS(parse_address("1234"));
  CHECK_THROWS(parse_address("0x"));
  CHECK(le_signed({0x2a, 0, 0, 0, 0, 0, 0, 0}) == 42);
  CHECK(le_signed({0xf9, 0xff, 0xff, 0xff}) == -7);
  CHECK(le_signed({0x08, 0x07, 0x06, 0x05, 0x04, 0x03, 0x02, 0x01}) == 0x0102030405060708LL);

  auto ws = parse_writes(
      "{\"time\":5,\"tid\":1,\"pc\":\"0x401136\",\"function\":\"main\",\"file\":\"x.c\","
      "\"line\":7,\"addr\":\"0x404028\",\"size\":4,\"data\":\"2a000000\"}\n"
      "{\"time\":9,\"tid\":1,\"pc\":\"0x401140\",\"function\":null,\"file\":null,"
      "\"line\":null,\"addr\":\"0x40402a\",\"size\":1,\"data\":\"ff\"}\n");
  REQUIRE(ws.size() == 2);
  CHECK(ws[0].function == "main");
  CHECK(ws[0].line == 7L);
  CHECK_FALSE(ws[1].function.has_value());
  CHECK_FALSE(ws[1].line.has_value());
  CHECK(apply_writes(ws, 0x404028, 4) == std::vector<std::uint8_t>{0x2a, 0x00, 0xff, 0x00});
  // size and data disagree; a key missing; a wrong type
  CHECK_THROWS(parse_writes("{\"time\":5,\"tid\":1,\"pc\":\"0x1\",\"function\":null,\"file\":null,"
                            "\"line\":null,\"addr\":\"0x2\",\"size\":2,\"data\":\"2a\"}"));
  CHECK_THROWS(parse_writes("{\"time\":5,\"tid\":1,\"pc\":\"0x1\",\"function\":null,\"file\":null,"
                            "\"addr\":\"0x2\",\"size\":1,\"data\":\"2a\"}"));
  CHECK_THROWS(parse_writes("{\"time\":\"5\",\"tid\":1,\"pc\":\"0x1\",\"function\":null,"
                            "\"file\":null,\"line\":null,\"addr\":\"0x2\",\"size\":1,\"data\":\"2a\"}"));

  CHECK(kv("a=1 b=2\nc=3", "b") == "2");
  CHECK(kv("ab=1", "b") == std::nullopt);
  CHECK(kv_all("x=1\nx=2\n", "x") == std::vector<std::string>{"1", "2"});
}

TEST_CASE("oracle: nm and addr2line on the globals subject") {
  auto prog = subject("globals");
  auto syms = nm_symbols(prog);
  REQUIRE(syms.count("g_counter"));
  CHECK(syms["g_counter"].size == 8);
  CHECK(syms["g_counter"].type == 'B');  // .bss: starts as 0
  REQUIRE(syms.count("g_point"));
  CHECK(syms["g_point"].size == 16);
  REQUIRE(syms.count("accumulate"));
  CHECK(std::toupper(static_cast<unsigned char>(syms["accumulate"].type)) == 'T');
  auto locs = addr2line(prog, {syms["accumulate"].addr, syms["main"].addr});
  REQUIRE(locs.size() == 2);
  CHECK(locs[0].function == "accumulate");
  CHECK(fs::path(locs[0].file).filename() == "globals.c");
  CHECK(locs[0].line > 0);
  CHECK(locs[1].function == "main");
  CHECK(locs[1].line > locs[0].line);
}

TEST_CASE("oracle: gdb watchpoint on g_counter agrees with the subject") {
  auto prog = subject("globals");
  RunResult native = run({prog.string()});
  REQUIRE(native.status == 0);
  auto final_value = kv(native.out, "g_counter");
  REQUIRE(final_value);

  WatchResult w = gdb_watch(prog, {}, "g_counter");
  INFO(w.raw.describe());
  // Hardware where it works; where it never fires, the oracle fell back to
  // software watchpoints (which never say "Hardware watchpoint").
  if (w.hardware_never_fired) {
    MESSAGE("hardware watchpoints never fire on this machine; gdb used software watchpoints");
    CHECK_FALSE(w.hardware);
  } else {
    CHECK(w.hardware);
  }
  REQUIRE(w.hits.size() >= 2);
  // The sequence ends with the value the program prints, and that last change
  // is main's negation.
  CHECK(w.hits.back().value == *final_value);
  CHECK(w.hits.back().function == "main");
  // gdb reports changes only: consecutive values differ.
  for (std::size_t k = 1; k < w.hits.size(); ++k) CHECK(w.hits[k].value != w.hits[k - 1].value);
  // All but the last come from accumulate.
  for (std::size_t k = 0; k + 1 < w.hits.size(); ++k) CHECK(w.hits[k].function == "accumulate");
  // The subject's own output under gdb is the same as natively.
  CHECK(kv(w.inferior_out, "g_counter") == final_value);
}

TEST_CASE("subjects: run natively and print what the tests rely on") {
  TempDir t;
  {
    RunResult r = run({subject("globals").string()});
    CHECK(r.status == 0);
    CHECK(kv(r.out, "heap"));
    CHECK(kv(r.out, "heap_bytes").value_or("").size() == 128);
  }
  {
    RunResult r = run({subject("bigcopy").string()});
    CHECK(r.status == 0);
    CHECK(kv(r.out, "dst_mid") == "ab");
    CHECK(kv(r.out, "done") == "1");
  }
  {
    RunResult r = run({subject("simd").string()});
    CHECK(r.status == 0);
    CHECK(kv(r.out, "g_vec").value_or("").size() == 128);
  }
  {
    RunResult r = run({subject("atomics").string()});
    CHECK(r.status == 0);
    CHECK(kv_all(r.out, "cas_ok") == std::vector<std::string>{"1", "0"});
  }
  {
    RunResult r = run({subject("threads").string()});
    CHECK(r.status == 0);
    CHECK(kv(r.out, "g_slots[3]") == "4000999");
  }
  {
    auto src = source_dir() / "suite/subjects/readfile.c";
    RunResult r = run({subject("readfile").string(), src.string(), "7"});
    CHECK(r.status == 7);
    CHECK(kv(r.out, "read") == std::to_string(fs::file_size(src)));
    CHECK(r.err == "readfile: done\n");
  }
  {
    RunResult r = run({subject("crash").string()});
    CHECK(r.status == 139);
    CHECK(r.out == "g_before=42\n");
  }
}

TEST_CASE("harness: no test case's name holds a semicolon, which ctest cannot select") {
  // doctest_discover_tests names each ctest test after its case, and a CMake
  // list splits at ';': such a case would be registered under a part of its
  // name that selects no case, and pass without running (suite/CMakeLists.txt
  // refuses it at configure time too; this catches an edit without one).
  std::vector<std::string> bad;
  for (const auto& entry : fs::directory_iterator(fs::path(OMNI_SOURCE_DIR) / "suite")) {
    if (entry.path().extension() != ".cc") continue;
    for (const std::string& line : split_lines(read_file(entry.path()))) {
      if (line.rfind("TEST_CASE(\"", 0) != 0) continue;
      std::string name = line.substr(11, line.find('"', 11) - 11);
      if (name.find(';') != std::string::npos) bad.push_back(entry.path().filename().string() + ": " + name);
    }
  }
  for (const std::string& b : bad) MESSAGE(b);
  CHECK(bad.empty());
}
