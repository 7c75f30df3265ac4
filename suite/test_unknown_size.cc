// A variable whose size neither its symbol nor DWARF gives is a one-line
// error asking for a length, not a 1-byte guess (issue 8: never turn an
// error into an answer). Truth: nm's size column, the subject's output.
#include <doctest/doctest.h>

#include "omni_fixture.h"

namespace omni::test {

TEST_CASE("names: a variable of unknown size is an error asking for NAME:LENGTH, with a length it answers") {
  Recording rec = record("nosize");
  REQUIRE(rec.rec.out == "g_nosize=77\n");
  RunResult nm = run({"nm", "-S", rec.prog.string()});
  REQUIRE(nm.status == 0);
  // nm -S prints a size column only for symbols that have one.
  bool sized = false;
  for (const std::string& line : split_lines(nm.out))
    if (line.ends_with(" g_nosize")) sized = std::count(line.begin(), line.end(), ' ') > 2;
  REQUIRE_FALSE(sized);

  for (const char* question : {"--read", "--where-written"}) {
    CAPTURE(question);
    RunResult q = run_omni({"query", rec.dir.string(), question, "g_nosize"});
    check_error(q);
    CHECK(q.err.find("size of 'g_nosize' is unknown") != std::string::npos);
    CHECK(q.err.find("g_nosize:LENGTH") != std::string::npos);
  }
  RunResult read = run_omni({"query", rec.dir.string(), "--read", "g_nosize:8"});
  INFO(read.describe());
  REQUIRE(read.status == 0);
  CHECK(parse_json_object(read.out)["data"].s == "4d00000000000000");
  std::vector<Write> writes = where_written(rec.dir, "g_nosize:8");
  REQUIRE(writes.size() == 1);
}

}  // namespace omni::test
