// Every shared option of `omni query` given to every question: the ones a
// question does not take are a one-line error naming the option, never
// silently ignored (issue 9); the ones it takes are not refused. The truth
// is the --help text's description of each question, written out here.
#include <doctest/doctest.h>

#include <map>
#include <set>

#include "omni_fixture.h"

namespace omni::test {

TEST_CASE("query options: an option a question does not take is an error, for every question and option") {
  Recording rec = record("globals");
  const std::map<std::string, std::vector<std::string>> questions = {
      {"where-written", {"--where-written", "g_counter"}},
      {"read", {"--read", "g_counter"}},
      {"read local", {"--read", "local:n"}},
      {"registers", {"--registers"}},
      {"stack", {"--stack"}},
      {"calls", {"--calls", "accumulate"}},
      {"syscalls", {"--syscalls"}},
      {"output", {"--output"}},
  };
  const std::map<std::string, std::vector<std::string>> options = {
      {"--at", {"--at", "end"}},   {"--tid", {"--tid", "1"}},   {"--frame", {"--frame", "1"}},
      {"--from", {"--from", "0"}}, {"--to", {"--to", "999999999"}}, {"--last", {"--last", "2"}},
      {"--name", {"--name", "write"}}, {"--stack", {"--stack"}},
  };
  // What --help says each question takes.
  const std::map<std::string, std::set<std::string>> takes = {
      {"where-written", {"--at", "--from", "--to", "--last", "--stack"}},
      {"read", {"--at"}},
      {"read local", {"--at", "--tid", "--frame"}},
      {"registers", {"--at", "--tid"}},
      {"stack", {"--at", "--tid", "--stack"}},
      {"calls", {"--from", "--to", "--last"}},
      {"syscalls", {"--name"}},
      {"output", {}},
  };
  for (const auto& [question, qargs] : questions) {
    for (const auto& [option, oargs] : options) {
      CAPTURE(question);
      CAPTURE(option);
      std::vector<std::string> a = {"query", rec.dir.string()};
      a.insert(a.end(), qargs.begin(), qargs.end());
      if (!(question == "stack" && option == "--stack")) a.insert(a.end(), oargs.begin(), oargs.end());
      RunResult r = run_omni(a);
      // --stack is also a question of its own: beside another question that
      // does not take it, that is two questions.
      bool refused = r.err.find(option + " goes with ") != std::string::npos ||
                     (option == "--stack" && r.err.find("one question at a time") != std::string::npos);
      if (takes.at(question).count(option)) {
        CHECK_FALSE(refused);
      } else {
        check_error(r);
        CHECK(refused);
        CHECK(r.out.empty());
      }
    }
  }
}

}  // namespace omni::test
