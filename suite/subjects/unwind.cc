// Subject for omni's suite: calls that never return normally. descend()
// recurses and throws a C++ exception from the bottom, caught in main();
// jump_down() recurses and longjmps back to main(). Both take their label
// as a `const std::string&`; note() is a void function.
// Output (stdout): "caught <what> depth=<d>", "jumped <v>", then
// "descend=<n> jump=<m> notes=<k>" (how many times each ran).
#include <csetjmp>
#include <cstdio>
#include <stdexcept>
#include <string>

long g_descend_calls, g_jump_calls, g_notes;
static std::jmp_buf g_env;

__attribute__((noinline)) void note(const std::string& label, long depth) {
  g_notes += static_cast<long>(label.size()) + depth;
}

__attribute__((noinline)) long descend(const std::string& label, long depth) {
  g_descend_calls++;
  note(label, depth);
  if (depth == 0) throw std::runtime_error(label);
  return descend(label, depth - 1) + 1;
}

__attribute__((noinline)) long jump_down(const std::string& label, long depth) {
  g_jump_calls++;
  note(label, depth);
  if (depth <= 0) std::longjmp(g_env, 7);
  long below = depth > 0 ? jump_down(label, depth - 1) : 0;
  return below + 1;
}

int main() {
  std::string label = "deep";
  try {
    descend(label, 3);
  } catch (const std::runtime_error& e) {
    std::printf("caught %s depth=%ld\n", e.what(), g_descend_calls);
  }
  int v = setjmp(g_env);
  if (v == 0) jump_down(label, 2);
  std::printf("jumped %d\n", v);
  note(label, 1);
  std::printf("descend=%ld jump=%ld notes=%ld\n", g_descend_calls, g_jump_calls, g_notes);
  return 0;
}
