// The CLI in-process: omni::cli::run with injected string streams (multitool/
// commands.h), checked against the documented contract (README.md), against
// the real executables run as processes on the same trace, and against the
// recorded subject's own output.
#include <regex>
#include <sstream>

#include "commands.h"
#include "omni_fixture.h"

using namespace omni::test;

namespace {

struct CliResult {
  int status = -1;
  std::string out, err;
  std::string describe() const {
    return "status " + std::to_string(status) + "\n--- out ---\n" + out + "\n--- err ---\n" + err;
  }
};

CliResult cli(std::vector<std::string> args, bool err_is_terminal = false) {
  std::ostringstream out, err;
  omni::cli::Io io{out, err, err_is_terminal};
  CliResult r;
  r.status = omni::cli::run(std::move(args), io);
  r.out = out.str();
  r.err = err.str();
  return r;
}

// The error contract, in-process: exit status 1, err exactly one line that
// starts with "omni: error: ", nothing on out.
void check_cli_error(const CliResult& r) {
  INFO(r.describe());
  CHECK(r.status == 1);
  auto lines = split_lines(r.err);
  REQUIRE(lines.size() == 1);
  CHECK(lines[0].rfind("omni: error: ", 0) == 0);
  CHECK(lines[0].size() > std::string("omni: error: ").size());
  CHECK(r.err.back() == '\n');
  CHECK(r.out.empty());
}

bool mentions(const std::string& text, const std::string& word) {
  return text.find(word) != std::string::npos;
}

}  // namespace

TEST_CASE("cli in-process: --help names the four subcommands") {
  CliResult r = cli({"omni", "--help"});
  INFO(r.describe());
  CHECK(r.status == 0);
  CHECK(r.err.empty());
  for (const auto& sub : kSubcommands) {
    CAPTURE(sub);
    // As a word of its own, not only inside the examples' prose.
    CHECK(std::regex_search(r.out, std::regex("(^|\\s)" + sub + "(\\s|$)")));
  }
  // -h is the same.
  CHECK(cli({"omni", "-h"}).out == r.out);
  // And the real executable prints the same thing.
  RunResult p = run_omni({"--help"});
  CHECK(p.status == 0);
  CHECK(p.out == r.out);
}

TEST_CASE("cli in-process: subcommand --help") {
  CliResult q = cli({"omni", "query", "--help"});
  INFO(q.describe());
  CHECK(q.status == 0);
  CHECK(q.err.empty());
  CHECK(mentions(q.out, "--where-written"));
  CHECK(mentions(q.out, "--from"));
  CHECK(mentions(q.out, "--last"));
  CHECK(mentions(q.out, "--format"));
  // It is query's help, not the top-level one: that does not list query's
  // options (its subcommand list only quotes query's examples).
  CliResult top = cli({"omni", "--help"});
  CHECK_FALSE(mentions(top.out, "--format"));
  CHECK(q.out != top.out);

  CliResult d = cli({"omni", "dump", "--help"});
  CHECK(d.status == 0);
  CHECK(mentions(d.out, "--json"));
  CHECK_FALSE(mentions(d.out, "--where-written"));
  CliResult rec = cli({"omni", "record", "--help"});
  CHECK(rec.status == 0);
  CHECK(mentions(rec.out, "--output"));
}

TEST_CASE("cli in-process: --version") {
  CliResult r = cli({"omni", "--version"});
  INFO(r.describe());
  CHECK(r.status == 0);
  CHECK(r.err.empty());
  CHECK(split_lines(r.out).size() == 1);
  CHECK(std::regex_search(r.out, std::regex("^omni [0-9]+\\.[0-9]+\\.[0-9]+")));
  RunResult p = run_omni({"--version"});
  CHECK(p.status == 0);
  CHECK(p.out == r.out);
}

