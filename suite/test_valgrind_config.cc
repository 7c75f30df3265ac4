// omni's Valgrind reads no user configuration ($VALGRIND_OPTS, ~/.valgrindrc,
// ./.valgrindrc): settings meant for the user's own Valgrind runs would stop
// omni record from starting (--leak-check=full is no option of omni's tool)
// or kill the program at its first exec and leave a stray file in the trace
// folder (--trace-children=yes). Whatever happens, the trace folder holds
// only private files (0600) and folders (0700).
#include <doctest/doctest.h>
#include <sys/stat.h>

#include <string>
#include <vector>

#include "omni_fixture.h"

using namespace omni::test;

namespace {

// Every entry of `dir` (recursively) is a 0600 regular file or a 0700 folder.
void check_private(const fs::path& dir) {
  CHECK(file_mode(dir) == 0700);
  for (const auto& entry : fs::recursive_directory_iterator(dir)) {
    struct stat st {};
    REQUIRE(::lstat(entry.path().c_str(), &st) == 0);
    INFO(entry.path().string(), " mode ", std::oct, st.st_mode);
    if (S_ISDIR(st.st_mode)) CHECK((st.st_mode & 07777) == 0700);
    else {
      CHECK(S_ISREG(st.st_mode));
      CHECK((st.st_mode & 07777) == 0600);
    }
  }
}

}  // namespace

TEST_CASE("valgrind config: VALGRIND_OPTS, ~/.valgrindrc and ./.valgrindrc do not reach omni's Valgrind") {
  for (std::string opts : {"--leak-check=full", "--trace-children=yes"}) {
    CAPTURE(opts);
    TempDir t;
    // The user's files, in the working directory and in HOME: the same
    // options as VALGRIND_OPTS, and one that omni's tool rejects.
    write_file(t / ".valgrindrc", opts + "\n--leak-check=full\n");
    RunOptions env;
    env.env = {{"VALGRIND_OPTS", opts}, {"HOME", t.path().string()}};
    env.cwd = t.path();

    {  // a program that exits with a status of its own
      fs::path dir = t / "trace-exit";
      fs::path prog = subject("stderr_exit");
      RunResult rec = run_omni({"record", "-o", dir.string(), "--", prog.string(), "exit", "3"}, env);
      RunResult native = run({prog.string(), "exit", "3"}, env);
      INFO("omni record: ", rec.describe());
      CHECK(rec.status == 3);
      CHECK(rec.status == native.status);
      CHECK(rec.out == native.out);
      CHECK(rec.err == native.err);
      check_private(dir);
      RunResult ix = run_omni({"index", dir.string()}, env);
      INFO("omni index: ", ix.describe());
      REQUIRE(ix.status == 0);
      CHECK(ix.err.find("warning") == std::string::npos);
      RunResult q = run_omni({"query", dir.string(), "--output"}, env);
      REQUIRE(q.status == 0);
      CHECK(q.err.empty());
      std::vector<Object> writes = parse_json_lines(q.out);
      REQUIRE(writes.size() == 2);
      std::string out, err;
      for (auto& w : writes) (w["fd"].i == 1 ? out : err) += w["text"].s;
      CHECK(out == native.out);
      CHECK(err == native.err);
      check_private(dir);
    }

    {  // a shell that execs: the exec'd image is recorded too, by a Valgrind that read no user settings
      fs::path dir = t / "trace-exec";
      std::vector<std::string> command = {"sh", "-c", "echo a; exec ls -d /"};
      std::vector<std::string> a = {"record", "-o", dir.string(), "--"};
      a.insert(a.end(), command.begin(), command.end());
      RunResult rec = run_omni(a, env);
      RunResult native = run(command, env);
      INFO("omni record: ", rec.describe());
      CHECK(rec.status == 0);
      CHECK(rec.status == native.status);
      CHECK(rec.out == native.out);
      CHECK(rec.err == native.err);
      CHECK_FALSE(fs::exists(dir / "stream.fifo"));
      check_private(dir);
      RunResult ix = run_omni({"index", dir.string()}, env);
      INFO("omni index: ", ix.describe());
      REQUIRE(ix.status == 0);
      Object o = dump_json(dir);
      CHECK((o["ended_by"].is_string() && o["ended_by"].s == "exec"));
      REQUIRE(o["processes"].array.size() == 2);  // sh, then the ls it exec'd
      RunResult q = run_omni({"query", dir.string(), "--output"}, env);
      REQUIRE(q.status == 0);
      std::string text;
      for (const Object& w : parse_json_lines(q.out)) text += w.at("text").s;
      CHECK(text == native.out);  // sh's "a", then ls's "/"
      check_private(dir);
    }
  }
}
