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
    sink.put({std::move(row), std::move(name), {}});
  }
}

void output(Session& session, Sink<OutputRecord>& sink) {
  sink.begin();
  for (index::OutputRow& row : session.reader().output()) sink.put({std::move(row), {}});
}

namespace {

// Every recorded process's records, merged by their place in the one order.
// Each process's own rows are in its time order, which its numbers follow:
// a k-way merge keeps memory to the rows themselves.
template <typename Record, typename Rows, typename Key>
void merge_processes(const std::string& trace_dir, Rows rows_of, Key key, Sink<Record>& sink) {
  struct Stream {
    std::vector<Record> records;
    size_t next = 0;
  };
  std::vector<Stream> streams;
  for (const RecordedProcess& p : recorded_processes(trace_dir)) {
    if (!p.indexed) fail("process {} ({}) has no index: run `omni index {}`", p.process, p.dir, trace_dir);
    Session session(p.dir);
    Stream s;
    s.records = rows_of(session, ProcessOf{p.process, p.pid.value_or(0)});
    for (const Record& r : s.records)
      if (!key(r))
        fail("process {}'s recording has no order among the other processes' (recorded by an omni before "
             "stream version 6): ask about each with --process N",
             p.process);
    streams.push_back(std::move(s));
  }
  sink.begin();
  for (;;) {
    Stream* best = nullptr;
    for (Stream& s : streams)
      if (s.next < s.records.size() && (!best || *key(s.records[s.next]) < *key(best->records[best->next])))
        best = &s;
    if (!best) break;
    sink.put(std::move(best->records[best->next++]));
  }
}

}  // namespace

void syscalls_all(const std::string& trace_dir, const SyscallsQuery& query, Sink<SyscallRecord>& sink) {
  std::optional<uint64_t> nr;
  if (query.name) {
    nr = syscall_number(*query.name);
    if (!nr) fail("unknown system call '{}' (names as in <asm/unistd_64.h>: read, write, openat...)", *query.name);
  }
  merge_processes<SyscallRecord>(
      trace_dir,
      [&](Session& session, ProcessOf of) {
        std::vector<SyscallRecord> out;
        for (index::SyscallRow& row : session.reader().syscalls(nr)) {
          std::string name = syscall_name(row.nr);
          out.push_back({std::move(row), std::move(name), of});
        }
        return out;
      },
      [](const SyscallRecord& r) { return r.row.gseq_enter; }, sink);
}

void output_all(const std::string& trace_dir, Sink<OutputRecord>& sink) {
  merge_processes<OutputRecord>(
      trace_dir,
      [](Session& session, ProcessOf of) {
        std::vector<OutputRecord> out;
        for (index::OutputRow& row : session.reader().output()) out.push_back({std::move(row), of});
        return out;
      },
      [](const OutputRecord& r) { return r.row.gseq; }, sink);
}

}  // namespace omni::query
