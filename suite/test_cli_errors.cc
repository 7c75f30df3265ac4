// Error contract: stderr is exactly one line starting "omni: error: ", exit status 1.
#include "omni_fixture.h"

using namespace omni::test;

TEST_CASE("errors: bad trace directory") {
  TempDir t;
  fs::create_directory(t / "empty");
  write_file(t / "file", "not a trace\n");
  for (const fs::path& bad : {t / "missing", t / "empty", t / "file"}) {
    CAPTURE(bad);
    check_error(run_omni({"index", bad.string()}));
    check_error(run_omni({"query", bad.string(), "--where-written", "g_counter"}));
    check_error(run_omni({"dump", bad.string(), "--json"}));
    check_error(run_omni({"dump", bad.string()}));
  }
  // No DIR and no recordings at all under $XDG_DATA_HOME.
  RunOptions env;
  env.env["XDG_DATA_HOME"] = (t / "nodata").string();
  check_error(run_omni({"index"}, env));
  check_error(run_omni({"query", "--where-written", "g_counter"}, env));
  check_error(run_omni({"dump", "--json"}, env));
}

TEST_CASE("errors: corrupt index") {
  auto rec = record("globals");
  // Sanity: the index works before it is damaged.
  REQUIRE_FALSE(where_written(rec.dir, "g_counter").empty());
  std::string garbage;
  for (int k = 0; k < 512; ++k) garbage += "this is not an SQLite database ";
  write_file(rec.dir / "index.db", garbage);
  check_error(run_omni({"query", rec.dir.string(), "--where-written", "g_counter"}));
  check_error(run_omni({"query", rec.dir.string(), "--where-written", "0x1000:8"}));

  // Truncated to a few bytes of the real header.
  write_file(rec.dir / "index.db", "SQLite format 3");
  check_error(run_omni({"query", rec.dir.string(), "--where-written", "g_counter"}));
}

TEST_CASE("errors: malformed address and unknown symbol") {
  auto rec = record("globals");
  for (const char* spec : {"0xZZ", "0x10:zz", "0x10:", "0xZZ:8"}) {
    CAPTURE(spec);
    RunResult r = run_omni({"query", rec.dir.string(), "--where-written", spec});
    check_error(r);
    CHECK(r.out.empty());
  }
  for (const char* spec : {"no_such_var", "g_counter_typo"}) {
    CAPTURE(spec);
    RunResult r = run_omni({"query", rec.dir.string(), "--where-written", spec});
    check_error(r);
    CHECK(r.out.empty());
  }
  // The same trace still answers good queries afterwards.
  CHECK_FALSE(where_written(rec.dir, "g_counter").empty());
}

TEST_CASE("errors: registers, stacks, calls and locals refuse bad requests in one line") {
  auto rec = record("calls");
  const std::string dir = rec.dir.string();
  std::vector<std::vector<std::string>> bad = {
      {"--registers", "--read", "g_total"},             // two questions
      {"--registers", "--stack"},                       // two questions
      {"--tid", "1", "--where-written", "g_total"},     // --tid without a state question
      {"--frame", "1", "--read", "g_total"},            // --frame without local:
      {"--calls", "no_such_function"},                 // unknown function
      {"--read", "local:no_such_local", "--at", "end"}, // not in scope at the end
      {"--registers", "--at", "12abc"},                 // malformed time
      {"--stack", "--at", "output:99"},                 // no such output
      {"--read", "local:i", "--at", "1", "--frame", "40"},  // no such frame
  };
  for (const auto& args : bad) {
    std::vector<std::string> a = {"query", dir};
    a.insert(a.end(), args.begin(), args.end());
    CAPTURE(args.front());
    RunResult r = run_omni(a);
    check_error(r);
    CHECK(r.out.empty());
  }
  // A thread that does not exist has no registers.
  check_error(run_omni({"query", dir, "--registers", "--tid", "99"}));
}
