// Queries over the recorded system calls and program output.
#include <fmt/format.h>

#include <unordered_map>

#include "omni/base/error.h"
#include "omni/query/json.h"
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

uint64_t syscalls(index::IndexReader& reader, const SyscallsQuery& query, std::ostream& out) {
  std::optional<uint64_t> nr;
  if (query.name) {
    nr = syscall_number(*query.name);
    if (!nr) fail("unknown system call '{}' (names as in <asm/unistd_64.h>: read, write, openat...)", *query.name);
  }
  std::string line;
  uint64_t printed = 0;
  if (query.format == Format::Table)
    out << fmt::format("{:>12} {:>4} {:<16} {}\n", "time", "tid", "syscall", "args = result");
  for (const index::SyscallRow& row : reader.syscalls(nr)) {
    line.clear();
    std::string name = syscall_name(row.nr);
    if (query.format == Format::Json) {
      std::string args = "[";
      for (int i = 0; i < 6; ++i) args += fmt::format("{}{}", i ? "," : "", row.args[i]);
      args += "]";
      JsonObject o(line);
      o.field("time", row.time).field("tid", row.tid).field("nr", row.nr).field("name", name);
      o.raw("args", args).optional("result", row.result);
      o.close();
      line += '\n';
    } else {
      std::string args;
      for (int i = 0; i < 6; ++i) args += fmt::format("{}{:#x}", i ? ", " : "", static_cast<uint64_t>(row.args[i]));
      line = fmt::format("{:>12} {:>4} {:<16} ({}) = {}\n", row.time, row.tid, name, args,
                         row.result ? fmt::format("{}", *row.result) : std::string("(no return)"));
    }
    out << line;
    ++printed;
  }
  out.flush();
  return printed;
}

uint64_t output(index::IndexReader& reader, Format format, std::ostream& out) {
  std::string line;
  uint64_t printed = 0;
  for (const index::OutputRow& row : reader.output()) {
    line.clear();
    std::string_view text(reinterpret_cast<const char*>(row.data.data()), row.data.size());
    if (format == Format::Json) {
      JsonObject o(line);
      o.field("time", row.time).field("tid", row.tid).field("fd", row.fd);
      o.field("data", hex_bytes(row.data.data(), row.data.size()));
      o.key_only("text");
      append_json_string(line, text);
      o.close();
      line += '\n';
    } else {
      line = fmt::format("{:>12} {:>4} fd {} | ", row.time, row.tid, row.fd);
      for (char c : text) line += (c == '\n') ? std::string("\\n") : std::string(1, c);
      line += '\n';
    }
    out << line;
    ++printed;
  }
  out.flush();
  return printed;
}

}  // namespace omni::query