TEST_CASE("cli in-process: command line errors are one line and exit 1") {
  TempDir t;
  SUBCASE("unknown subcommand") { check_cli_error(cli({"omni", "frobnicate"})); }
  SUBCASE("no subcommand") { check_cli_error(cli({"omni"})); }
  SUBCASE("unknown top-level option") { check_cli_error(cli({"omni", "--frobnicate"})); }
  SUBCASE("unknown option of a subcommand") {
    check_cli_error(cli({"omni", "query", t.path().string(), "--where-written", "g_x", "--frobnicate"}));
    check_cli_error(cli({"omni", "dump", t.path().string(), "--frobnicate"}));
    check_cli_error(cli({"omni", "index", t.path().string(), "--frobnicate"}));
  }
  SUBCASE("missing required --where-written") {
    CliResult r = cli({"omni", "query", t.path().string()});
    check_cli_error(r);
    CHECK(mentions(r.err, "where-written"));
  }
  SUBCASE("bad option values") {
    check_cli_error(cli({"omni", "query", t.path().string(), "--where-written", "g_x", "--last", "0"}));
    check_cli_error(cli({"omni", "query", t.path().string(), "--where-written", "g_x", "--format", "xml"}));
    check_cli_error(cli({"omni", "query", t.path().string(), "--where-written", "g_x", "--from", "soon"}));
  }
  SUBCASE("the same errors from the real executable") {
    check_error(run_omni({"frobnicate"}));
    check_error(run_omni({"query", t.path().string()}));
  }
}

TEST_CASE("cli in-process: index - query - dump on a real recording") {
  auto rec = record("globals", {}, 0, /*index=*/false);
  const std::string dir = rec.dir.string();
  REQUIRE_FALSE(fs::exists(rec.dir / "index.db"));

  // Before indexing, query says what to do.
  CliResult early = cli({"omni", "query", dir, "--where-written", "g_counter"});
  check_cli_error(early);
  CHECK(mentions(early.err, "omni index"));

  CliResult ix = cli({"omni", "index", dir});
  INFO("in-process index: ", ix.describe());
  REQUIRE(ix.status == 0);
  CHECK(ix.out.empty());
  CHECK_FALSE(mentions(ix.err, "\r"));  // no progress display when err is not a terminal
  CHECK_FALSE(mentions(ix.err, "omni: error"));
  REQUIRE(fs::is_regular_file(rec.dir / "index.db"));

  // In-process query == the omni executable's query on the same trace.
  for (std::vector<std::string> extra :
       {std::vector<std::string>{}, {"--last", "3"}, {"--format", "table"}}) {
    CAPTURE(extra.size());
    std::vector<std::string> args = {"omni", "query", dir, "--where-written", "g_counter"};
    args.insert(args.end(), extra.begin(), extra.end());
    CliResult q = cli(args);
    INFO("in-process query: ", q.describe());
    REQUIRE(q.status == 0);
    CHECK(q.err.empty());
    REQUIRE_FALSE(q.out.empty());
    std::vector<std::string> pargs(args.begin() + 1, args.end());
    RunResult p = run_omni(pargs);
    INFO("process query: ", p.describe());
    REQUIRE(p.status == 0);
    CHECK(q.out == p.out);
  }

  // And the answer is right: replaying the writes gives the value the program
  // printed, and each write is the whole 8-byte variable nm reports.
  CliResult q = cli({"omni", "query", dir, "--where-written", "g_counter"});
  std::vector<Write> ws;
  try {
    ws = parse_writes(q.out);
  } catch (const std::exception& e) {
    FAIL(e.what());
  }
  Symbol sym = nm_symbol(rec.prog, "g_counter");
  REQUIRE(sym.size == 8);
  REQUIRE(ws.size() == 51);  // accumulate(50) stores 50 times, then main negates it once
  for (const auto& w : ws) {
    CHECK(w.addr == sym.addr);
    CHECK(w.size == 8);
  }
  CHECK(std::to_string(le_signed(apply_writes(ws, sym.addr, 8))) ==
        kv(rec.rec.out, "g_counter").value_or("<none>"));

  // dump --json in-process.
  CliResult d = cli({"omni", "dump", dir, "--json"});
  INFO("in-process dump: ", d.describe());
  REQUIRE(d.status == 0);
  CHECK(d.err.empty());
  auto objs = parse_json_lines(d.out);
  REQUIRE(objs.size() == 1);
  auto& o = objs[0];
  REQUIRE(o.count("program"));
  CHECK(o["program"].s == rec.prog.string());
  REQUIRE(o.count("args"));
  REQUIRE((o["args"].kind == Value::Kind::Array && !o["args"].array.empty()));
  CHECK(o["args"].array[0].s == rec.prog.string());
  REQUIRE(o.count("exit_code"));
  CHECK((o["exit_code"].is_int() && o["exit_code"].i == 0));
  for (const char* key : {"indexed", "complete", "recording_complete"}) {
    CAPTURE(key);
    REQUIRE(o.count(key));
    CHECK((o[key].is_bool() && o[key].b));
  }
  REQUIRE(o.count("events"));
  CHECK((o["events"].is_int() && o["events"].i >= static_cast<std::int64_t>(ws.size())));
  REQUIRE(o.count("trace_bytes"));
  CHECK((o["trace_bytes"].is_int() &&
         o["trace_bytes"].i == static_cast<std::int64_t>(fs::file_size(rec.dir / "trace.omni"))));
  REQUIRE(o.count("index_bytes"));
  CHECK((o["index_bytes"].is_int() &&
         o["index_bytes"].i == static_cast<std::int64_t>(fs::file_size(rec.dir / "index.db"))));
  RunResult pd = run_omni({"dump", dir, "--json"});
  REQUIRE(pd.status == 0);
  CHECK(pd.out == d.out);

  // Errors after parsing (an unknown variable) keep the contract too.
  check_cli_error(cli({"omni", "query", dir, "--where-written", "no_such_variable"}));
}

