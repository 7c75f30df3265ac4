// Real programs nobody here wrote (Debian's sqlite3, python3, xz, gzip, pigz)
// and a C++ subject with exceptions and std::map, each recorded on a small
// deterministic input. The truth is a native run of the same program (its
// stdout, stderr and exit status), the input the compressed output must
// decompress to and that read(2) buffers read back at their time must hold,
// and strace of the native run; omni's answers at random
// moments must be well formed and point into code that was mapped then.
#include <algorithm>
#include <cstdint>
#include <random>
#include <regex>
#include <sstream>

#include "omni_fixture.h"

using namespace omni::test;

namespace {

// Random moments checked per program: --registers and --stack at each.
constexpr int kRandomMoments = 10;
// Output writes whose buffers are read back at their time, per program.
constexpr std::size_t kWritesReadBack = 4;

// Absolute path of a Debian program the tests need, or a failure that says
// how to get it.
fs::path debian_program(const std::string& path, const std::string& package) {
  REQUIRE_MESSAGE(fs::exists(path), path << " is missing: install the Debian package " << package
                                         << " (scripts/install-deps does)");
  return path;
}

// Status and the start of stderr: failure messages that stay readable when
// the output is megabytes of compressed data.
std::string brief(const RunResult& r) {
  std::ostringstream o;
  o << "status " << r.status << (r.timed_out ? " (timed out)" : "") << ", " << r.out.size()
    << " bytes of stdout, stderr: " << r.err.substr(0, 400);
  return o.str();
}

// Deterministic text of `size` bytes: lines of words from a small vocabulary
// with numbers, so that compressors do real work (neither random nor constant).
std::string generated_text(std::size_t size, std::uint32_t seed) {
  static const char* const kWords[] = {"alpha", "omni",  "trace", "record", "index", "query",
                                       "write", "stack", "frame", "chunk",  "delta", "zeta"};
  std::mt19937 gen(seed);
  std::string text;
  text.reserve(size + 64);
  while (text.size() < size) {
    int words = 4 + static_cast<int>(gen() % 10);
    for (int w = 0; w < words; ++w) {
      text += kWords[gen() % std::size(kWords)];
      text += std::to_string(gen() % 1000);
      text += w + 1 < words ? ' ' : '\n';
    }
  }
  text.resize(size);
  return text;
}

// `omni verify --sample 50 DIR` must find the replay equal to the recording.
void check_verify(const fs::path& dir) {
  RunResult v = run_omni({"verify", "--sample", "50", dir.string()});
  INFO("omni verify --sample 50: ", brief(v));
  CHECK_FALSE(v.timed_out);
  CHECK(v.status == 0);
}

struct LoadedObject {
  std::string path;
  std::uint64_t start = 0, end = 0;
  std::int64_t loaded = 0;
  std::optional<std::int64_t> unloaded;
};

// The loaded objects of `omni dump --json`.
std::vector<LoadedObject> objects_of(Object& dump) {
  std::vector<LoadedObject> objects;
  REQUIRE(dump["objects"].kind == Value::Kind::Array);
  for (const Value& v : dump["objects"].array) {
    Object o(v.object.begin(), v.object.end());
    LoadedObject lo;
    lo.path = o["path"].s;
    lo.start = parse_address(o["start"].s);
    lo.end = parse_address(o["end"].s);
    lo.loaded = o["time_loaded"].i;
    if (o["time_unloaded"].is_int()) lo.unloaded = o["time_unloaded"].i;
    objects.push_back(lo);
  }
  return objects;
}

// The object holding `pc` at time `at`, or nullptr.
const LoadedObject* object_at(const std::vector<LoadedObject>& objects, std::uint64_t pc,
                              std::int64_t at) {
  for (const auto& o : objects)
    if (pc >= o.start && pc < o.end && o.loaded <= at && (!o.unloaded || *o.unloaded > at))
      return &o;
  return nullptr;
}

bool is_hex_address(const Value& v) {
  if (!v.is_string()) return false;
  try {
    parse_address(v.s);
    return true;
  } catch (const std::exception&) {
    return false;
  }
}

// Writes per file descriptor: (number of calls, bytes the kernel took).
using WriteCounts = std::map<long long, std::pair<long, long long>>;

// `strace -f -ff -e trace=write` of a native run (one log per thread, so no
// call is split across lines by another thread's).
WriteCounts strace_writes(const std::vector<std::string>& argv, const std::string& stdin_data) {
  TempDir t;
  std::vector<std::string> cmd = {"strace", "-f", "-ff", "-qq", "-e", "trace=write",
                                  "-o", (t / "log").string()};
  cmd.insert(cmd.end(), argv.begin(), argv.end());
  RunOptions opts;
  opts.stdin_data = stdin_data;
  RunResult r = run(cmd, opts);
  REQUIRE_MESSAGE(r.status == 0, "strace: " << brief(r));
  WriteCounts counts;
  static const std::regex line(R"(^write\((\d+),.*\)\s+=\s+(-?\d+))");
  for (const auto& entry : fs::directory_iterator(t.path())) {
    for (const auto& l : split_lines(read_file(entry.path()))) {
      std::smatch m;
      if (!std::regex_search(l, m, line)) continue;
      auto& c = counts[std::stoll(m[1])];
      ++c.first;
      if (std::stoll(m[2]) > 0) c.second += std::stoll(m[2]);
    }
  }
  return counts;
}

std::vector<Object> query_lines(const fs::path& dir, const std::vector<std::string>& args) {
  std::vector<std::string> a = {"query", dir.string()};
  a.insert(a.end(), args.begin(), args.end());
  RunResult q = run_omni(a);
  INFO("omni query ", args.at(0), ": ", brief(q));
  REQUIRE(q.status == 0);
  CHECK(q.err.empty());
  std::vector<Object> out;
  for (const auto& l : split_lines(q.out)) out.push_back(parse_json_object(l));
  return out;
}

struct RealRun {
  TempDir tmp;
  fs::path dir;
  RunResult native, recorded;
  Object dump;
};

// Runs ARGV natively and under `omni record`, then indexes, and checks what
// holds for every program: same stdout, stderr and exit status; `--output` is
// what it wrote; the buffers of some writes read back at their time are those
// bytes; write(2) calls per fd equal strace's of the native run; --registers
// and --stack at random moments are well formed and inside mapped code;
// `omni verify` passes.
RealRun check_program(const std::vector<std::string>& argv, const std::string& stdin_data,
                      std::uint64_t seed) {
  RealRun r{TempDir(), {}, {}, {}, {}};
  r.dir = r.tmp / "trace";
  RunOptions opts;
  opts.stdin_data = stdin_data;
  r.native = run(argv, opts);
  REQUIRE_MESSAGE(!r.native.timed_out, "native run: " << brief(r.native));

  std::vector<std::string> rec_args = {"record", "-q", "-o", r.dir.string(), "--"};
  rec_args.insert(rec_args.end(), argv.begin(), argv.end());
  r.recorded = run_omni(rec_args, opts);
  {
    INFO("native run: ", brief(r.native));
    INFO("omni record: ", brief(r.recorded));
    REQUIRE_FALSE(r.recorded.timed_out);
    CHECK(r.recorded.status == r.native.status);
    CHECK(r.recorded.out == r.native.out);
    CHECK(r.recorded.err == r.native.err);
  }

  RunResult ix = run_omni({"index", r.dir.string()});
  REQUIRE_MESSAGE(ix.status == 0, "omni index: " << brief(ix));
  RunResult dump = run_omni({"dump", "--json", r.dir.string()});
  REQUIRE_MESSAGE(dump.status == 0, "omni dump --json: " << brief(dump));
  r.dump = parse_json_object(dump.out);
  CHECK(r.dump["complete"].b);
  REQUIRE(r.dump["exit_code"].is_int());
  CHECK(r.dump["exit_code"].i == r.native.status);
  REQUIRE(r.dump["instructions"].is_int());
  const std::int64_t instructions = r.dump["instructions"].i;
  REQUIRE(instructions > 1);
  auto objects = objects_of(r.dump);

  {
    // --output: the program's stdout and stderr, byte for byte.
    std::string out, err;
    for (auto& row : query_lines(r.dir, {"--output"})) {
      auto bytes = from_hex(row["data"].s);
      (row["fd"].i == 1 ? out : err).append(bytes.begin(), bytes.end());
    }
    CHECK(out == r.recorded.out);
    CHECK(err == r.recorded.err);
  }

  {
    // write(2) calls per fd, against strace of a native run.
    WriteCounts recorded;
    std::vector<Object> stdout_writes;
    for (auto& row : query_lines(r.dir, {"--syscalls", "--name", "write"})) {
      REQUIRE(row["args"].array.size() == 6);
      REQUIRE(row["result"].is_int());
      auto& c = recorded[row["args"].array[0].i];
      ++c.first;
      if (row["result"].i > 0) c.second += row["result"].i;
      if (row["args"].array[0].i == 1 && row["result"].i > 0) stdout_writes.push_back(row);
    }
    CHECK(recorded == strace_writes(argv, stdin_data));

    // The buffer of a write to stdout, read back at the write's time, holds
    // the bytes the program wrote there: the first, the last and some between.
    std::vector<std::size_t> picks;
    for (std::size_t k = 0; k < kWritesReadBack && k < stdout_writes.size(); ++k)
      picks.push_back(k * (stdout_writes.size() - 1) / std::max<std::size_t>(1, kWritesReadBack - 1));
    picks.erase(std::unique(picks.begin(), picks.end()), picks.end());
    std::size_t offset = 0, next = 0;
    for (std::size_t k = 0; k < stdout_writes.size() && next < picks.size(); ++k) {
      auto& w = stdout_writes[k];
      std::int64_t n = w["result"].i;
      if (k == picks[next]) {
        ++next;
        std::string spec = hex_address(w["args"].array[1].i) + ":" + std::to_string(n);
        std::string at = std::to_string(w["time"].i);
        auto rows = query_lines(r.dir, {"--read", spec, "--at", at});
        REQUIRE(rows.size() == 1);
        INFO("write ", k, " of ", stdout_writes.size(), ": --read ", spec, " --at ", at);
        REQUIRE(offset + n <= r.recorded.out.size());
        auto bytes = from_hex(rows[0]["data"].s);
        CHECK(std::string(bytes.begin(), bytes.end()) == r.recorded.out.substr(offset, n));
      }
      offset += n;
    }
  }

  // --registers and --stack at random moments (fixed seed).
  std::mt19937_64 gen(seed);
  std::uniform_int_distribution<std::int64_t> pick(1, instructions);
  for (int k = 0; k < kRandomMoments; ++k) {
    const std::int64_t at = pick(gen);
    const std::string at_s = std::to_string(at);
    RunResult regs = run_omni({"query", r.dir.string(), "--registers", "--at", at_s});
    CHECK_MESSAGE((regs.status == 0 && regs.err.empty()),
                  "--registers --at " << at << ": " << brief(regs));
    RunResult stack = run_omni({"query", r.dir.string(), "--stack", "--at", at_s});
    CHECK_MESSAGE((stack.status == 0 && stack.err.empty()),
                  "--stack --at " << at << ": " << brief(stack));
    if (regs.status != 0 || stack.status != 0) continue;

    Object reg = parse_json_object(regs.out);
    CHECK(reg["at"].i == at);
    for (const char* key : {"rip", "rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi", "r8",
                            "r9", "r10", "r11", "r12", "r13", "r14", "r15", "rflags", "fs_base"}) {
      INFO("register ", key, " = ", reg[key].repr());
      CHECK(is_hex_address(reg[key]));
    }
    for (int x = 0; x < 16; ++x) {
      const Value& v = reg["xmm" + std::to_string(x)];
      INFO("xmm", x, " = ", v.repr());
      CHECK((v.is_string() && from_hex(v.s).size() == 16));
    }
    REQUIRE(is_hex_address(reg["rip"]));
    const std::uint64_t rip = parse_address(reg["rip"].s);
    CHECK_MESSAGE(object_at(objects, rip, at) != nullptr,
                  "rip " << hex_address(rip) << " is in no object loaded at " << at);

    Object st = parse_json_object(stack.out);
    CHECK(st["at"].i == at);
    CHECK(st["tid"].i == reg["tid"].i);
    REQUIRE(st["frames"].kind == Value::Kind::Array);
    REQUIRE_FALSE(st["frames"].array.empty());
    std::int64_t inner_since = at;
    for (std::size_t f = 0; f < st["frames"].array.size(); ++f) {
      const Value& fv = st["frames"].array[f];
      Object frame(fv.object.begin(), fv.object.end());
      INFO("frame ", f, ": ", fv.repr());
      // A frame a tail call replaced jumped away from an address the
      // recording knows only for a direct jump (docs/json.md).
      if (frame["tail_call"].is_bool() && frame["tail_call"].b && frame["pc"].is_null()) continue;
      REQUIRE(is_hex_address(frame["pc"]));
      const std::uint64_t pc = parse_address(frame["pc"].s);
      if (f == 0) CHECK(pc == rip);
      CHECK_MESSAGE(object_at(objects, pc, at) != nullptr,
                    "frame pc " << hex_address(pc) << " is in no object loaded at " << at);
      // Outer frames were entered no later than inner ones.
      if (frame["since"].is_int()) {
        CHECK(frame["since"].i <= inner_since);
        inner_since = frame["since"].i;
      }
    }
  }

  check_verify(r.dir);
  return r;
}

// The program read `input` from a file with read(2): the last reads of the
// fd and thread of its largest read. (Not of its last read: glibc's malloc
// reads a byte of /proc/sys/vm/overcommit_memory when a thread's arena
// shrinks, in pigz after the input, on the same fd number, in some runs.)
// Their buffers, read back at the time of each read (memory the kernel
// filled), hold the file's bytes.
void check_input_reads(const fs::path& dir, const std::string& input) {
  std::vector<Object> reads;
  for (auto& row : query_lines(dir, {"--syscalls", "--name", "read"}))
    if (row["result"].is_int() && row["result"].i > 0) reads.push_back(row);
  REQUIRE_FALSE(reads.empty());
  auto largest = std::max_element(reads.begin(), reads.end(),
                                  [](Object& a, Object& b) { return a["result"].i < b["result"].i; });
  const std::int64_t fd = (*largest)["args"].array.at(0).i, tid = (*largest)["tid"].i;
  std::vector<Object> of_input;
  std::size_t total = 0;
  for (auto it = reads.rbegin(); it != reads.rend() && total < input.size(); ++it) {
    if ((*it)["args"].array.at(0).i != fd || (*it)["tid"].i != tid) continue;
    of_input.insert(of_input.begin(), *it);
    total += (*it)["result"].i;
  }
  REQUIRE_MESSAGE(total == input.size(), "the reads of fd " << fd << " add up to " << total
                                                            << " bytes, not the input's "
                                                            << input.size());
  std::size_t offset = 0;
  for (std::size_t k = 0; k < of_input.size(); ++k) {
    auto& c = of_input[k];
    const std::int64_t n = c["result"].i;
    if (k == 0 || k + 1 == of_input.size() || k == of_input.size() / 2) {
      std::string spec = hex_address(c["args"].array.at(1).i) + ":" + std::to_string(n);
      // A blocking read returns after other threads ran: its bytes land
      // when it returns, the first kernel write there from its time on.
      std::int64_t filled = -1;
      for (auto& w : query_lines(dir, {"--where-written", hex_address(c["args"].array.at(1).i),
                                       "--from", std::to_string(c["time"].i)}))
        if (w["origin"].s == "kernel") {
          filled = w["time"].i;
          break;
        }
      REQUIRE_MESSAGE(filled >= 0, "no kernel write filled the buffer of read " << k);
      auto rows = query_lines(dir, {"--read", spec, "--at", std::to_string(filled)});
      REQUIRE(rows.size() == 1);
      auto bytes = from_hex(rows[0]["data"].s);
      INFO("read ", k, " of ", of_input.size(), " (", spec, " at ", c["time"].i, ")");
      CHECK(std::string(bytes.begin(), bytes.end()) == input.substr(offset, n));
    }
    offset += n;
  }
}

// (object path, offset in it) of an address, from the lowest start of each
// path's mappings.
using Place = std::pair<std::string, std::uint64_t>;

// The frames gdb gives on a native run when the program first enters
// write(1, ...): the pc, then each caller's return address (inline frames,
// which gdb prints without an address, left out), as places in objects.
std::vector<Place> gdb_stack_at_first_write(const std::vector<std::string>& argv,
                                            const std::string& stdin_data) {
  TempDir t;
  write_file(t / "stdin", stdin_data);
  std::string args;
  for (std::size_t k = 1; k < argv.size(); ++k) {
    REQUIRE_MESSAGE(argv[k].find_first_of("'\n") == std::string::npos, "argument not quotable: " << argv[k]);
    args += " '" + argv[k] + "'";
  }
  write_file(t / "cmds.gdb",
             "set pagination off\nset confirm off\nset width 0\nset print thread-events off\n"
             "catch syscall write\ncondition 1 $rdi == 1\n"
             "set args" + args + " < " + (t / "stdin").string() + " > " + (t / "out").string() +
                 " 2>&1\n"
             "run\nprintf \"OMNI_PC %lx\\n\", $pc\nbt\ninfo proc mappings\nkill\n");
  RunResult g = run({"gdb", "-batch", "-nx", "-x", (t / "cmds.gdb").string(), argv[0]});
  REQUIRE_MESSAGE(g.status == 0, "gdb: " << brief(g));
  std::map<std::string, std::uint64_t> base;
  std::vector<std::uint64_t> addrs;
  static const std::regex pc_line(R"(^OMNI_PC ([0-9a-f]+))");
  static const std::regex frame_line(R"(^#(\d+) +0x([0-9a-f]+) in )");
  static const std::regex map_line(R"(^\s*0x([0-9a-f]+)\s+0x[0-9a-f]+\s+0x[0-9a-f]+\s+0x[0-9a-f]+\s+\S+\s+(/\S+)$)");
  for (const auto& l : split_lines(g.out)) {
    std::smatch m;
    if (std::regex_search(l, m, pc_line)) {
      addrs.insert(addrs.begin(), std::stoull(m[1], nullptr, 16));
    } else if (std::regex_search(l, m, frame_line)) {
      if (m[1] != "0") addrs.push_back(std::stoull(m[2], nullptr, 16));
    } else if (std::regex_search(l, m, map_line)) {
      std::uint64_t start = std::stoull(m[1], nullptr, 16);
      auto [it, fresh] = base.emplace(m[2], start);
      if (!fresh) it->second = std::min(it->second, start);
    }
  }
  REQUIRE_MESSAGE(addrs.size() >= 2, "gdb gave no stack:\n" << g.out);
  // An inline frame 0 has no address: its outer frame, #1, has the same pc.
  if (addrs.size() >= 2 && addrs[1] == addrs[0]) addrs.erase(addrs.begin() + 1);
  std::vector<Place> places;
  for (auto a : addrs) {
    Place p{"?", a};
    for (const auto& [path, start] : base)
      if (start <= a && (p.first == "?" || start > base[p.first])) p = {path, a - start};
    places.push_back(p);
  }
  return places;
}

// --stack at the first write(1, ...) against gdb's backtrace at the same
// point of a native run: the same objects, the same pc, and each caller's
// call instruction (omni) just before gdb's return address.
void check_stack_against_gdb(const RealRun& r, const std::vector<std::string>& argv,
                             const std::string& stdin_data) {
  std::optional<std::int64_t> time;
  for (auto& row : query_lines(r.dir, {"--syscalls", "--name", "write"}))
    if (row["args"].array.at(0).i == 1) {
      time = row["time"].i;
      break;
    }
  REQUIRE_MESSAGE(time, "no write to stdout was recorded");
  auto rows = query_lines(r.dir, {"--stack", "--at", std::to_string(*time)});
  REQUIRE(rows.size() == 1);
  Object dump = r.dump;
  auto objects = objects_of(dump);
  std::vector<Place> omni;
  for (const Value& fv : rows[0]["frames"].array) {
    Object frame(fv.object.begin(), fv.object.end());
    if (frame["inline"].b) continue;
    // gdb shows a frame a tail call replaced only where DWARF describes the
    // call site; omni always keeps it, marked (docs/json.md).
    if (frame["tail_call"].is_bool() && frame["tail_call"].b) continue;
    std::uint64_t pc = parse_address(frame["pc"].s);
    const LoadedObject* o = object_at(objects, pc, *time);
    omni.push_back(o ? Place{fs::canonical(o->path).string(), pc - o->start} : Place{"?", pc});
  }
  auto gdb = gdb_stack_at_first_write(argv, stdin_data);
  std::ostringstream both;
  for (std::size_t k = 0; k < std::max(omni.size(), gdb.size()); ++k) {
    both << "\n  #" << k << " omni ";
    if (k < omni.size()) both << omni[k].first << "+" << hex_address(omni[k].second);
    both << "  gdb ";
    if (k < gdb.size()) both << gdb[k].first << "+" << hex_address(gdb[k].second);
  }
  INFO("stacks at the first write(1) (omni at time ", *time, "):", both.str());
  REQUIRE(omni.size() == gdb.size());
  for (std::size_t k = 0; k < omni.size(); ++k) {
    CHECK(omni[k].first == gdb[k].first);
    if (k == 0) {
      CHECK(omni[k].second == gdb[k].second);
    } else {
      CHECK(omni[k].second < gdb[k].second);  // a call instruction is 2 to 7 bytes
      CHECK(omni[k].second + 7 >= gdb[k].second);
    }
  }
}

// Decompresses with `argv` (reading stdin) and returns its stdout.
std::string decompress(const std::vector<std::string>& argv, const std::string& data) {
  RunOptions opts;
  opts.stdin_data = data;
  RunResult d = run(argv, opts);
  REQUIRE_MESSAGE(d.status == 0, "decompressing: " << brief(d));
  return d.out;
}

}  // namespace

