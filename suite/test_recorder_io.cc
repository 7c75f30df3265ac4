// What the recorder reads and what it lets through (issue 7, items 6, 8 and
// 10): a program's stdout, stderr and exit status under `omni record` are
// those of a native run; a MAP_SHARED file mapping reads as it was when
// recorded, whatever happens to the file afterwards; memory the recorder
// copies is read safely (an empty shared file moved by mremap). The truth is
// a native run of the same subject, the program's own printed output and the
// bytes the test wrote into the file.
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "omni_fixture.h"

using namespace omni::test;

namespace {

// `omni query DIR --read SPEC --at AT` as one JSON object (exit 0 required).

std::string hex_of(std::string_view text) {
  return to_hex(std::vector<std::uint8_t>(text.begin(), text.end()));
}

// The value after "KEY=" on the line that starts with it, up to the end of
// the line.
std::string printed(const std::string& out, const std::string& key) {
  for (const std::string& line : split_lines(out))
    if (line.rfind(key + "=", 0) == 0) return line.substr(key.size() + 1);
  FAIL("no line " << key << "= in the program's output: " << out);
  return {};
}

// Runs the subject natively and under `omni record`, in the same directory;
// CHECKs that stdout, stderr and the exit status are byte for byte the same.
// Returns the recording's run.
// With `by_name`, the subject is run by its bare name, found in PATH.
RunResult same_as_native(const TempDir& tmp, const std::string& name, const std::vector<std::string>& args,
                         const fs::path& trace, bool by_name = false) {
  std::string program = by_name ? name : subject(name).string();
  std::vector<std::string> native = {program};
  // The harness searches its own PATH; env(1) searches the one given.
  if (by_name) native.insert(native.begin(), "env");
  native.insert(native.end(), args.begin(), args.end());
  RunOptions in_tmp;
  in_tmp.cwd = tmp.path();
  if (by_name) {
    const char* path = std::getenv("PATH");
    in_tmp.env["PATH"] = subject(name).parent_path().string() + ":" + (path ? path : "/usr/bin:/bin");
  }
  RunResult n = run(native, in_tmp);
  std::vector<std::string> rec = {"record", "-o", trace.string(), "--", program};
  rec.insert(rec.end(), args.begin(), args.end());
  RunResult r = run_omni(rec, in_tmp);
  INFO(name, " natively: ", n.describe());
  INFO(name, " under omni record: ", r.describe());
  CHECK_FALSE(r.timed_out);
  CHECK(r.out == n.out);
  CHECK(r.err == n.err);
  CHECK(r.status == n.status);
  return r;
}

}  // namespace

TEST_CASE("record: stdout, stderr and exit status are those of a native run") {
  struct Case {
    std::string subject;
    std::vector<std::string> args;
    int status;  // what the native run must give, so that the case tests what it says
    bool by_name = false;
  };
  const std::vector<Case> cases = {
      {"stderr_exit", {}, 0},
      {"stderr_exit", {"exit", "3"}, 3},
      {"stderr_exit", {"segv"}, 128 + SIGSEGV},
      {"stderr_exit", {"abort"}, 128 + SIGABRT},
      {"crash", {}, 128 + SIGSEGV},
      // The program's descriptors are a native run's: Valgrind's log and
      // omni's slots are not left in its range.
      {"fd_probe", {}, 0},
      // Run by its name through PATH, its argv[0] (which it prints) is that name.
      {"stderr_exit", {"exit", "4"}, 4, true},
  };
  for (const Case& c : cases) {
    std::string label = c.subject;
    for (const auto& a : c.args) label += " " + a;
    if (c.by_name) label += " (by name)";
    SUBCASE(label.c_str()) {
      TempDir tmp;
      fs::path trace = tmp / "trace";
      std::vector<std::string> native_argv = {subject(c.subject).string()};
      native_argv.insert(native_argv.end(), c.args.begin(), c.args.end());
      REQUIRE(run(native_argv).status == c.status);
      RunResult r = same_as_native(tmp, c.subject, c.args, trace, c.by_name);
      if (c.by_name) CHECK(r.err.rfind(c.subject + ": ", 0) == 0);
      // Valgrind's own words went to the recording's log, not to stderr.
      if (c.status == 128 + SIGSEGV) {
        REQUIRE(fs::exists(trace / "valgrind.log"));
        CHECK(read_file(trace / "valgrind.log").find("SIGSEGV") != std::string::npos);
      }
      RunResult ix = run_omni({"index", trace.string()});
      INFO(ix.describe());
      CHECK(ix.status == 0);
      Object dump = parse_json_object(run_omni({"dump", trace.string(), "--json"}).out);
      if (c.status > 128) {
        CHECK(dump["signal"].i == c.status - 128);
      } else {
        CHECK(dump["exit_code"].i == c.status);
      }
    }
  }
}

