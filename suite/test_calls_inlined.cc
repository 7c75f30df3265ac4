// --calls of a function that exists only as inlined copies: it is never
// called, and the error says so instead of "no function named" (the name is
// real: --stack shows its inlined frames). Truth: the subject's source (three
// calls of `ordinary`, its printed sum) and nm (no symbol `twice`).
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

}  // namespace omni::test
