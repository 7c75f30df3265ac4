// omni::symbols frames API (find_function, parameters, inline_chain,
// find_local, local_names) against independent oracles: nm, addr2line -i and
// gdb stopped in the real program. Subjects: `frames` (-g -O0, -no-pie) and a
// small -O2 PIE program compiled here, for inlining, register locations and a
// nonzero load bias.
#include <doctest/doctest.h>

#include <algorithm>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "harness.h"
#include "omni/base/error.h"
#include "omni/symbols/symbols.h"

using namespace omni::test;
using omni::symbols::FrameContext;
using omni::symbols::LocalValue;
using omni::symbols::Symbolizer;
using omni::symbols::TypeInfo;

namespace {

// The line of the subject's source holding `marker` (1-based).
int marker_line(const fs::path& source, std::string_view marker) {
  auto lines = split_lines(read_file(source));
  for (size_t i = 0; i < lines.size(); ++i)
    if (lines[i].find(marker) != std::string::npos) return static_cast<int>(i + 1);
  FAIL("no line with '" << marker << "' in " << source);
  return 0;
}

// `gdb -batch -nx PROG` running `commands`, one -ex each.
std::string gdb_batch(const fs::path& prog, const std::vector<std::string>& commands) {
  std::vector<std::string> argv = {"gdb", "-batch", "-nx"};
  for (const auto& command : commands) {
    argv.push_back("-ex");
    argv.push_back(command);
  }
  argv.push_back(prog.string());
  RunResult r = run(argv);
  INFO(r.describe());
  REQUIRE(r.status == 0);
  return r.out;
}

std::string print_address(const std::string& key, const std::string& expr) {
  return "printf \"" + key + "=%#lx\\n\", " + expr;
}

uint64_t gdb_address(const std::string& out, const std::string& key) {
  auto value = kv(out, key);
  INFO("gdb printed no " << key << ":\n" << out);
  REQUIRE(value.has_value());
  return parse_address(*value);
}

// The CFAs of `info frame`, in order: "Stack level N, frame at 0x...:".
std::vector<uint64_t> gdb_cfas(const std::string& out) {
  std::vector<uint64_t> cfas;
  std::regex pattern("Stack level [0-9]+, frame at (0x[0-9a-f]+)");
  for (auto it = std::sregex_iterator(out.begin(), out.end(), pattern); it != std::sregex_iterator(); ++it)
    cfas.push_back(parse_address((*it)[1].str()));
  return cfas;
}

// `info registers` lines "rax  0x1c  28" as x86-64 DWARF register numbers.
std::map<int, uint64_t> gdb_registers(const std::string& out) {
  static const std::map<std::string, int> kDwarf = {
      {"rax", 0}, {"rdx", 1}, {"rcx", 2},  {"rbx", 3},  {"rsi", 4},  {"rdi", 5},  {"rbp", 6},  {"rsp", 7},  {"r8", 8},
      {"r9", 9},  {"r10", 10}, {"r11", 11}, {"r12", 12}, {"r13", 13}, {"r14", 14}, {"r15", 15}, {"rip", 16}};
  std::map<int, uint64_t> regs;
  for (const auto& line : split_lines(out)) {
    std::istringstream fields(line);
    std::string name, hex;
    if (!(fields >> name >> hex) || hex.rfind("0x", 0) != 0) continue;
    auto it = kDwarf.find(name);
    if (it != kDwarf.end()) regs[it->second] = parse_address(hex);
  }
  return regs;
}

FrameContext context(uint64_t pc, uint64_t cfa, std::map<int, uint64_t> regs = {}) {
  return FrameContext{pc, cfa, [regs](int regno) -> std::optional<uint64_t> {
                        auto it = regs.find(regno);
                        if (it == regs.end()) return std::nullopt;
                        return it->second;
                      }};
}

// `addr2line -i -a -f`: for each address, the inline chain innermost first.
std::map<uint64_t, std::vector<SourceLoc>> addr2line_chains(const fs::path& prog, uint64_t from, uint64_t to) {
  std::vector<std::string> argv = {"addr2line", "-i", "-a", "-f", "-e", prog.string()};
  for (uint64_t a = from; a < to; ++a) argv.push_back(hex_address(a));
  RunResult r = run(argv);
  INFO(r.describe());
  REQUIRE(r.status == 0);
  std::map<uint64_t, std::vector<SourceLoc>> chains;
  auto lines = split_lines(r.out);
  std::vector<SourceLoc>* current = nullptr;
  for (size_t i = 0; i < lines.size(); ++i) {
    if (lines[i].rfind("0x", 0) == 0) {
      current = &chains[parse_address(lines[i])];
      continue;
    }
    REQUIRE(current != nullptr);
    REQUIRE(i + 1 < lines.size());
    SourceLoc loc;
    loc.function = lines[i];
    std::string where = lines[++i];
    if (auto sp = where.find(" ("); sp != std::string::npos) where.resize(sp);  // "(discriminator N)"
    auto colon = where.rfind(':');
    loc.file = where.substr(0, colon);
    loc.line = std::atol(where.c_str() + colon + 1);
    current->push_back(loc);
  }
  return chains;
}

// Instruction addresses of `function` by `objdump -d`.
std::vector<uint64_t> instructions(const fs::path& prog, const std::string& function) {
  RunResult r = run({"objdump", "-d", "--disassemble=" + function, prog.string()});
  INFO(r.describe());
  REQUIRE(r.status == 0);
  std::vector<uint64_t> pcs;
  std::regex pattern("^ *([0-9a-f]+):\t");
  for (const auto& line : split_lines(r.out)) {
    std::smatch m;
    if (std::regex_search(line, m, pattern)) pcs.push_back(std::stoull(m[1].str(), nullptr, 16));
  }
  return pcs;
}

const char* kInlineSource = R"(#include <stdio.h>
volatile int g_mult = 3;
static inline __attribute__((always_inline)) int leaf(int v) {
  int s = 0;
  for (int i = 0; i < v; i++)
    s += i * g_mult;
  return s;
}
static inline __attribute__((always_inline)) int mid(int v) {
  int r = leaf(v + 1);
  return r ^ 5;
}
__attribute__((noinline)) int outer(int x) {
  static int outer_calls;
  outer_calls++;
  return mid(x) * 7 + x;
}
int main(int argc, char **argv) {
  (void)argv;
  printf("%d\n", outer(argc + 40));
  return 0;
}
)";

