// --calls on a hot function (issue 8, item 9): every call's arguments and
// return value, while replay re-executes about the recording once instead of
// a snapshot's stretch per call. Truth: the subject's arithmetic (each call's
// arguments and result follow from its number) and its printed result; a
// fresh Replayer per moment for the registers a resumed run computes.
#include <doctest/doctest.h>

#include <random>

#include "omni/index/reader.h"
#include "omni/replay/replay.h"
#include "omni_fixture.h"

namespace omni::test {

namespace {

Value member(const Object& o, const std::string& key) {
  auto it = o.find(key);
  REQUIRE_MESSAGE(it != o.end(), "no key " << key);
  return it->second;
}

int64_t arg_value(const Value& args, const std::string& name) {
  for (const Value& a : args.array)
    for (const auto& [k, v] : a.object)
      if (k == "name" && v.s == name)
        for (const auto& [k2, v2] : a.object)
          if (k2 == "value") {
            REQUIRE(v2.is_int());
            return v2.i;
          }
  FAIL("no argument " << name << " in " << args.repr());
  return 0;
}

}  // namespace

TEST_CASE("calls: every call of a hot function, answered from one pass of replay") {
  const int n = 20000;
  Recording r = record("hot_calls", {std::to_string(n)});
  long printed_n = 0, printed = 0;
  REQUIRE(std::sscanf(r.rec.out.c_str(), "%ld %ld", &printed_n, &printed) == 2);
  REQUIRE(printed_n == n);

  RunResult q = run_omni({"query", r.dir.string(), "--calls", "step"});
  INFO("omni query --calls step: ", q.status, " ", q.err);
  REQUIRE(q.status == 0);
  std::vector<Object> calls = parse_json_lines(q.out);
  REQUIRE(calls.size() == static_cast<size_t>(n));
  long acc = 1;
  uint64_t previous = 0;
  for (int i = 0; i < n; ++i) {
    const Object& c = calls[i];
    INFO("call ", i, ": ", member(c, "time").repr());
    CHECK(static_cast<uint64_t>(member(c, "time").i) >= previous);
    previous = member(c, "time").i;
    REQUIRE(arg_value(member(c, "args"), "k") == i);
    REQUIRE(arg_value(member(c, "args"), "x") == acc);
    acc = (acc * 31 + i) % 1000003;
    REQUIRE(member(c, "return").i == acc);
  }
  CHECK(acc == printed);

  // --last streams the same rows.
  RunResult last = run_omni({"query", r.dir.string(), "--calls", "step", "--last", "3"});
  REQUIRE(last.status == 0);
  std::vector<Object> tail = parse_json_lines(last.out);
  REQUIRE(tail.size() == 3);
  for (int i = 0; i < 3; ++i) CHECK(tail[i].at("time").i == calls[n - 3 + i].at("time").i);

  // The replay work: every call's entry and return, asked in time order,
  // re-execute about the recording once (each snapshot's stretch once), not
  // a stretch per call (which was ~2 x n x 8,000 instructions).
  index::IndexReader reader(r.dir.string());
  uint64_t instructions = static_cast<uint64_t>(reader.meta_int("instructions").value_or(0));
  REQUIRE(instructions > 0);
  replay::Replayer replayer(reader);
  for (const Object& c : calls) {
    replayer.registers_at(c.at("time").i, 1);
    replayer.registers_at(c.at("end_time").i, 1);
  }
  INFO("re-executed ", replayer.executed(), " instructions for a recording of ", instructions);
  CHECK(replayer.executed() <= instructions);
}

TEST_CASE("replay: a resumed run gives the registers a fresh replay gives, forwards and backwards") {
  Recording r = record("hot_calls", {"3000"});
  index::IndexReader reader(r.dir.string());
  uint64_t instructions = static_cast<uint64_t>(reader.meta_int("instructions").value_or(0));
  REQUIRE(instructions > 1000);
  std::mt19937_64 random(8);
  std::vector<uint64_t> times;
  for (int i = 0; i < 60; ++i) times.push_back(1 + random() % (instructions - 1));
  // Clusters close together (one snapshot's stretch), in both directions.
  for (int i = 0; i < 20; ++i) {
    uint64_t base = 1 + random() % (instructions - 200);
    for (int d : {0, 37, 5, 120, 1, 119}) times.push_back(base + d);
  }
  replay::Replayer kept(reader);
  for (uint64_t t : times) {
    INFO("time ", t);
    replay::Registers a = kept.registers_at(t, 1);
    replay::Replayer fresh(reader);
    replay::Registers b = fresh.registers_at(t, 1);
    CHECK(a.state == b.state);
    CHECK(a.snapshot == b.snapshot);
    CHECK(a.replayed == b.replayed);
    CHECK(a.note == b.note);
  }
}

}  // namespace omni::test