TEST_CASE("cli in-process: argv[0] stem selects the subcommand") {
  auto rec = record("globals");
  const std::string dir = rec.dir.string();

  CliResult want_dump = cli({"omni", "dump", dir, "--json"});
  REQUIRE(want_dump.status == 0);
  CliResult d = cli({"/x/omni-dump", dir, "--json"});
  INFO(d.describe());
  CHECK(d.status == 0);
  CHECK(d.err.empty());
  CHECK(d.out == want_dump.out);
  CHECK(cli({"omni-dump", dir, "--json"}).out == want_dump.out);

  CliResult want_q = cli({"omni", "query", dir, "--where-written", "g_point"});
  REQUIRE(want_q.status == 0);
  CHECK(parse_writes(want_q.out).size() == 3);
  CliResult q = cli({"/usr/local/bin/omni-query", dir, "--where-written", "g_point"});
  CHECK(q.status == 0);
  CHECK(q.out == want_q.out);

  CliResult h = cli({"/x/omni-query", "--help"});
  CHECK(h.status == 0);
  CHECK(mentions(h.out, "--where-written"));

  // The stubs, run for real, agree.
  RunResult sd = run_omni({dir, "--json"}, {}, "omni-dump");
  INFO(sd.describe());
  CHECK(sd.status == 0);
  CHECK(sd.out == want_dump.out);

  // A stem that names no subcommand selects nothing: the directory is then an
  // unknown subcommand.
  check_cli_error(cli({"/x/omni-frob", dir, "--json"}));
  // A plain name is not a stem.
  check_cli_error(cli({"/x/dump", dir, "--json"}));
}

TEST_CASE("cli: record passes PROGRAM and its ARGS through unchanged") {
  // /bin/echo prints its arguments: the recorded run must print what a native
  // run of the same command prints, and the trace must list the same argv.
  struct Case {
    std::vector<std::string> before;  // omni record options, `--` included or not
    std::vector<std::string> command;
  };
  const std::vector<Case> cases = {
      {{}, {"/bin/echo", "a", "b"}},
      {{"--"}, {"/bin/echo", "a", "b"}},
      {{"--"}, {"/bin/echo", "x", "--", "y"}},
      {{}, {"/bin/echo", "x", "--", "y"}},
      {{}, {"/bin/echo", "-o", "z", "--help"}},
  };
  TempDir t;
  int n = 0;
  for (const auto& c : cases) {
    fs::path dir = t / ("trace" + std::to_string(n++));
    std::vector<std::string> args = {"record", "-o", dir.string()};
    args.insert(args.end(), c.before.begin(), c.before.end());
    args.insert(args.end(), c.command.begin(), c.command.end());
    std::string shown;
    for (const auto& a : args) shown += " " + a;
    CAPTURE(shown);
    RunResult native = run(c.command);
    REQUIRE(native.status == 0);
    RunResult r = run_omni(args);
    INFO("omni record: ", r.describe());
    CHECK(r.status == 0);
    CHECK(r.out == native.out);
    if (r.status != 0) continue;
    RunResult d = run_omni({"dump", dir.string(), "--json"});
    INFO("omni dump: ", d.describe());
    REQUIRE(d.status == 0);
    auto objs = parse_json_lines(d.out);
    REQUIRE(objs.size() == 1);
    std::vector<std::string> recorded;
    for (const auto& v : objs[0]["args"].array) recorded.push_back(v.s);
    CHECK(recorded == c.command);
  }
}