// The -O2 PIE program above, built in `dir`.
fs::path build_inline_program(const TempDir& dir) {
  fs::path source = dir / "inl.c";
  fs::path prog = dir / "inl";
  write_file(source, kInlineSource);
  RunResult r = run({"gcc", "-O2", "-g", "-fpie", "-pie", source.string(), "-o", prog.string()});
  INFO(r.describe());
  REQUIRE(r.status == 0);
  return prog;
}

const fs::path kFrames = subject("frames");
const fs::path kFramesSource = source_dir() / "suite" / "subjects" / "frames.c";

}  // namespace

TEST_CASE("frames: find_function agrees with nm") {
  auto syms = nm_symbols(kFrames);
  Symbolizer symbolizer;
  int object = symbolizer.add_object(kFrames.string(), 0);
  for (const char* name : {"main", "frames_add", "frames_sum"}) {
    CAPTURE(name);
    REQUIRE(syms.count(name) == 1);
    auto address = symbolizer.find_function(object, name);
    REQUIRE(address.has_value());
    CHECK(*address == syms[name].addr);
    CHECK(symbolizer.find_function(object, name) == address);  // cached
  }
  CHECK(syms["frames_add"].type == 't');  // a static function: a LOCAL symbol
  CHECK_FALSE(symbolizer.find_function(object, "printf").has_value());  // undefined here
  CHECK_FALSE(symbolizer.find_function(object, "no_such_function").has_value());
  CHECK_FALSE(symbolizer.find_function(object, "").has_value());
  CHECK_THROWS_AS(symbolizer.find_function(object + 1, "main"), omni::Error);

  int missing = symbolizer.add_object(kFrames.string() + ".missing", 0);
  CHECK_FALSE(symbolizer.find_function(missing, "main").has_value());
  CHECK(symbolizer.parameters(missing, syms["main"].addr).empty());
  CHECK(symbolizer.inline_chain(missing, syms["main"].addr).empty());
  CHECK(symbolizer.local_names(missing, syms["main"].addr).empty());
  CHECK_FALSE(symbolizer.find_local(missing, "total", context(syms["main"].addr, 0)).has_value());
}

