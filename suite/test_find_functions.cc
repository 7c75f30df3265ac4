// Symbolizer::find_functions reads, for a plain identifier, only the symbols
// whose ELF name spells it; with the object's whole symbol table read
// already it matches against every symbol. The second is the reference: for
// every identifier nm prints in the demangled names of a C++ program, of
// libstdc++ (whose mangled names abbreviate std:: classes) and of libc, both
// must select the same functions under the same names.
#include <doctest/doctest.h>

#include <algorithm>
#include <cctype>
#include <set>
#include <string>
#include <vector>

#include "harness.h"
#include "omni/symbols/symbols.h"

namespace {

using omni::test::RunResult;
using omni::test::run;

// Every identifier in the demangled names of the object's defined symbols.
std::set<std::string> identifiers(const std::vector<std::string>& nm) {
  RunResult r = run(nm);
  INFO(r.describe());
  REQUIRE(r.status == 0);
  const std::string& text = r.out;
  std::set<std::string> out;
  for (size_t i = 0; i < text.size();) {
    auto word = [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; };
    if (!word(text[i]) || std::isdigit(static_cast<unsigned char>(text[i]))) {
      // Skip a whole token that starts with a digit (addresses, sizes).
      while (i < text.size() && word(text[i])) ++i;
      if (i < text.size() && !word(text[i])) ++i;
      continue;
    }
    size_t end = i;
    while (end < text.size() && word(text[end])) ++end;
    out.insert(text.substr(i, end - i));
    i = end;
  }
  return out;
}

void check_same_matches(const std::string& path, const std::vector<std::string>& nm, size_t at_least) {
  std::set<std::string> names = identifiers(nm);
  REQUIRE(names.size() >= at_least);
  omni::symbols::Symbolizer spelled, whole;
  int a = spelled.add_object(path, 0), b = whole.add_object(path, 0);
  // A name with parameters reads the whole table.
  whole.find_functions(b, "no_such_function_omni(int)");
  size_t compared = 0, matched = 0;
  for (const std::string& name : names) {
    // The class names std:: abbreviations stand for read the whole table
    // by design: asked of `spelled`, they would make it read the whole
    // table for every later name too, so each is asked of a fresh one.
    static const std::set<std::string> kAbbreviated = {"allocator",     "basic_string",   "string",
                                                       "basic_istream", "istream",        "basic_ostream",
                                                       "ostream",       "basic_iostream", "iostream"};
    std::vector<omni::symbols::FunctionMatch> x, y = whole.find_functions(b, name);
    if (kAbbreviated.count(name)) {
      omni::symbols::Symbolizer fresh;
      x = fresh.find_functions(fresh.add_object(path, 0), name);
    } else {
      x = spelled.find_functions(a, name);
    }
    ++compared;
    if (!y.empty()) ++matched;
    REQUIRE_MESSAGE(x.size() == y.size(), path << ": " << name);
    for (size_t i = 0; i < x.size(); ++i) {
      CHECK_MESSAGE(x[i].entry == y[i].entry, path << ": " << name);
      CHECK_MESSAGE(x[i].name == y[i].name, path << ": " << name);
    }
  }
  MESSAGE(path << ": " << compared << " names, " << matched << " naming functions");
  CHECK(matched > 0);
}

}  // namespace

TEST_CASE("find_functions: reading only the symbols that spell a name selects what the whole table selects") {
  SUBCASE("a C++ program") {
    std::string subject = std::string(OMNI_SUBJECT_DIR) + "/cpp_map";
    check_same_matches(subject, {"nm", "-C", "--defined-only", subject}, 50);
  }
  SUBCASE("libstdc++") {
    std::string lib = "/usr/lib/x86_64-linux-gnu/libstdc++.so.6";
    check_same_matches(lib, {"nm", "-D", "-C", "--defined-only", lib}, 500);
  }
  SUBCASE("libc") {
    std::string lib = "/lib/x86_64-linux-gnu/libc.so.6";
    check_same_matches(lib, {"nm", "-D", "-C", "--defined-only", lib}, 500);
  }
}
