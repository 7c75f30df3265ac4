// --calls of functions the compiler transformed. One that exists only as
// inlined copies is never called, and the error says so instead of "no
// function named" (the name is real: --stack shows its inlined frames).
// Truth: the subject's source (three calls of `ordinary`, its printed sum)
// and nm (no symbol `twice`). A GCC clone (NAME.constprop.N) takes other
// arguments than its DWARF says: they are unknown (null), never decoded.
// Truth: nm of ld.so's debug file (Debian's libc6-dbg) names the clone.
#include <doctest/doctest.h>

#include "omni_fixture.h"

namespace omni::test {

TEST_CASE("calls: a function every use of which was inlined is said to be never called, naming the object") {
  Recording r = record("inlined_only");
  CHECK(r.rec.out == "9\n");
  RunResult nm = run({"nm", r.prog.string()});
  REQUIRE(nm.status == 0);
  CHECK(nm.out.find(" ordinary\n") != std::string::npos);
  CHECK(nm.out.find(" twice\n") == std::string::npos);

  RunResult q = run_omni({"query", r.dir.string(), "--calls", "twice"});
  CHECK(q.status == 1);
  CHECK(q.out.empty());
  CHECK(q.err == "omni: error: 'twice' is never called: every use of it in " + r.prog.string() +
                     " was inlined (no out-of-line copy exists); its inlined frames show in --stack\n");

  RunResult calls = run_omni({"query", r.dir.string(), "--calls", "ordinary"});
  REQUIRE(calls.status == 0);
  CHECK(parse_json_lines(calls.out).size() == 3);
  // A name nothing defines is still "no function named".
  RunResult none = run_omni({"query", r.dir.string(), "--calls", "no_such_function_here"});
  CHECK(none.status == 1);
  CHECK(none.err.find("no function named 'no_such_function_here'") != std::string::npos);
}

TEST_CASE("calls: a compiler clone's arguments and return value are unknown, not decoded from the original's DWARF") {
  Recording r = record("globals");
  Object dump = dump_json(r.dir);
  std::string build_id;
  for (const Value& o : dump["objects"].array)
    for (const auto& [k, v] : o.object)
      if (k == "path" && v.s.find("/ld-linux-x86-64.so.2") != std::string::npos)
        for (const auto& [k2, v2] : o.object)
          if (k2 == "build_id") build_id = v2.s;
  REQUIRE(build_id.size() > 2);
  fs::path debug = fs::path("/usr/lib/debug/.build-id") / build_id.substr(0, 2) / (build_id.substr(2) + ".debug");
  if (!fs::exists(debug)) {
    MESSAGE("skipped: no debug file for ld.so (" << debug << "): install libc6-dbg");
    return;
  }
  RunResult nm = run({"nm", debug.string()});
  REQUIRE(nm.status == 0);
  std::string clone;
  for (const std::string& line : split_lines(nm.out))
    if (line.find(" intel_check_word.constprop.") != std::string::npos) clone = line.substr(line.rfind(' ') + 1);
  if (clone.empty()) {
    MESSAGE("skipped: this ld.so has no intel_check_word.constprop clone");
    return;
  }
  RunResult q = run_omni({"query", r.dir.string(), "--calls", clone});
  INFO("omni query --calls ", clone, ": ", q.describe());
  REQUIRE(q.status == 0);
  std::vector<Object> calls = parse_json_lines(q.out);
  REQUIRE_FALSE(calls.empty());
  for (Object& c : calls) {
    CHECK(c["function"].s == clone);
    CHECK(c["args"].is_null());
    CHECK(c["return"].is_null());
  }
  RunResult table = run_omni({"query", r.dir.string(), "--calls", clone, "--format", "table", "--last", "1"});
  REQUIRE(table.status == 0);
  CHECK(table.out.find(clone + "(?)") != std::string::npos);
}

}  // namespace omni::test