TEST_CASE("frames: parameters follow the subject's source") {
  Symbolizer symbolizer;
  int object = symbolizer.add_object(kFrames.string(), 0);
  auto add = symbolizer.find_function(object, "frames_add");
  REQUIRE(add.has_value());

  // static long frames_add(long a, double b, const char *s, struct point p)
  struct Expected {
    const char* name;
    TypeInfo::Kind kind;
    uint64_t size;
    const char* type;
  };
  const Expected expected[] = {{"a", TypeInfo::Kind::Signed, 8, "long int"},
                               {"b", TypeInfo::Kind::Float, 8, "double"},
                               {"s", TypeInfo::Kind::Pointer, 8, "const char *"},
                               {"p", TypeInfo::Kind::Struct, 16, "struct point"}};
  // At the entry and anywhere inside the function.
  for (uint64_t pc : {*add, *add + 8}) {
    CAPTURE(pc);
    auto params = symbolizer.parameters(object, pc);
    REQUIRE(params.size() == std::size(expected));
    for (size_t i = 0; i < params.size(); ++i) {
      CAPTURE(i);
      CHECK(params[i].name == expected[i].name);
      CHECK(params[i].type.kind == expected[i].kind);
      CHECK(params[i].type.size == expected[i].size);
      CHECK(params[i].type.name == expected[i].type);
    }
    CHECK_FALSE(symbolizer.is_variadic(object, pc));
  }

  // int frames_sum(int n, ...)
  auto sum = symbolizer.find_function(object, "frames_sum");
  REQUIRE(sum.has_value());
  auto params = symbolizer.parameters(object, *sum);
  REQUIRE(params.size() == 1);
  CHECK(params[0].name == "n");
  CHECK(params[0].type.kind == TypeInfo::Kind::Signed);
  CHECK(params[0].type.size == 4);
  CHECK(symbolizer.is_variadic(object, *sum));

  // int main(void)
  auto main_entry = symbolizer.find_function(object, "main");
  REQUIRE(main_entry.has_value());
  CHECK(symbolizer.parameters(object, *main_entry).empty());
  CHECK_FALSE(symbolizer.is_variadic(object, *main_entry));

  // Outside any function: nothing.
  CHECK(symbolizer.parameters(object, 0x10).empty());
}

