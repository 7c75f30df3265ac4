// One query session answering several questions in process, through sinks
// of typed records (issue 9): a gdb server or any other front end takes the
// records the CLI prints. Truth: the globals subject's own printed values and
// source (50 stores in accumulate, one negation in main, set_point's
// arguments), and the CLI's bytes for the same questions.
#include <doctest/doctest.h>

#include <cstring>
#include <sstream>

#include "omni/base/error.h"
#include "omni/query/query.h"
#include "omni_fixture.h"

namespace omni::test {

namespace {

// Keeps every record, and whether begin() came first.
template <typename Record>
struct Collect final : query::Sink<Record> {
  bool began = false;
  std::vector<Record> records;
  void begin() override {
    CHECK_FALSE(began);
    began = true;
  }
  void put(const Record& r) override {
    CHECK(began);
    records.push_back(r);
  }
};

template <typename Record>
std::string rendered(const std::vector<Record>& records, query::Format format) {
  std::string out;
  if (format == query::Format::Table) render_table_header(static_cast<const Record*>(nullptr), out);
  for (const Record& r : records) {
    if (format == query::Format::Json) render_json(r, out);
    else render_table(r, out);
  }
  return out;
}

std::string cli(const Recording& r, std::vector<std::string> args) {
  args.insert(args.begin(), {"query", r.dir.string()});
  RunResult q = run_omni(args);
  INFO("omni ", args[2], ": ", q.describe());
  REQUIRE(q.status == 0);
  return q.out;
}

}  // namespace

TEST_CASE("session: one session answers several questions with typed records, printing them gives the CLI's bytes") {
  Recording r = record("globals");
  long printed_counter = 0;
  REQUIRE(std::sscanf(r.rec.out.c_str(), "g_counter=%ld", &printed_counter) == 1);
  query::Session session(r.dir.string());

  Collect<query::WriteRecord> writes;
  query::where_written(session, {"g_counter", std::nullopt, std::nullopt, std::nullopt, std::nullopt, true}, writes);
  // accumulate's 50 stores, then main's negation: the last holds the printed value.
  REQUIRE(writes.records.size() == 51);
  const query::WriteRecord& last = writes.records.back();
  REQUIRE(last.data.size() == 8);
  int64_t value = 0;
  std::memcpy(&value, last.data.data(), 8);
  CHECK(value == printed_counter);
  REQUIRE(last.where);
  CHECK(last.where->function == "main");
  REQUIRE(writes.records.front().stack);
  CHECK(writes.records.front().stack->front().functions.front().function == "accumulate");
  CHECK(writes.records.front().stack->at(1).functions.front().function == "main");
  for (auto format : {query::Format::Json, query::Format::Table})
    CHECK(rendered(writes.records, format) ==
          cli(r, {"--where-written", "g_counter", "--stack", "--format",
                  format == query::Format::Json ? "json" : "table"}));

  // The same session: set_point's one call, its arguments from the source.
  Collect<query::CallRecord> calls;
  query::calls(session, {"set_point", std::nullopt, std::nullopt, std::nullopt}, calls);
  REQUIRE(calls.records.size() == 1);
  const auto& args = calls.records[0].args;
  REQUIRE(args.size() == 3);
  CHECK(args[0].name == "x");
  CHECK(args[0].value.s == 0x11223344);
  CHECK(args[1].value.s == -7);
  CHECK(args[2].value.s == 0x0102030405060708L);
  CHECK(calls.records[0].caller->function == "main");
  CHECK(rendered(calls.records, query::Format::Json) == cli(r, {"--calls", "set_point"}));

  // Registers and the stack at the moment of the negation, and memory then.
  std::string at = std::to_string(last.event.time);
  Collect<query::RegistersRecord> regs;
  query::registers(session, {at, std::nullopt}, regs);
  REQUIRE(regs.records.size() == 1);
  CHECK(regs.records[0].where->function == "main");
  Collect<query::StackRecord> stack;
  query::stack(session, {at, std::nullopt}, stack);
  REQUIRE(stack.records.size() == 1);
  CHECK(stack.records[0].frames.front().frame.pc == regs.records[0].regs.rip());
  CHECK(rendered(stack.records, query::Format::Json) == cli(r, {"--stack", "--at", at}));
  Collect<query::MemoryRecord> memory;
  query::read(session, {"g_counter", at, 0, std::nullopt}, memory);
  REQUIRE(memory.records.size() == 1);
  CHECK(memory.records[0].value.kind == query::Scalar::Kind::Signed);
  CHECK(memory.records[0].value.s == printed_counter);
  CHECK(rendered(memory.records, query::Format::Json) == cli(r, {"--read", "g_counter", "--at", at}));
}

TEST_CASE("session: a question refused for what it asks puts nothing in its sink, not even a table's header") {
  Recording r = record("globals");
  query::Session session(r.dir.string());
  Collect<query::SyscallRecord> syscalls;
  CHECK_THROWS_WITH_AS(query::syscalls(session, {"no_such_call"}, syscalls),
                       doctest::Contains("unknown system call 'no_such_call'"), Error);
  CHECK_FALSE(syscalls.began);
  Collect<query::CallRecord> calls;
  CHECK_THROWS_WITH_AS(query::calls(session, {"no_such_function", std::nullopt, std::nullopt, std::nullopt}, calls),
                       doctest::Contains("no function named 'no_such_function'"), Error);
  CHECK_FALSE(calls.began);
  Collect<query::WriteRecord> writes;
  CHECK_THROWS_AS(query::where_written(session, {"no_such_variable", {}, {}, {}, {}, false}, writes), Error);
  CHECK_FALSE(writes.began);
  // The CLI prints the same: nothing on stdout.
  RunResult q = run_omni({"query", r.dir.string(), "--syscalls", "--name", "no_such_call", "--format", "table"});
  CHECK(q.status == 1);
  CHECK(q.out.empty());
}

}  // namespace omni::test
