// Calls that are not a plain call/ret pair (issue 7): calls through PLT stubs
// (lazy binding included), tail calls, calls left by an exception or a
// longjmp, and signal handlers. Truth: gdb breakpoint hit counts and
// backtraces in a native run, objdump's disassembly, nm, and what the
// subjects count and print themselves.
#include <doctest/doctest.h>

#include <algorithm>
#include <cstring>
#include <regex>
#include <sstream>

#include "omni_fixture.h"

namespace omni::test {

namespace {

Value field(const Value& object, const std::string& key) {
  for (const auto& [k, v] : object.object)
    if (k == key) return v;
  return Value{};
}

std::vector<Object> query_lines(const fs::path& dir, const std::vector<std::string>& args) {
  std::vector<std::string> a = {"query", dir.string()};
  a.insert(a.end(), args.begin(), args.end());
  RunResult q = run_omni(a);
  INFO("omni query: ", q.describe());
  REQUIRE(q.status == 0);
  CHECK(q.err.empty());
  return parse_json_lines(q.out);
}

Object query_object(const fs::path& dir, const std::vector<std::string>& args) {
  std::vector<Object> lines = query_lines(dir, args);
  REQUIRE(lines.size() == 1);
  return lines[0];
}

// `gdb -batch -nx` on PROG ARGS with `commands`; stdout.
std::string gdb_run(const fs::path& prog, const std::vector<std::string>& args,
                    const std::vector<std::string>& commands) {
  std::vector<std::string> argv = {"gdb", "-batch", "-nx", "-ex", "set pagination off", "-ex", "set confirm off"};
  for (const auto& c : commands) {
    argv.push_back("-ex");
    argv.push_back(c);
  }
  argv.push_back("--args");
  argv.push_back(prog.string());
  argv.insert(argv.end(), args.begin(), args.end());
  RunResult g = run(argv);
  INFO("gdb: ", g.describe());
  REQUIRE(g.exited);
  return g.out;
}

// Hit counts of breakpoints 1.. from gdb's `info breakpoints`.
std::map<int, long> hit_counts(const std::string& gdb_out) {
  std::map<int, long> hits;
  std::regex head(R"(^(\d+)\s+breakpoint\s)"), hit(R"(breakpoint already hit (\d+) time)");
  int current = 0;
  for (const std::string& line : split_lines(gdb_out)) {
    std::smatch m;
    if (std::regex_search(line, m, head)) {
      current = std::stoi(m[1]);
      hits[current] = 0;
    } else if (current && std::regex_search(line, m, hit)) {
      hits[current] = std::stol(m[1]);
    }
  }
  return hits;
}

struct GdbFrame {
  std::string function;
  long line = 0;
};

// Backtraces gdb printed: one per "bt" command, each frame's function (or
// "<signal handler called>") and line.
std::vector<std::vector<GdbFrame>> backtraces(const std::string& gdb_out) {
  std::vector<std::vector<GdbFrame>> traces;
  std::regex frame(R"(^#(\d+)\s+(?:0x[0-9a-f]+ in )?(<signal handler called>|[A-Za-z_][A-Za-z0-9_:]*)(.*)$)");
  std::regex at_line(R"( at \S+:(\d+)$)");
  for (const std::string& line : split_lines(gdb_out)) {
    std::smatch m;
    if (!std::regex_search(line, m, frame)) continue;
    if (m[1] == "0") traces.emplace_back();
    if (traces.empty()) continue;
    GdbFrame f{m[2], 0};
    std::string rest = m[3];
    std::smatch l;
    if (std::regex_search(rest, l, at_line)) f.line = std::stol(l[1]);
    traces.back().push_back(f);
  }
  return traces;
}

struct OmniFrame {
  std::string function;
  long line = 0;
  bool inlined = false, tail_call = false;
  std::optional<int64_t> signal;
  std::optional<uint64_t> pc;
};

std::vector<OmniFrame> omni_frames(const Object& stack) {
  std::vector<OmniFrame> out;
  auto it = stack.find("frames");
  REQUIRE(it != stack.end());
  for (const Value& f : it->second.array) {
    OmniFrame o;
    Value fn = field(f, "function"), line = field(f, "line"), pc = field(f, "pc"), sig = field(f, "signal");
    o.function = fn.is_string() ? fn.s : "?";
    o.line = line.is_int() ? line.i : 0;
    o.inlined = field(f, "inline").b;
    o.tail_call = field(f, "tail_call").b;
    if (sig.is_int()) o.signal = sig.i;
    if (pc.is_string()) o.pc = parse_address(pc.s);
    out.push_back(o);
  }
  return out;
}

// The frames gdb shows for code without DWARF call-site information: those
// that still exist. omni lists the frames tail calls replaced too.
std::vector<OmniFrame> gdb_view(const std::vector<OmniFrame>& frames) {
  std::vector<OmniFrame> out;
  for (const OmniFrame& f : frames)
    if (!f.tail_call) out.push_back(f);
  return out;
}

// Addresses of the `jmp` instructions in `function` by objdump, with their
// operand text.
std::vector<std::pair<uint64_t, std::string>> jumps_in(const fs::path& prog, const std::string& function) {
  RunResult r = run({"objdump", "-d", "--no-show-raw-insn", "--disassemble=" + function, prog.string()});
  REQUIRE(r.status == 0);
  std::vector<std::pair<uint64_t, std::string>> out;
  std::regex insn(R"(^\s*([0-9a-f]+):\s+jmp\s+(.*)$)");
  for (const std::string& line : split_lines(r.out)) {
    std::smatch m;
    if (std::regex_search(line, m, insn)) out.emplace_back(std::stoull(m[1], nullptr, 16), m[2]);
  }
  return out;
}

uint64_t time_of(const Object& call, const char* key = "time") {
  auto it = call.find(key);
  REQUIRE(it != call.end());
  REQUIRE(it->second.is_int());
  return static_cast<uint64_t>(it->second.i);
}

uint64_t le64(const std::vector<uint8_t>& bytes, size_t at = 0) {
  REQUIRE(bytes.size() >= at + 8);
  uint64_t v;
  std::memcpy(&v, bytes.data() + at, 8);
  return v;
}

}  // namespace

TEST_CASE("calls: library functions called through PLT stubs are found as often as gdb's breakpoints hit") {
  const std::string rounds = "300";
  Recording r = record("plt_calls", {rounds});
  // gdb at the first instruction of each function, counting from main on
  // (the dynamic loader's own calls before main are not the program's).
  std::string g = gdb_run(r.prog, {rounds},
                          {"break main", "run", "break *printf", "break *malloc", "break *pthread_mutex_lock",
                           "break *free", "ignore 2 1000000", "ignore 3 1000000", "ignore 4 1000000",
                           "ignore 5 1000000", "continue", "info breakpoints"});
  std::map<int, long> hits = hit_counts(g);
  INFO("gdb:\n", g);
  REQUIRE(hits.size() == 5);
  // The subject's own counts: every one of its calls is in gdb's.
  auto locks = kv(r.rec.out, "locks"), mallocs = kv(r.rec.out, "mallocs"), prints = kv(r.rec.out, "prints");
  REQUIRE(locks);
  REQUIRE(mallocs);
  REQUIRE(prints);
  CHECK(hits[4] >= std::stol(*locks));
  CHECK(hits[3] >= std::stol(*mallocs));
  CHECK(hits[2] >= std::stol(*prints));

  std::vector<Object> mains = query_lines(r.dir, {"--calls", "main"});
  REQUIRE(mains.size() == 1);
  std::string from = std::to_string(time_of(mains[0]));
  uint64_t lock_addr = addr_of(r.prog, "g_lock");
  const std::vector<std::pair<std::string, int>> functions = {
      {"printf", 2}, {"malloc", 3}, {"pthread_mutex_lock", 4}, {"free", 5}};
  for (const auto& [name, bp] : functions) {
    CAPTURE(name);
    std::vector<Object> calls = query_lines(r.dir, {"--calls", name, "--from", from});
    CHECK(static_cast<long>(calls.size()) == hits[bp]);
    size_t from_main = 0;
    for (Object& c : calls) {
      CHECK(c["kind"].s == "call");
      CHECK(c["ended"].s == "returned");
      if (c["caller"].is_string() && c["caller"].s == "main") ++from_main;
    }
    // The program's own calls, the first one (through the lazy binder)
    // included, are made from main through the PLT.
    if (name == "pthread_mutex_lock") {
      CHECK(static_cast<long>(from_main) == std::stol(*locks));
      for (Object& c : calls) {
        if (c["caller"].s != "main") continue;
        REQUIRE(c["args"].array.size() >= 1);
        CHECK(parse_address(field(c["args"].array[0], "value").s) == lock_addr);
      }
    }
    if (name == "malloc") CHECK(static_cast<long>(from_main) == std::stol(*mallocs));
    if (name == "printf") CHECK(static_cast<long>(from_main) == std::stol(*prints));
    // free returns void: no return value; malloc returns a pointer.
    if (name == "free")
      for (Object& c : calls) CHECK(c["return"].is_null());
    if (name == "malloc")
      for (Object& c : calls) CHECK(c["return"].is_string());
  }
}

TEST_CASE("calls: tail calls are calls, and --stack shows the frames they replaced where gdb shows them gone") {
  Recording r = record("tail_calls");
  std::string g = gdb_run(r.prog, {}, {"break *leaf", "run", "bt", "continue", "bt", "continue", "bt", "continue",
                                       "bt", "continue", "bt", "continue", "bt", "continue", "bt", "continue", "bt",
                                       "continue", "bt", "continue", "info breakpoints"});
  INFO("gdb:\n", g);
  std::map<int, long> hits = hit_counts(g);
  std::vector<std::vector<GdbFrame>> traces = backtraces(g);
  auto leaf_count = kv(r.rec.out, "leaf");
  REQUIRE(leaf_count);
  REQUIRE(hits[1] == std::stol(*leaf_count));
  REQUIRE(static_cast<long>(traces.size()) == hits[1]);

  std::vector<Object> calls = query_lines(r.dir, {"--calls", "leaf"});
  REQUIRE(static_cast<long>(calls.size()) == hits[1]);
  // relay and relay2 end in a direct jmp (to leaf, to relay); relay_ptr's
  // jmp is indirect.
  auto relay_jumps = jumps_in(r.prog, "relay");
  auto relay2_jumps = jumps_in(r.prog, "relay2");
  REQUIRE(relay_jumps.size() == 1);
  REQUIRE(relay2_jumps.size() == 1);
  CHECK(relay_jumps[0].second.find("<leaf>") != std::string::npos);
  for (size_t k = 0; k < calls.size(); ++k) {
    CAPTURE(k);
    Object& c = calls[k];
    CHECK(c["kind"].s == "tail_call");
    CHECK(c["ended"].s == "returned");
    REQUIRE(c["args"].array.size() == 1);
    long x = field(c["args"].array[0], "value").i;
    CHECK(c["return"].i == x * 2 + 1);
    // main calls relay(k), relay2(k), relay_ptr(k, leaf) in turn.
    const char* caller = k % 3 == 2 ? "relay_ptr" : "relay";
    CHECK(c["caller"].s == caller);
    if (k % 3 == 2) CHECK(c["pc"].is_null());
    else CHECK(parse_address(c["pc"].s) == relay_jumps[0].first);

    Object stack = query_object(r.dir, {"--stack", "--at", std::to_string(time_of(c))});
    std::vector<OmniFrame> frames = omni_frames(stack);
    std::vector<OmniFrame> physical = gdb_view(frames);
    const std::vector<GdbFrame>& bt = traces[k];
    REQUIRE(physical.size() >= 2);
    REQUIRE(bt.size() >= 2);
    // gdb: leaf, then main at the line of its call of the relay.
    CHECK(physical[0].function == bt[0].function);
    CHECK(physical[1].function == bt[1].function);
    CHECK(physical[1].line == bt[1].line);
    // The replaced frames, innermost first, each at its jump.
    std::vector<std::string> replaced;
    for (const OmniFrame& f : frames)
      if (f.tail_call) replaced.push_back(f.function);
    if (k % 3 == 0) {
      CHECK(replaced == std::vector<std::string>{"relay"});
    } else if (k % 3 == 1) {
      CHECK(replaced == std::vector<std::string>{"relay", "relay2"});
      REQUIRE(frames.size() >= 3);
      CHECK(frames[2].pc == std::optional<uint64_t>(relay2_jumps[0].first));
    } else {
      CHECK(replaced == std::vector<std::string>{"relay_ptr"});
      CHECK_FALSE(frames[1].pc.has_value());
    }
    REQUIRE(frames.size() >= 2);
    if (k % 3 != 2) CHECK(frames[1].pc == std::optional<uint64_t>(relay_jumps[0].first));
    // A replaced frame's locals are gone.
    RunResult local = run_omni({"query", r.dir.string(), "--read", "local:x", "--at",
                                std::to_string(time_of(c)), "--frame", "1"});
    check_error(local);
  }
  // relay2's own call returns when leaf does, with leaf's value.
  std::vector<Object> relay2 = query_lines(r.dir, {"--calls", "relay2"});
  REQUIRE(relay2.size() == 3);
  for (size_t k = 0; k < 3; ++k) {
    CHECK(relay2[k]["kind"].s == "call");
    CHECK(relay2[k]["end_time"].i == calls[3 * k + 1]["end_time"].i);
    CHECK(relay2[k]["return"].i == calls[3 * k + 1]["return"].i);
  }
}

TEST_CASE("calls: a long chain of tail calls is counted in full, and stays bounded") {
  Recording r = record("tail_calls", {"long"});
  auto pings = kv(r.rec.out, "ping"), pongs = kv(r.rec.out, "pong");
  REQUIRE(pings);
  REQUIRE(pongs);
  std::vector<Object> ping = query_lines(r.dir, {"--calls", "ping"});
  std::vector<Object> pong = query_lines(r.dir, {"--calls", "pong"});
  CHECK(static_cast<long>(ping.size()) == std::stol(*pings));
  CHECK(static_cast<long>(pong.size()) == std::stol(*pongs));
  REQUIRE(!ping.empty());
  // main's call of ping(200) returns what the last of the chain, ping(0), returns.
  CHECK(ping[0]["kind"].s == "call");
  CHECK(ping[0]["ended"].s == "returned");
  CHECK(ping[0]["return"].i == 0);
  size_t replaced = 0;
  for (auto* list : {&ping, &pong})
    for (Object& c : *list) {
      if (c["ended"].s == "replaced") {
        ++replaced;
        CHECK(c["return"].is_null());
      } else {
        CHECK(c["ended"].s == "returned");
      }
    }
  // Of the 201 calls, main's and the first 63 tail calls stay nested (64
  // tail-call frames at most), the last returns; the others were replaced.
  CHECK(replaced == ping.size() + pong.size() - 1 - 63 - 1);
  // The deepest --stack holds at most 64 tail-call frames.
  Object stack = query_object(r.dir, {"--stack", "--at", std::to_string(time_of(ping.back()))});
  std::vector<OmniFrame> frames = omni_frames(stack);
  CHECK(std::count_if(frames.begin(), frames.end(), [](const OmniFrame& f) { return f.tail_call; }) == 64);
}

TEST_CASE("calls: calls left by an exception or a longjmp are unwound, without a return value, C++ argument types are named") {
  Recording r = record("unwind");
  auto address = [&](const std::string& plain) {
    for (const auto& [name, sym] : nm_symbols(r.prog))
      if (name.find(plain) != std::string::npos && (sym.type == 'T' || sym.type == 't')) return sym.addr;
    FAIL("no symbol for " << plain);
    return uint64_t{0};
  };
  std::string descend = hex_address(address("7descend")), jump_down = hex_address(address("9jump_down")),
              note = hex_address(address("4note"));
  std::string g = gdb_run(r.prog, {}, {"break *" + descend, "break *" + jump_down, "break *" + note, "run",
                                       "whatis label", "delete 1 2 3",
                                       "break *" + descend, "break *" + jump_down, "break *" + note,
                                       "ignore 4 1000", "ignore 5 1000", "ignore 6 1000", "continue",
                                       "info breakpoints"});
  INFO("gdb:\n", g);
  std::map<int, long> hits = hit_counts(g);
  std::smatch m;
  REQUIRE(std::regex_search(g, m, std::regex(R"(type = (.*))")));
  std::string gdb_type = m[1];

  std::vector<Object> d = query_lines(r.dir, {"--calls", descend});
  std::vector<Object> j = query_lines(r.dir, {"--calls", jump_down});
  std::vector<Object> n = query_lines(r.dir, {"--calls", note});
  // The first descend call was made before gdb's breakpoints 4-6 existed.
  CHECK(static_cast<long>(d.size()) == hits[4] + 1);
  CHECK(static_cast<long>(j.size()) == hits[5]);
  CHECK(static_cast<long>(n.size()) == hits[6]);
  CHECK(kv(r.rec.out, "descend") == std::to_string(d.size()));
  CHECK(kv(r.rec.out, "jump") == std::to_string(j.size()));
  for (auto* list : {&d, &j})
    for (Object& c : *list) {
      CHECK(c["ended"].s == "unwound");
      CHECK(c["return"].is_null());
      CHECK(c["end_time"].i > c["time"].i);
    }
  for (Object& c : n) {
    CHECK(c["ended"].s == "returned");
    CHECK(c["return"].is_null());  // void
  }
  // The label argument: its type as gdb names it, its value the address of
  // the std::string holding the text main passed ("deep").
  for (auto* list : {&d, &j, &n}) {
    for (Object& c : *list) {
      REQUIRE(c["args"].array.size() == 2);
      const Value& label = c["args"].array[0];
      CHECK(field(label, "name").s == "label");
      CHECK(field(label, "type").s == gdb_type);
      std::string at = std::to_string(time_of(c));
      Object object = query_object(r.dir, {"--read", field(label, "value").s + ":16", "--at", at});
      std::vector<uint8_t> bytes = from_hex(object["data"].s);
      uint64_t text = le64(bytes), length = le64(bytes, 8);
      CHECK(length == 4);
      Object chars = query_object(r.dir, {"--read", hex_address(text) + ":4", "--at", at});
      CHECK(chars["data"].s == "64656570");  // "deep"
    }
  }
  // After the longjmp, before main's next call, the jumped-over frames are gone.
  REQUIRE(!j.empty());
  uint64_t unwound_at = static_cast<uint64_t>(j[0]["end_time"].i);
  Object stack = query_object(r.dir, {"--stack", "--at", std::to_string(unwound_at - 1)});
  std::vector<OmniFrame> frames = omni_frames(stack);
  REQUIRE(!frames.empty());
  CHECK(frames[0].function == "main");
}

TEST_CASE("calls: signal handlers are calls, and --stack in a handler shows the interrupted frames as gdb's bt does") {
  Recording r = record("sig_handlers");
  std::string g = gdb_run(r.prog, {}, {"handle SIGUSR1 nostop noprint pass", "handle SIGALRM nostop noprint pass",
                                       "break *on_usr1", "break *on_alarm", "run", "bt", "continue", "bt",
                                       "continue", "bt", "continue", "bt", "continue", "info breakpoints"});
  INFO("gdb:\n", g);
  std::map<int, long> hits = hit_counts(g);
  std::vector<std::vector<GdbFrame>> traces = backtraces(g);
  REQUIRE(hits[1] == 3);
  REQUIRE(hits[2] == 1);
  REQUIRE(traces.size() == 4);
  CHECK(kv(r.rec.out, "usr1") == "3");
  CHECK(kv(r.rec.out, "alarm") == "1");

  std::vector<Object> usr1 = query_lines(r.dir, {"--calls", "on_usr1"});
  std::vector<Object> alarm = query_lines(r.dir, {"--calls", "on_alarm"});
  REQUIRE(static_cast<long>(usr1.size()) == hits[1]);
  REQUIRE(static_cast<long>(alarm.size()) == hits[2]);
  std::vector<std::pair<Object, int>> all;
  for (Object& c : usr1) all.emplace_back(c, 10);
  for (Object& c : alarm) all.emplace_back(c, 14);
  for (size_t k = 0; k < all.size(); ++k) {
    CAPTURE(k);
    Object& c = all[k].first;
    CHECK(c["kind"].s == "signal");
    CHECK(c["signal"].i == all[k].second);
    CHECK(c["ended"].s == "returned");
    CHECK(c["return"].is_null());  // void handler
    REQUIRE(c["args"].array.size() == 1);
    CHECK(field(c["args"].array[0], "value").i == all[k].second);

    Object stack = query_object(r.dir, {"--stack", "--at", std::to_string(time_of(c))});
    std::vector<OmniFrame> frames = omni_frames(stack);
    REQUIRE(frames.size() >= 3);
    CHECK(frames[1].function == "<signal handler called>");
    CHECK(frames[1].signal == std::optional<int64_t>(all[k].second));
    CHECK_FALSE(frames[1].pc.has_value());
    const std::vector<GdbFrame>& bt = traces[k];
    REQUIRE(bt.size() >= 3);
    // The handler, the signal frame, the interrupted function (in libc for
    // raise(), main for the alarm), then main at the line gdb shows.
    for (size_t i = 0; i < 3; ++i) CHECK(frames[i].function == bt[i].function);
    auto omni_main = std::find_if(frames.begin(), frames.end(), [](const OmniFrame& f) { return f.function == "main"; });
    auto gdb_main = std::find_if(bt.begin(), bt.end(), [](const GdbFrame& f) { return f.function == "main"; });
    REQUIRE(omni_main != frames.end());
    REQUIRE(gdb_main != bt.end());
    CHECK(omni_main->line == gdb_main->line);
    // A signal frame has no locals.
    RunResult local = run_omni({"query", r.dir.string(), "--read", "local:sig", "--at",
                                std::to_string(time_of(c)), "--frame", "1"});
    check_error(local);
  }
}

}  // namespace omni::test