TEST_CASE("frames: find_local and local_names agree with gdb at -O0") {
  const int inner = marker_line(kFramesSource, "frames: inner");
  const int outer = marker_line(kFramesSource, "frames: outer");
  const std::vector<std::string> inner_names = {"scaled", "a", "i", "total", "calls", "b", "s", "p"};
  const std::vector<std::string> outer_names = {"a", "total", "calls", "b", "s", "p"};

  std::vector<std::string> commands = {"tbreak frames.c:" + std::to_string(inner), "break frames.c:" + std::to_string(outer),
                                       "run", "info frame", print_address("omni_pc", "$pc"),
                                       "info registers"};
  for (const auto& name : inner_names) commands.push_back(print_address("omni_addr_" + name, "&" + name));
  // The caller's frame.
  commands.insert(commands.end(), {"up", "info frame", print_address("omni_main_pc", "$pc"),
                                   print_address("omni_main_origin", "&origin"),
                                   print_address("omni_main_total", "&total"), "continue", "info frame",
                                   print_address("omni_outer_pc", "$pc")});
  for (const auto& name : outer_names) commands.push_back(print_address("omni_outer_" + name, "&" + name));
  std::string out = gdb_batch(kFrames, commands);
  INFO("gdb:\n" << out);
  auto cfas = gdb_cfas(out);
  REQUIRE(cfas.size() == 3);
  auto regs = gdb_registers(out.substr(0, out.find("omni_addr_")));
  REQUIRE(regs.count(6) == 1);  // rbp

  Symbolizer symbolizer;
  int object = symbolizer.add_object(kFrames.string(), 0);

  // Innermost frame, in the loop body: the inner block's locals shadow.
  FrameContext frame0 = context(gdb_address(out, "omni_pc"), cfas[0], regs);
  auto names = symbolizer.local_names(object, frame0.pc);
  CHECK(std::set<std::string>(names.begin(), names.end()) ==
        std::set<std::string>(inner_names.begin(), inner_names.end()));
  CHECK(names.size() == inner_names.size());  // the shadowed parameter `a` once
  auto position = [&](const std::string& name) { return std::find(names.begin(), names.end(), name) - names.begin(); };
  CHECK(position("scaled") < position("i"));
  CHECK(position("i") < position("total"));
  CHECK(position("total") < position("b"));
  for (const auto& name : inner_names) {
    CAPTURE(name);
    auto local = symbolizer.find_local(object, name, frame0);
    REQUIRE(local.has_value());
    CHECK(local->name == name);
    CHECK(local->where == LocalValue::Where::Memory);
    CHECK(local->address == gdb_address(out, "omni_addr_" + name));
    // Without any register: -O0 locations are relative to the CFA.
    auto no_regs = symbolizer.find_local(object, name, context(frame0.pc, frame0.cfa));
    REQUIRE(no_regs.has_value());
    CHECK(no_regs->address == local->address);
  }
  auto scaled = symbolizer.find_local(object, "scaled", frame0);
  CHECK(scaled->type.name == "long int");
  CHECK(scaled->type.size == 8);
  CHECK(symbolizer.find_local(object, "i", frame0)->type.kind == TypeInfo::Kind::Signed);
  CHECK(symbolizer.find_local(object, "i", frame0)->type.size == 4);
  CHECK(symbolizer.find_local(object, "calls", frame0)->type.name == "int");
  CHECK(symbolizer.find_local(object, "p", frame0)->type.name == "struct point");
  CHECK(symbolizer.find_local(object, "s", frame0)->type.kind == TypeInfo::Kind::Pointer);
  CHECK_FALSE(symbolizer.find_local(object, "origin", frame0).has_value());  // main's
  CHECK_FALSE(symbolizer.find_local(object, "no_such_local", frame0).has_value());
  // The static local is where nm says.
  auto syms = nm_symbols(kFrames);
  auto calls_symbol = std::find_if(syms.begin(), syms.end(), [](const auto& s) { return s.first.rfind("calls.", 0) == 0; });
  REQUIRE(calls_symbol != syms.end());
  CHECK(symbolizer.find_local(object, "calls", frame0)->address == calls_symbol->second.addr);

  // The caller: pc inside its call instruction, no registers known.
  FrameContext frame1 = context(gdb_address(out, "omni_main_pc") - 1, cfas[1]);
  CHECK(symbolizer.find_local(object, "origin", frame1)->address == gdb_address(out, "omni_main_origin"));
  CHECK(symbolizer.find_local(object, "total", frame1)->address == gdb_address(out, "omni_main_total"));
  CHECK(symbolizer.find_local(object, "origin", frame1)->type.name == "struct point");
  CHECK_FALSE(symbolizer.find_local(object, "scaled", frame1).has_value());

  // After the loop: its locals are out of scope, `a` is the parameter again.
  FrameContext frame2 = context(gdb_address(out, "omni_outer_pc"), cfas[2]);
  names = symbolizer.local_names(object, frame2.pc);
  CHECK(std::set<std::string>(names.begin(), names.end()) ==
        std::set<std::string>(outer_names.begin(), outer_names.end()));
  CHECK_FALSE(symbolizer.find_local(object, "scaled", frame2).has_value());
  CHECK_FALSE(symbolizer.find_local(object, "i", frame2).has_value());
  for (const auto& name : outer_names) {
    CAPTURE(name);
    auto local = symbolizer.find_local(object, name, frame2);
    REQUIRE(local.has_value());
    CHECK(local->address == gdb_address(out, "omni_outer_" + name));
  }
  CHECK(symbolizer.find_local(object, "a", frame2)->address != symbolizer.find_local(object, "a", frame0)->address);

  CHECK(symbolizer.local_names(object, 0x10).empty());
  CHECK_FALSE(symbolizer.find_local(object, "a", context(0x10, 0)).has_value());
}