TEST_CASE("real programs: sqlite3 creates, inserts and aggregates from a script on stdin") {
  fs::path sqlite = debian_program("/usr/bin/sqlite3", "sqlite3");
  std::mt19937 gen(20261129);
  std::ostringstream sql;
  sql << "create table t(id integer primary key, grp integer, name text, score real);\n"
         "begin;\n";
  for (int i = 0; i < 600; ++i)
    sql << "insert into t(grp, name, score) values(" << gen() % 9 << ", 'n" << gen() % 100000
        << "', " << (gen() % 100000) / 100.0 << ");\n";
  sql << "commit;\n"
         "create index t_grp on t(grp);\n"
         "select count(*), sum(grp), max(name), round(avg(score), 3) from t;\n"
         "select grp, count(*), round(sum(score), 2), min(name) from t group by grp order by grp;\n"
         "select name from t where score > 990 order by name limit 5;\n";
  auto r = check_program({sqlite.string(), ":memory:"}, sql.str(), 1);
  check_stack_against_gdb(r, {sqlite.string(), ":memory:"}, sql.str());
  CHECK(r.native.status == 0);
  // 600 rows, 9 groups: the program's own answer, not omni's.
  CHECK(r.native.out.rfind("600|", 0) == 0);
  CHECK(split_lines(r.native.out).size() >= 10);
}