TEST_CASE("record: an empty shared file moved by mremap over an anonymous page") {
  TempDir tmp;
  fs::path trace = tmp / "trace";
  // The subject creates (and truncates) the file itself.
  RunResult r = same_as_native(tmp, "shared_remap", {(tmp / "file").string()}, trace);
  CHECK(r.status == 0);
  CHECK(r.out.find("mremap moved") != std::string::npos);
  RunResult ix = run_omni({"index", trace.string()});
  INFO(ix.describe());
  CHECK(ix.status == 0);
  Object dump = parse_json_object(run_omni({"dump", trace.string(), "--json"}).out);
  CHECK(dump["recording_complete"].b);
  CHECK(dump["exit_code"].i == 0);
}

TEST_CASE("query --read: a MAP_SHARED file mapping reads as recorded after the file changes") {
  TempDir tmp;
  // Two pages of distinct printable text; the mapping has a third page past
  // the file's end.
  std::string original(8192, ' ');
  for (size_t i = 0; i < original.size(); ++i) original[i] = static_cast<char>('a' + (i * 7 + i / 26) % 26);
  fs::path file = tmp / "data.txt";
  write_file(file, original);
  fs::path trace = tmp / "trace";
  RunResult rec = run_omni({"record", "-o", trace.string(), "--", subject("shared_file").string(), file.string()});
  INFO(rec.describe());
  REQUIRE(rec.status == 0);
  // The program saw the file's bytes (the test's truth about the file).
  std::string mapped = printed(rec.out, "mapped");
  REQUIRE(mapped == original.substr(0, 32) + "|" + original.substr(4096, 16));
  std::string written = printed(rec.out, "written");
  REQUIRE(written == original.substr(0, 8) + "PROGRAM!" + original.substr(16, 16));
  std::string after_child = printed(rec.out, "after_child");
  REQUIRE(after_child == original.substr(0, 8) + "PROGRAM!CHILD!!!" + original.substr(24, 8));

  // Someone rewrites the file after the recording, larger than before.
  write_file(file, std::string(3 * 4096, 'Z'));
  RunResult ix = run_omni({"index", trace.string()});
  INFO(ix.describe());
  REQUIRE(ix.status == 0);

  std::string addr_text = printed(rec.out, "addr");
  uint64_t addr = parse_address(addr_text.substr(0, addr_text.find(' ')));
  uint64_t priv = parse_address(addr_text.substr(addr_text.find("private=") + 8));
  auto spec = [](uint64_t a, uint64_t n) { return hex_address(a) + ":" + std::to_string(n); };

  // What the program printed, at the moment it printed it.
  Object at_map = read_at(trace, spec(addr, 32), "output~mapped=", {"--process", "1"});
  CHECK(at_map["data"].s == hex_of(original.substr(0, 32)));
  Object second_page = read_at(trace, spec(addr + 4096, 16), "output~mapped=", {"--process", "1"});
  CHECK(second_page["data"].s == hex_of(original.substr(4096, 16)));
  Object at_write = read_at(trace, spec(addr, 32), "output~written=", {"--process", "1"});
  CHECK(at_write["data"].s == hex_of(written));
  // Each answer says that the bytes lie in a shared mapping of that file.
  for (Object* o : {&at_map, &at_write}) {
    REQUIRE(o->count("shared") == 1);
    REQUIRE((*o)["shared"].array.size() == 1);
    const auto& part = (*o)["shared"].array[0].object;
    for (const auto& [key, value] : part) {
      if (key == "path") CHECK(value.s == fs::canonical(file).string());
      if (key == "size") CHECK(value.i == 32);
    }
  }
  // The child's write came from another process: the recording cannot know
  // it, and the answer says so instead of inventing bytes: what it holds is
  // what the recorded process itself left there.
  Object later = read_at(trace, spec(addr, 32), "output~after_child=", {"--process", "1"});
  CHECK(later.count("shared") == 1);
  CHECK(later["data"].s == hex_of(written));

  // The third page lies past the file's end as it was then: unknown, not
  // today's 'Z's.
  Object beyond = read_at(trace, spec(addr + 8192, 8), "end", {"--process", "1"});
  CHECK(beyond["data"].s == "????????????????");
  REQUIRE(beyond.count("unknown") == 1);
  CHECK(beyond["unknown"].array.size() == 1);

  // Private memory carries no such flag.
  Object plain = read_at(trace, spec(priv, 8), "end", {"--process", "1"});
  CHECK(plain.count("shared") == 0);
  CHECK(plain.count("unknown") == 0);
  CHECK(plain["data"].s == hex_of(std::string("not shar")));

  // The bytes the mapping held when it appeared are kernel writes at the
  // mmap's time: the file's bytes then.
  std::vector<Write> ws = where_written(trace, spec(addr, 8), {"--process", "1"});
  REQUIRE_FALSE(ws.empty());
  REQUIRE(ws[0].addr == addr);
  REQUIRE(ws[0].data.size() >= 8);
  CHECK(std::vector<std::uint8_t>(ws[0].data.begin(), ws[0].data.begin() + 8) ==
        std::vector<std::uint8_t>(original.begin(), original.begin() + 8));
}