TEST_CASE("frames: inline_chain agrees with addr2line -i") {
  TempDir dir;
  fs::path prog = build_inline_program(dir);
  auto syms = nm_symbols(prog);
  REQUIRE(syms.count("outer") == 1);
  const Symbol outer = syms["outer"];
  REQUIRE(outer.size > 0);
  auto chains = addr2line_chains(prog, outer.addr, outer.addr + outer.size);
  REQUIRE(chains.size() == outer.size);

  constexpr uint64_t kBias = 0x7f1234560000;
  Symbolizer symbolizer;
  int at_zero = symbolizer.add_object(prog.string(), 0);
  int biased = symbolizer.add_object(prog.string(), kBias);
  CHECK(symbolizer.find_function(biased, "outer") == outer.addr + kBias);

  size_t deepest = 0;
  for (const auto& [pc, expected] : chains) {
    CAPTURE(hex_address(pc));
    auto chain = symbolizer.inline_chain(at_zero, pc);
    REQUIRE(chain.size() == expected.size());
    for (size_t i = 0; i < chain.size(); ++i) {
      CAPTURE(i);
      CHECK(chain[i].function == expected[i].function);
      CHECK(chain[i].file == expected[i].file);
      CHECK(chain[i].line == expected[i].line);
      CHECK(chain[i].inlined == (i + 1 < chain.size()));
    }
    // The innermost entry is what locate() says.
    auto here = symbolizer.locate(at_zero, pc);
    REQUIRE(here.has_value());
    CHECK(here->function == chain.front().function);
    CHECK(here->inlined == chain.front().inlined);
    // The same at a load bias.
    auto moved = symbolizer.inline_chain(biased, pc + kBias);
    REQUIRE(moved.size() == chain.size());
    for (size_t i = 0; i < chain.size(); ++i) {
      CHECK(moved[i].function == chain[i].function);
      CHECK(moved[i].line == chain[i].line);
    }
    deepest = std::max(deepest, chain.size());
  }
  // leaf inlined into mid inlined into outer.
  CHECK(deepest == 3);
  CHECK(symbolizer.parameters(at_zero, outer.addr).size() == 1);

  // -O0 code has no inlining: one entry, as locate() says.
  Symbolizer plain;
  int frames = plain.add_object(kFrames.string(), 0);
  auto add = plain.find_function(frames, "frames_add");
  REQUIRE(add.has_value());
  auto chain = plain.inline_chain(frames, *add + 4);
  REQUIRE(chain.size() == 1);
  auto location = plain.locate(frames, *add + 4);
  REQUIRE(location.has_value());
  CHECK(chain[0].function == "frames_add");
  CHECK(chain[0].file == location->file);
  CHECK(chain[0].line == location->line);
  CHECK_FALSE(chain[0].inlined);
}

TEST_CASE("frames: without DWARF only ELF symbols answer") {
  TempDir dir;
  fs::path prog = build_inline_program(dir);
  fs::path stripped = dir / "inl.nodebug";
  RunResult r = run({"objcopy", "--strip-debug", prog.string(), stripped.string()});
  INFO(r.describe());
  REQUIRE(r.status == 0);
  auto syms = nm_symbols(stripped);
  REQUIRE(syms.count("outer") == 1);

  Symbolizer symbolizer;
  int object = symbolizer.add_object(stripped.string(), 0);
  CHECK(symbolizer.find_function(object, "outer") == syms["outer"].addr);
  uint64_t pc = syms["outer"].addr + syms["outer"].size / 2;
  auto chain = symbolizer.inline_chain(object, pc);
  REQUIRE(chain.size() == 1);
  CHECK(chain[0].function == "outer");
  CHECK_FALSE(chain[0].inlined);
  CHECK(symbolizer.parameters(object, syms["outer"].addr).empty());
  CHECK_FALSE(symbolizer.is_variadic(object, syms["outer"].addr));
  CHECK(symbolizer.local_names(object, pc).empty());
  CHECK_FALSE(symbolizer.find_local(object, "x", context(pc, 0)).has_value());
}