TEST_CASE("real programs: python3 dict and list churn") {
  fs::path python = debian_program("/usr/bin/python3", "python3");
  const std::string script =
      "d = {}\n"
      "l = []\n"
      "for i in range(6000):\n"
      "    k = (i * 7919) % 1009\n"
      "    d[k] = d.get(k, 0) + i\n"
      "    l.append(str(k))\n"
      "    if len(l) > 300:\n"
      "        del l[:150]\n"
      "s = sorted(d.items(), key=lambda kv: -kv[1])[:3]\n"
      "print(len(d), sum(d.values()), len(l), s)\n";
  auto r = check_program({python.string(), "-c", script}, "", 2);
  CHECK(r.native.status == 0);
  // sum over i of i = 6000*5999/2, whatever the keys.
  CHECK(r.native.out.rfind("1009 17997000 ", 0) == 0);
}

TEST_CASE("real programs: xz -c of a generated file") {
  fs::path xz = debian_program("/usr/bin/xz", "xz-utils");
  TempDir t;
  const std::string text = generated_text(64 << 10, 3);
  write_file(t / "input.txt", text);
  auto r = check_program({xz.string(), "-c", (t / "input.txt").string()}, "", 3);
  check_stack_against_gdb(r, {xz.string(), "-c", (t / "input.txt").string()}, "");
  CHECK(r.native.status == 0);
  CHECK(decompress({xz.string(), "-dc"}, r.recorded.out) == text);
  check_input_reads(r.dir, text);
}

