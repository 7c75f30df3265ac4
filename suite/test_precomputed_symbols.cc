// Symbols precomputed into the index (issue 11). The truth is the
// Symbolizer's own one-address-at-a-time answers from the objects' DWARF
// (which test_symbols*.cc check against addr2line, nm and gdb): every
// translated address of a recording gets exactly those from the batch
// computation, every query answers byte for byte as an index built with
// --no-symbols does, and a recording whose program file is gone answers
// its stack, writes and calls the same.
#include <doctest/doctest.h>
#include <unistd.h>

#include "omni/index/reader.h"
#include "omni/replay/executions.h"
#include "omni/symbols/symbols.h"
#include "omni_fixture.h"

namespace omni::test {

namespace {

std::string describe(const std::optional<symbols::Location>& l) {
  if (!l) return "none";
  return l->function + " " + l->file + ":" + std::to_string(l->line) +
         (l->inlined ? " (inlined)" : "");
}

bool same(const symbols::Location& a, const symbols::Location& b) {
  return a.function == b.function && a.file == b.file && a.line == b.line && a.inlined == b.inlined;
}

// The query's stdout and exit status, for comparing two indexes.
std::string answer(const fs::path& dir, std::vector<std::string> args) {
  args.insert(args.begin(), {"query", dir.string()});
  RunResult r = run_omni(args);
  return std::to_string(r.status) + "\n" + r.out;
}

}  // namespace

TEST_CASE(
    "precomputed symbols: every translated address gets the answers the objects' DWARF gives one "
    "by one") {
  // libc (libc6-dbg: optimized, deeply inlined) and the program's inlined
  // copies of an always_inline function.
  for (const char* name : {"inlined_only", "lazy_symbols"}) {
    Recording r = record(name);
    index::IndexReader reader(r.dir.string());
    std::vector<uint64_t> pcs = replay::translated_instructions(reader);
    REQUIRE(pcs.size() > 1000);
    symbols::Symbolizer batch, one_by_one;
    size_t compared = 0, inlined = 0, with_line = 0;
    for (const index::ObjectRow& o : reader.objects()) {
      int a = batch.add_object(o.path, o.bias), b = one_by_one.add_object(o.path, o.bias);
      auto first = std::lower_bound(pcs.begin(), pcs.end(), o.start);
      auto last = std::lower_bound(first, pcs.end(), o.end);
      std::vector<uint64_t> mine(first, last);
      std::vector<symbols::CodeAnswer> answers = batch.code_answers(a, mine);
      REQUIRE(answers.size() == mine.size());
      for (size_t i = 0; i < mine.size(); ++i) {
        INFO(o.path << " at " << hex_address(mine[i]));
        CHECK(answers[i].pc == mine[i]);
        std::optional<symbols::Location> location = one_by_one.locate(b, mine[i]);
        INFO("batch: " << describe(answers[i].location) << "; one by one: " << describe(location));
        REQUIRE(answers[i].location.has_value() == location.has_value());
        if (location) CHECK(same(*answers[i].location, *location));
        std::vector<symbols::Location> chain = one_by_one.inline_chain(b, mine[i]);
        REQUIRE(answers[i].chain.size() == chain.size());
        for (size_t k = 0; k < chain.size(); ++k) CHECK(same(answers[i].chain[k], chain[k]));
        ++compared;
        if (chain.size() > 1) ++inlined;
        if (location && location->line > 0) ++with_line;
      }
    }
    MESSAGE(name << ": " << compared << " addresses compared, " << inlined << " in inlined code, "
                 << with_line << " with a source line");
    CHECK(compared > 1000);
    CHECK(inlined > 10);
    CHECK(with_line > 1000);
  }
}

TEST_CASE("precomputed symbols: queries answer as from DWARF, and without the program's file") {
  TempDir tmp;
  fs::path prog = tmp / "lazy_symbols";
  fs::copy_file(subject("lazy_symbols"), prog);
  fs::path dir = tmp / "trace", plain = tmp / "plain";
  RunResult rec = run_omni({"record", "-o", dir.string(), "--", prog.string()});
  REQUIRE(rec.status == 0);
  REQUIRE(rec.out == "g_own=15 g_buf=x\n");
  fs::copy(dir, plain, fs::copy_options::recursive);
  REQUIRE(run_omni({"index", dir.string()}).status == 0);
  REQUIRE(run_omni({"index", "--no-symbols", "--no-files", plain.string()}).status == 0);
  Object with = dump_json(dir), without = dump_json(plain);
  CHECK(with["symbols"].s == "precomputed");
  CHECK(without["symbols"].s == "none");
  CHECK(without["kept_files"].i == 0);
  // The program, libc, ld.so and Valgrind's preload object, byte for byte
  // once decompressed (by the zstd tool), in less than their own size.
  CHECK(with["kept_files"].i >= 3);
  bool program_kept = false;
  int64_t libc_bytes = 0;
  for (const fs::directory_entry& e : fs::directory_iterator(dir / "files")) {
    const fs::perms private_file = fs::perms::owner_read | fs::perms::owner_write;
    CHECK((fs::status(e.path()).permissions() & fs::perms::all) == private_file);
    std::string name = e.path().filename().string();
    CHECK(name.ends_with(".zst"));
    RunResult plain = run({"zstd", "-dc", e.path().string()});
    INFO(name, ": ", plain.describe());
    CHECK(plain.status == 0);
    if (name.ends_with("-lazy_symbols.zst")) program_kept = plain.out == read_file(prog);
    if (name.find("-libc.so") != std::string::npos) {
      libc_bytes = static_cast<int64_t>(plain.out.size());
      CHECK(fs::file_size(e.path()) * 2 < plain.out.size());
    }
  }
  CHECK(program_kept);
  CHECK(libc_bytes > 0);
  CHECK(with["kept_file_bytes"].i < libc_bytes);

  const std::string g_own = hex_address(addr_of(prog, "g_own")) + ":8";
  const std::string g_buf = hex_address(addr_of(prog, "g_buf")) + ":8";
  const std::string add = hex_address(addr_of(prog, "add"));
  std::vector<Write> writes = where_written(plain, g_buf);
  REQUIRE(writes.size() == 1);  // by memset, in libc
  const std::string in_memset = std::to_string(writes[0].time);
  const uint64_t end = static_cast<uint64_t>(dump_json(plain)["instructions"].i);
  std::vector<std::vector<std::string>> questions = {
      {"--where-written", g_own},
      {"--where-written", g_buf},
      {"--stack", "--at", in_memset},
      {"--registers", "--at", in_memset},
      {"--calls", add},
      {"--calls", add, "--last", "2"},
      {"--calls", "add", "--last", "2"},
      {"--read", "g_own"},
      {"--read", "g_buf[3]", "--at", in_memset},
  };
  for (uint64_t k = 1; k < 8; ++k) {
    questions.push_back({"--stack", "--at", std::to_string(end * k / 8)});
    questions.push_back({"--registers", "--at", std::to_string(end * k / 8)});
  }
  std::vector<std::string> expected;
  for (const auto& q : questions) {
    expected.push_back(answer(plain, q));
    INFO(q[0] << " " << q[1]);
    CHECK(expected.back().rfind("0\n", 0) == 0);
    CHECK(answer(dir, q) == expected.back());
  }
  // The answers name libc's functions and the program's.
  CHECK(expected[1].find("memset") != std::string::npos);
  CHECK(expected[2].find("\"main\"") != std::string::npos);

  // The program renamed away: the recording with its symbols and files
  // answers the same (names and variables by the program's copy); the
  // other cannot replay the program's code.
  fs::rename(prog, tmp / "gone");
  for (size_t i = 0; i < questions.size(); ++i) {
    INFO(questions[i][0] << " " << questions[i][1]);
    CHECK(answer(dir, questions[i]) == expected[i]);
  }
  CHECK(answer(plain, questions[2]).rfind("1\n", 0) == 0);

  // Moved to another directory as well.
  fs::path moved = tmp / "moved";
  fs::rename(dir, moved);
  for (size_t i = 0; i < questions.size(); ++i) {
    INFO(questions[i][0] << " " << questions[i][1]);
    CHECK(answer(moved, questions[i]) == expected[i]);
  }

  // Copies as omni index made them before 2026-11-30 (uncompressed, no
  // .zst) answer the same.
  for (const fs::directory_entry& e : fs::directory_iterator(moved / "files")) {
    std::string name = e.path().filename().string();
    REQUIRE(name.ends_with(".zst"));
    RunResult plain = run({"zstd", "-dc", e.path().string()});
    REQUIRE(plain.status == 0);
    write_file(moved / "files" / name.substr(0, name.size() - 4), plain.out);
    fs::remove(e.path());
  }
  for (size_t i = 0; i < questions.size(); ++i) {
    INFO(questions[i][0] << " " << questions[i][1]);
    CHECK(answer(moved, questions[i]) == expected[i]);
  }

  // A damaged copy, or one whose frame carries no checksum (not omni's),
  // is an error naming it, not an answer from other bytes.
  fs::path program_copy;
  for (const fs::directory_entry& e : fs::directory_iterator(moved / "files"))
    if (e.path().filename().string().ends_with("-lazy_symbols")) program_copy = e.path();
  REQUIRE(!program_copy.empty());
  std::string zst = program_copy.string() + ".zst";
  std::vector<std::string> ask = {"query", moved.string()};
  ask.insert(ask.end(), questions[2].begin(), questions[2].end());
  for (bool checksummed : {true, false}) {
    CAPTURE(checksummed);
    REQUIRE(run({"zstd", "-q", "-f", checksummed ? "--check" : "--no-check", program_copy.string(), "-o", zst})
                .status == 0);
    std::string packed = read_file(zst);
    if (checksummed) packed[packed.size() / 2] ^= 0x55;
    write_file(zst, packed);
    fs::path plain = program_copy.string() + ".kept";
    fs::rename(program_copy, plain);
    RunResult damaged = run_omni(ask);
    fs::rename(plain, program_copy);
    INFO(damaged.describe());
    CHECK(damaged.status == 1);
    CHECK(damaged.out.empty());
    CHECK(damaged.err.find("lazy_symbols.zst") != std::string::npos);
    CHECK(damaged.err.find("damaged") != std::string::npos);
  }
}

}  // namespace omni::test
