// Register replay against the recorder's own register snapshots: re-executing
// the recorded IR from one snapshot must arrive at exactly the guest state
// Valgrind had at the thread's next snapshot.
#include <doctest/doctest.h>

#include "omni/index/reader.h"
#include "omni/replay/verify.h"
#include "omni_fixture.h"

namespace omni::test {

namespace {

// Records with a snapshot every 1024 instructions, so that most snapshots
// are reached by replay from the one before.
uint64_t verify_subject(const std::string& name, const std::vector<std::string>& args = {}, int status = 0) {
  TempDir tmp;
  fs::path dir = tmp / "trace";
  std::vector<std::string> a = {"record", "--snapshot-interval", "1024", "-o", dir.string(), "--",
                                subject(name).string()};
  a.insert(a.end(), args.begin(), args.end());
  RunResult rec = run_omni(a);
  INFO("omni record ", name, ": ", rec.describe());
  REQUIRE(rec.status == status);
  RunResult ix = run_omni({"index", dir.string()});
  REQUIRE(ix.status == 0);
  uint64_t pairs = 0;
  try {
    replay::VerifyResult r = replay::verify({dir.string()});
    if (r.divergence)
      FAIL_CHECK(name << ": divergence at " << r.divergence->time << ": " << r.divergence->what << " expected "
                      << r.divergence->expected << " got " << r.divergence->got);
    pairs = r.states;
  } catch (const std::exception& e) {
    FAIL_CHECK(name << ": " << std::string(e.what()));
  }
  return pairs;
}

}  // namespace

TEST_CASE("replay: re-executed registers equal every later snapshot (globals, deepstack, simd)") {
  CHECK(verify_subject("globals") > 0);
  CHECK(verify_subject("deepstack") > 0);
  CHECK(verify_subject("simd") > 0);
}

TEST_CASE("replay: threads and atomics replay to their snapshots") {
  CHECK(verify_subject("threads") > 0);
  CHECK(verify_subject("atomics") > 0);
}

}  // namespace omni::test