TEST_CASE("real programs: gzip -c of a generated file") {
  fs::path gzip = debian_program("/usr/bin/gzip", "gzip");
  TempDir t;
  const std::string text = generated_text(300 << 10, 4);
  write_file(t / "input.txt", text);
  auto r = check_program({gzip.string(), "-c", (t / "input.txt").string()}, "", 4);
  check_stack_against_gdb(r, {gzip.string(), "-c", (t / "input.txt").string()}, "");
  CHECK(r.native.status == 0);
  CHECK(decompress({gzip.string(), "-dc"}, r.recorded.out) == text);
  check_input_reads(r.dir, text);
}

TEST_CASE("real programs: pigz -p 2 -c of a generated file (threads)") {
  fs::path pigz = debian_program("/usr/bin/pigz", "pigz");
  fs::path gzip = debian_program("/usr/bin/gzip", "gzip");
  TempDir t;
  // Several of pigz's 128 KiB blocks, so both compression threads work.
  const std::string text = generated_text(400 << 10, 5);
  write_file(t / "input.txt", text);
  auto r = check_program({pigz.string(), "-p", "2", "-c", (t / "input.txt").string()}, "", 5);
  CHECK(r.native.status == 0);
  CHECK(decompress({gzip.string(), "-dc"}, r.recorded.out) == text);
  check_input_reads(r.dir, text);
  REQUIRE(r.dump["threads"].kind == Value::Kind::Array);
  CHECK(r.dump["threads"].array.size() >= 3);  // main, the writer and compression threads
}

