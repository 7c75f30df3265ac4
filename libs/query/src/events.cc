// --syscalls and --output: the recorded system calls and program output.
#include <fmt/format.h>

#include "omni/base/error.h"
#include "omni/query/query.h"

namespace omni::query {

namespace {

struct SyscallName {
  uint64_t nr;
  const char* name;
};
constexpr SyscallName kSyscallNames[] = {
#include "syscall_names.inc"
};

}  // namespace

std::string syscall_name(uint64_t nr) {
  for (const auto& entry : kSyscallNames)
    if (entry.nr == nr) return entry.name;
  return fmt::format("syscall_{}", nr);
}

std::optional<uint64_t> syscall_number(std::string_view name) {
  for (const auto& entry : kSyscallNames)
    if (name == entry.name) return entry.nr;
  return std::nullopt;
}

void syscalls(Session& session, const SyscallsQuery& query, Sink<SyscallRecord>& sink) {
  std::optional<uint64_t> nr;
  if (query.name) {
    nr = syscall_number(*query.name);
    if (!nr) fail("unknown system call '{}' (names as in <asm/unistd_64.h>: read, write, openat...)", *query.name);
  }
  sink.begin();
  for (index::SyscallRow& row : session.reader().syscalls(nr)) {
    std::string name = syscall_name(row.nr);
    sink.put({std::move(row), std::move(name)});
  }
}

void output(Session& session, Sink<OutputRecord>& sink) {
  sink.begin();
  for (index::OutputRow& row : session.reader().output()) sink.put({std::move(row)});
}

}  // namespace omni::query
