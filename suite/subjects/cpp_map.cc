// A C++ program for the real-program tests: a std::map churned by a
// deterministic generator, and exceptions thrown three frames below the
// handler that catches them (the unwinder walks the frames through the
// personality routine, as real C++ programs do). Prints a checksum that a
// native run and a recorded run must agree on.
//   cpp_map [ROUNDS]   (default 20000)
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <stdexcept>
#include <string>

namespace {

struct Rejected : std::runtime_error {
  explicit Rejected(std::uint64_t k) : std::runtime_error("rejected " + std::to_string(k)), key(k) {}
  std::uint64_t key;
};

std::uint64_t g_state = 0x9e3779b97f4a7c15ull;

std::uint64_t next_random() {
  // xorshift64*: the same sequence natively and under omni.
  g_state ^= g_state >> 12;
  g_state ^= g_state << 25;
  g_state ^= g_state >> 27;
  return g_state * 0x2545f4914f6cdd1dull;
}

// Frame 3: refuses every key divisible by 13, with a class derived from
// std::runtime_error, or by 17 with std::out_of_range.
std::uint64_t check_key(std::uint64_t key) {
  if (key % 13 == 0) throw Rejected(key);
  if (key % 17 == 0) throw std::out_of_range("out of range " + std::to_string(key));
  return key * 31 + 7;
}

// Frame 2: holds a std::string that unwinding must destroy.
std::uint64_t derive(std::uint64_t key) {
  std::string label = "key-" + std::to_string(key);
  return check_key(key) ^ label.size();
}

// Frame 1.
std::uint64_t transform(std::uint64_t key) { return derive(key) + 1; }

}  // namespace

int main(int argc, char** argv) {
  long rounds = argc > 1 ? std::strtol(argv[1], nullptr, 10) : 20000;
  std::map<std::uint64_t, std::uint64_t> table;
  std::map<std::string, long> reasons;
  long rejected = 0, out_of_range = 0, erased = 0;
  for (long i = 0; i < rounds; ++i) {
    std::uint64_t key = next_random() % 4096;
    try {
      table[key] += transform(key);
    } catch (const Rejected& e) {
      ++rejected;
      reasons["rejected"] += static_cast<long>(e.key % 7);
    } catch (const std::exception& e) {
      ++out_of_range;
      reasons[e.what()[0] == 'o' ? "out_of_range" : "other"] += 1;
    }
    // Keep the map churning: erase a neighbour now and then.
    if (i % 5 == 4) {
      auto it = table.lower_bound(next_random() % 4096);
      if (it != table.end()) {
        table.erase(it);
        ++erased;
      }
    }
  }
  std::uint64_t checksum = 1469598103934665603ull;  // FNV-1a over (key, value) in key order
  for (const auto& [k, v] : table) {
    checksum = (checksum ^ k) * 1099511628211ull;
    checksum = (checksum ^ v) * 1099511628211ull;
  }
  std::printf("entries=%zu rejected=%ld out_of_range=%ld erased=%ld\n", table.size(), rejected,
              out_of_range, erased);
  for (const auto& [reason, n] : reasons) std::printf("reason %s=%ld\n", reason.c_str(), n);
  std::printf("checksum=%016llx\n", static_cast<unsigned long long>(checksum));
  return 0;
}