TEST_CASE("real programs: a C++ program with exceptions and std::map") {
  auto r = check_program({subject("cpp_map").string(), "3000"}, "", 6);
  check_stack_against_gdb(r, {subject("cpp_map").string(), "3000"}, "");
  CHECK(r.native.status == 0);
  // The program counts what it caught: both kinds were thrown and caught.
  auto rejected = kv(r.native.out, "rejected");
  auto out_of_range = kv(r.native.out, "out_of_range");
  REQUIRE(rejected);
  REQUIRE(out_of_range);
  CHECK(std::stol(*rejected) > 0);
  CHECK(std::stol(*out_of_range) > 0);
  CHECK(kv(r.native.out, "checksum"));
}

TEST_CASE("real programs: C++ calls that end in an exception have no return value") {
  // check_key (suite/subjects/cpp_map.cc) returns key * 31 + 7, or throws when
  // the key is divisible by 13 or 17: the source is the truth for each call.
  auto rec = record("cpp_map", {"200"});
  const std::uint64_t entry = addr_of(rec.prog, "_ZN12_GLOBAL__N_19check_keyEm");
  auto calls = query_lines(rec.dir, {"--calls", hex_address(entry)});
  REQUIRE(calls.size() == 200);
  int thrown = 0;
  for (auto& call : calls) {
    REQUIRE(call["args"].array.size() == 1);
    Object arg(call["args"].array[0].object.begin(), call["args"].array[0].object.end());
    REQUIRE(arg["value"].is_int());
    const std::int64_t key = arg["value"].i;
    INFO("check_key(", key, ") at ", call["time"].i, ": return ", call["return"].repr());
    CHECK(call["end_time"].is_int());  // every call has ended: returned or unwound
    if (key % 13 == 0 || key % 17 == 0) {
      ++thrown;
      CHECK(call["return"].is_null());  // it never returned: rax is no return value
    } else {
      CHECK(call["return"].is_int());
      CHECK(call["return"].i == key * 31 + 7);
    }
  }
  CHECK(thrown > 0);
}
