// omni::symbols against binutils (nm, addr2line, readelf) as an independent
// oracle, on the `globals` subject (built with -g -O0).
#include <doctest/doctest.h>

#include <cstdio>
#include <cstdlib>
#include <sstream>
#include <string>

#include "omni/base/error.h"
#include "omni/elf/elf.h"
#include "omni/symbols/symbols.h"

namespace {

const std::string kSubject = std::string(OMNI_SUBJECT_DIR) + "/globals";

std::string run_command(const std::string& command) {
  std::string out;
  FILE* pipe = popen(command.c_str(), "r");
  REQUIRE(pipe != nullptr);
  char buffer[4096];
  size_t n;
  while ((n = fread(buffer, 1, sizeof buffer, pipe)) > 0) out.append(buffer, n);
  REQUIRE(pclose(pipe) == 0);
  return out;
}

struct NmSymbol {
  uint64_t address = 0;
  uint64_t size = 0;
};

// `nm -S` line: "<address> <size> <type> <name>".
NmSymbol nm_symbol(const std::string& name) {
  std::istringstream lines(run_command("nm -S --defined-only '" + kSubject + "'"));
  std::string line;
  while (std::getline(lines, line)) {
    std::istringstream fields(line);
    std::string address, size, type, symbol;
    if (fields >> address >> size >> type >> symbol && symbol == name) {
      return {std::stoull(address, nullptr, 16), std::stoull(size, nullptr, 16)};
    }
  }
  FAIL("nm has no sized symbol " << name);
  return {};
}

struct Addr2Line {
  std::string function;
  std::string file;
  int line = 0;
};

// addr2line -f prints "<function>\n<file>:<line>[ (discriminator N)]\n".
Addr2Line addr2line(uint64_t address) {
  std::ostringstream command;
  command << "addr2line -f -e '" << kSubject << "' 0x" << std::hex << address;
  std::istringstream out(run_command(command.str()));
  Addr2Line result;
  std::string where;
  std::getline(out, result.function);
  std::getline(out, where);
  where = where.substr(0, where.find(' '));
  size_t colon = where.rfind(':');
  REQUIRE(colon != std::string::npos);
  result.file = where.substr(0, colon);
  result.line = std::atoi(where.c_str() + colon + 1);
  return result;
}

}  // namespace

TEST_CASE("read_elf_info matches readelf") {
  auto info = omni::elf::read_elf_info(kSubject);
  REQUIRE(info.has_value());

  std::string notes = run_command("readelf -n '" + kSubject + "'");
  size_t at = notes.find("Build ID: ");
  if (at == std::string::npos) {
    CHECK(info->build_id.empty());
  } else {
    std::istringstream id(notes.substr(at + 10));
    std::string expected;
    id >> expected;
    CHECK(info->build_id == expected);
  }

  // Segments are listed in ascending p_vaddr order, so the first LOAD is
  // the lowest: "LOAD <offset> <vaddr> <paddr> ...".
  std::istringstream headers(run_command("readelf -lW '" + kSubject + "'"));
  std::string line, type, offset, vaddr;
  bool found = false;
  while (!found && std::getline(headers, line)) {
    std::istringstream fields(line);
    found = fields >> type >> offset >> vaddr && type == "LOAD";
  }
  REQUIRE(found);
  CHECK(info->first_load_vaddr == (std::stoull(vaddr, nullptr, 16) & ~uint64_t{0xfff}));
  CHECK(info->first_load_offset == (std::stoull(offset, nullptr, 16) & ~uint64_t{0xfff}));

  CHECK_FALSE(omni::elf::read_elf_info(kSubject + ".c.missing").has_value());
}

TEST_CASE("locate agrees with addr2line at link-time addresses") {
  omni::symbols::Symbolizer symbolizer;
  int object = symbolizer.add_object(kSubject, 0);
  NmSymbol accumulate = nm_symbol("accumulate");
  REQUIRE(accumulate.size > 0x10);

  // The entry and a point in the loop body: different lines, same function.
  for (uint64_t pc : {accumulate.address, accumulate.address + 0x10}) {
    CAPTURE(pc);
    Addr2Line expected = addr2line(pc);
    auto location = symbolizer.locate(object, pc);
    REQUIRE(location.has_value());
    CHECK(location->function == "accumulate");
    CHECK(location->function == expected.function);
    CHECK(location->file == expected.file);
    CHECK(location->line == expected.line);
    CHECK_FALSE(location->inlined);
    // Second lookup comes from the cache and must agree.
    CHECK(symbolizer.locate(object, pc)->line == expected.line);
  }
}

TEST_CASE("find_variable agrees with nm") {
  omni::symbols::Symbolizer symbolizer;
  int object = symbolizer.add_object(kSubject, 0);
  for (const char* name : {"g_counter", "g_point"}) {
    CAPTURE(name);
    NmSymbol expected = nm_symbol(name);
    auto variable = symbolizer.find_variable(object, name);
    REQUIRE(variable.has_value());
    CHECK(variable->address == expected.address);
    CHECK(variable->size == expected.size);
  }
  CHECK(symbolizer.find_variable(object, "g_counter")->size == sizeof(long));
  CHECK_FALSE(symbolizer.find_variable(object, "accumulate").has_value());  // a function
  CHECK_FALSE(symbolizer.find_variable(object, "no_such_variable").has_value());
}

TEST_CASE("bias, unreadable files and bad handles") {
  auto info = omni::elf::read_elf_info(kSubject);
  REQUIRE(info.has_value());
  NmSymbol g_counter = nm_symbol("g_counter");
  NmSymbol accumulate = nm_symbol("accumulate");
  constexpr uint64_t kBias = 0x7f0000000000;

  omni::symbols::Symbolizer symbolizer;
  int object = symbolizer.add_object(kSubject, kBias);
  if (info->first_load_vaddr == 0) {
    // Position-independent: every address moves by the bias.
    auto variable = symbolizer.find_variable(object, "g_counter");
    REQUIRE(variable.has_value());
    CHECK(variable->address == g_counter.address + kBias);
    auto location = symbolizer.locate(object, accumulate.address + kBias);
    REQUIRE(location.has_value());
    CHECK(location->function == "accumulate");
  } else {
    // A fixed-address executable cannot have been loaded at a bias, so the
    // file does not match the recording and answers nothing.
    CHECK_FALSE(symbolizer.find_variable(object, "g_counter").has_value());
    CHECK_FALSE(symbolizer.locate(object, accumulate.address + kBias).has_value());
  }

  int missing = symbolizer.add_object(kSubject + ".missing", 0);
  CHECK(missing != object);
  CHECK_FALSE(symbolizer.locate(missing, accumulate.address).has_value());
  CHECK_FALSE(symbolizer.find_variable(missing, "g_counter").has_value());

  CHECK_THROWS_AS(symbolizer.locate(missing + 1, 0), omni::Error);
  CHECK_THROWS_AS(symbolizer.find_variable(-1, "g_counter"), omni::Error);
}