TEST_CASE("query --read: a shared mapping larger than the recorder copies reads unknown past the limit") {
  TempDir tmp;
  // 24 MiB, sparse but for a marker inside the 16 MiB the recorder copies
  // (stream.h, OMNI_SHARED_COPY_MAX) and one past them.
  constexpr uint64_t kSize = 24ull << 20, kInside = 1ull << 20, kBeyond = 20ull << 20;
  fs::path file = tmp / "big";
  {
    std::string marker = "\x11\x22\x33\x44";
    FILE* f = std::fopen(file.c_str(), "wb");
    REQUIRE(f);
    REQUIRE(std::fseek(f, kInside, SEEK_SET) == 0);
    REQUIRE(std::fwrite(marker.data(), 1, 4, f) == 4);
    REQUIRE(std::fseek(f, kBeyond, SEEK_SET) == 0);
    REQUIRE(std::fwrite(marker.data(), 1, 4, f) == 4);
    REQUIRE(std::fseek(f, kSize - 1, SEEK_SET) == 0);
    REQUIRE(std::fputc(0, f) == 0);
    std::fclose(f);
  }
  fs::path trace = tmp / "trace";
  RunResult rec = run_omni({"record", "-o", trace.string(), "--", subject("shared_big").string(), file.string(),
                            std::to_string(kInside), std::to_string(kBeyond)});
  INFO(rec.describe());
  REQUIRE(rec.status == 0);
  REQUIRE(printed(rec.out, "at_a") == "11223344");
  REQUIRE(printed(rec.out, "at_b") == "11223344");
  RunResult ix = run_omni({"index", trace.string()});
  INFO(ix.describe());
  REQUIRE(ix.status == 0);
  std::string addr_text = printed(rec.out, "addr");
  uint64_t addr = parse_address(addr_text.substr(0, addr_text.find(' ')));
  auto spec = [](uint64_t a, uint64_t n) { return hex_address(a) + ":" + std::to_string(n); };
  // Within the limit: the file's bytes as they were.
  Object inside = read_at(trace, spec(addr + kInside, 4), "end");
  CHECK(inside["data"].s == "11223344");
  CHECK(inside.count("unknown") == 0);
  CHECK(inside.count("shared") == 1);
  // Past it: unknown, although the file (still there, unchanged) holds them.
  Object beyond = read_at(trace, spec(addr + kBeyond, 4), "end");
  CHECK(beyond["data"].s == "????????");
  CHECK(beyond.count("unknown") == 1);
}