TEST_CASE("frames: register locations at -O2 agree with gdb, at gdb's load bias") {
  TempDir dir;
  fs::path prog = build_inline_program(dir);
  auto syms = nm_symbols(prog);
  const Symbol outer = syms["outer"];
  auto chains = addr2line_chains(prog, outer.addr, outer.addr + outer.size);

  // An instruction inside leaf (inlined twice) that does not start leaf's
  // code: gdb then shows leaf's frame itself.
  auto pcs = instructions(prog, "outer");
  REQUIRE(pcs.size() > 2);
  auto in_leaf = [&](uint64_t pc) { return chains[pc].size() == 3 && chains[pc][0].function == "leaf"; };
  std::optional<uint64_t> stop;
  for (size_t k = 1; k < pcs.size() && !stop; ++k)
    if (in_leaf(pcs[k]) && in_leaf(pcs[k - 1])) stop = pcs[k];
  REQUIRE(stop.has_value());

  // Stops: outer's entry (x in rdi; gdb's frame 0 there is the innermost
  // inlined function, as addr2line's chain says, so x is printed from
  // outer's frame), then `stop`.
  std::vector<std::string> commands = {
      "starti",
      "break *&outer",
      "break *((char *)&outer + " + std::to_string(*stop - outer.addr) + ")",
      "continue",
      "info frame",
      print_address("omni_outer", "&outer"),
      "info registers",
      "up " + std::to_string(chains[outer.addr].size() - 1),
      "printf \"omni_x=%ld\\n\", (long)x",
      print_address("omni_outer_calls", "&outer_calls"),
      "continue",
      "info frame",
      print_address("omni_stop_pc", "$pc"),
      "info registers"};
  for (const char* name : {"v", "s", "i"})
    commands.push_back(std::string("printf \"omni_") + name + "=%ld\\n\", (long)" + name);
  std::string out = gdb_batch(prog, commands);
  INFO("gdb:\n" << out);
  auto cfas = gdb_cfas(out);
  REQUIRE(cfas.size() == 2);
  size_t second = out.find("omni_x=");
  REQUIRE(second != std::string::npos);
  auto entry_regs = gdb_registers(out.substr(0, second));
  auto stop_regs = gdb_registers(out.substr(second));
  REQUIRE(entry_regs.count(5) == 1);
  const uint64_t bias = gdb_address(out, "omni_outer") - outer.addr;
  CHECK(bias != 0);  // a PIE

  Symbolizer symbolizer;
  int object = symbolizer.add_object(prog.string(), bias);
  REQUIRE(symbolizer.find_function(object, "outer") == outer.addr + bias);
  REQUIRE(entry_regs[16] == outer.addr + bias);

  // x at outer's entry: a register location. The entry is also where the
  // inlined code starts, so outer is the last function of the chain there.
  FrameContext entry = context(entry_regs[16], cfas[0], entry_regs);
  auto entry_chain = symbolizer.inline_chain(object, entry.pc);
  REQUIRE(!entry_chain.empty());
  REQUIRE(entry_chain.back().function == "outer");
  entry.inline_depth = static_cast<int>(entry_chain.size() - 1);
  if (entry.inline_depth > 0) {
    CHECK(entry_chain.front().function == "leaf");
    FrameContext innermost = entry;
    innermost.inline_depth = 0;
    CHECK_FALSE(symbolizer.find_local(object, "x", innermost).has_value());  // leaf has no x
  }
  CHECK(symbolizer.local_names(object, entry.pc, entry.inline_depth) == std::vector<std::string>{"outer_calls", "x"});
  // A static local: DW_OP_addr, moved by the load bias.
  auto outer_calls = symbolizer.find_local(object, "outer_calls", entry);
  REQUIRE(outer_calls.has_value());
  CHECK(outer_calls->where == LocalValue::Where::Memory);
  CHECK(outer_calls->address == gdb_address(out, "omni_outer_calls"));
  auto x = symbolizer.find_local(object, "x", entry);
  REQUIRE(x.has_value());
  CHECK(x->where == LocalValue::Where::Register);
  CHECK(x->type.size == 4);
  REQUIRE(x->bytes.size() == 4);
  CHECK(le_signed(x->bytes) == std::stol(*kv(out, "omni_x")));
  // The same location without the register's value is an error that says so.
  try {
    FrameContext no_regs = context(entry.pc, entry.cfa);
    no_regs.inline_depth = entry.inline_depth;
    symbolizer.find_local(object, "x", no_regs);
    FAIL("no error without registers");
  } catch (const omni::Error& e) {
    CHECK(std::string(e.what()).find("rdi") != std::string::npos);
  }

  // Inside leaf: its own locals, not mid's or outer's.
  FrameContext frame = context(gdb_address(out, "omni_stop_pc"), cfas[1], stop_regs);
  REQUIRE(frame.pc == *stop + bias);
  auto chain = symbolizer.inline_chain(object, frame.pc);
  REQUIRE(chain.size() == 3);
  CHECK(chain[0].function == "leaf");
  auto names = symbolizer.local_names(object, frame.pc);
  CHECK(std::find(names.begin(), names.end(), "x") == names.end());
  CHECK(std::find(names.begin(), names.end(), "r") == names.end());
  CHECK_FALSE(symbolizer.find_local(object, "x", frame).has_value());
  int compared = 0;
  for (const char* name : {"v", "s", "i"}) {
    CAPTURE(name);
    auto expected = kv(out, std::string("omni_") + name);
    std::optional<LocalValue> local;
    std::string error;
    try {
      local = symbolizer.find_local(object, name, frame);
    } catch (const omni::Error& e) {
      error = e.what();
    }
    if (!expected) {
      // gdb: optimized out (or not in scope) here; so must we say.
      CHECK((!local.has_value() || !error.empty()));
      continue;
    }
    if (!error.empty() && error.find("DW_OP_entry_value") != std::string::npos) {
      MESSAGE("skipped " << name << ": " << error);  // gdb can use call-site values; omni does not
      continue;
    }
    INFO(error);
    REQUIRE(local.has_value());
    CHECK(local->where != LocalValue::Where::Memory);
    REQUIRE(local->bytes.size() == local->type.size);
    CHECK(le_signed(local->bytes) == std::stol(*expected));
    ++compared;
  }
  CHECK(compared >= 2);

  // One level out, in mid: v (mid's own) and r, which has no location.
  FrameContext in_mid = frame;
  in_mid.inline_depth = 1;
  names = symbolizer.local_names(object, frame.pc, 1);
  CHECK(std::set<std::string>(names.begin(), names.end()) == std::set<std::string>{"r", "v"});
  CHECK_THROWS_WITH_AS(symbolizer.find_local(object, "r", in_mid), doctest::Contains("optimized out"), omni::Error);
  CHECK_FALSE(symbolizer.find_local(object, "s", in_mid).has_value());
  // Two levels out, in outer: x. Beyond the chain: nothing.
  FrameContext in_outer = frame;
  in_outer.inline_depth = 2;
  auto x_here = symbolizer.find_local(object, "x", in_outer);
  REQUIRE(x_here.has_value());
  CHECK(le_signed(x_here->bytes) == std::stol(*kv(out, "omni_x")));
  CHECK(symbolizer.local_names(object, frame.pc, 3).empty());
  FrameContext bad = frame;
  bad.inline_depth = -1;
  CHECK_THROWS_AS(symbolizer.find_local(object, "x", bad), omni::Error);

  // Every pc of outer: an answer or omni::Error, never anything else.
  for (uint64_t pc : pcs) {
    FrameContext any = context(pc + bias, cfas[0], stop_regs);
    for (const auto& name : symbolizer.local_names(object, any.pc)) {
      try {
        symbolizer.find_local(object, name, any);
      } catch (const omni::Error&) {
      }
    }
  }
}
