#include <dirent.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>

#include "omni/base/error.h"
#include "omni/base/paths.h"
#include "omni/query/json.h"
#include "omni/query/query.h"
#include "omni/replay/memory.h"
#include "omni/trace/container.h"

namespace omni::query {

namespace {

// The copies of recorded files `omni index` kept in <dir>/files
// (index/files.h): how many, and their bytes.
std::pair<uint64_t, uint64_t> kept_files(const std::string& dir) {
  std::pair<uint64_t, uint64_t> out{0, 0};
  DIR* d = opendir((dir + "/files").c_str());
  if (d == nullptr) return out;
  while (dirent* e = readdir(d)) {
    struct stat st;
    std::string path = dir + "/files/" + e->d_name;
    if (lstat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) continue;
    ++out.first;
    out.second += static_cast<uint64_t>(st.st_size);
  }
  closedir(d);
  return out;
}

uint64_t file_size(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0 ? st.st_size : 0;
}

std::string json_array_of_strings(const std::vector<std::string>& items) {
  std::string out = "[";
  for (size_t i = 0; i < items.size(); ++i) {
    if (i) out += ',';
    append_json_string(out, items[i]);
  }
  return out + "]";
}

constexpr uint64_t kExecve = 59, kExecveat = 322, kClone = 56, kFork = 57, kVfork = 58, kClone3 = 435,
                   kWait4 = 61;
constexpr uint64_t kCloneVm = 0x100, kCloneFs = 0x200, kCloneFiles = 0x400, kCloneVfork = 0x4000;
constexpr uint64_t kPage = 4096;

// The NUL-terminated string at `addr` as the program's memory held it at
// `time`; none when a byte is unmapped or not in the recording, or no NUL
// comes within `limit` bytes.
std::optional<std::string> read_c_string(replay::MemoryReader& memory, uint64_t addr, uint64_t time,
                                         uint64_t limit = 4096) {
  std::string out;
  while (out.size() < limit) {
    uint64_t at = addr + out.size();
    uint64_t size = std::min<uint64_t>(kPage - at % kPage, limit - out.size());
    replay::MemoryImage image = memory.read(at, size, time);
    if (!image.file_missing.empty()) return std::nullopt;
    for (uint64_t i = 0; i < size; ++i) {
      if (!image.mapped[i] || (!image.unknown.empty() && image.unknown[i])) return std::nullopt;
      if (image.bytes[i] == 0) return out;
      out += static_cast<char>(image.bytes[i]);
    }
  }
  return std::nullopt;
}

std::optional<uint64_t> read_u64(replay::MemoryReader& memory, uint64_t addr, uint64_t time) {
  replay::MemoryImage image = memory.read(addr, 8, time);
  if (!image.file_missing.empty()) return std::nullopt;
  uint64_t value = 0;
  for (int i = 7; i >= 0; --i) {
    if (!image.mapped[i] || (!image.unknown.empty() && image.unknown[i])) return std::nullopt;
    value = value << 8 | image.bytes[i];
  }
  return value;
}

// argv[] of an execve: none when any of it is unreadable, or it is longer
// than `limit` entries.
std::optional<std::vector<std::string>> read_argv(replay::MemoryReader& memory, uint64_t addr, uint64_t time,
                                                  size_t limit = 4096) {
  std::vector<std::string> out;
  if (addr == 0) return out;  // Linux takes a null argv as empty
  for (size_t i = 0; i < limit; ++i) {
    std::optional<uint64_t> pointer = read_u64(memory, addr + 8 * i, time);
    if (!pointer) return std::nullopt;
    if (*pointer == 0) return out;
    std::optional<std::string> arg = read_c_string(memory, *pointer, time);
    if (!arg) return std::nullopt;
    out.push_back(std::move(*arg));
  }
  return std::nullopt;
}

std::string quoted(std::string_view text) {
  std::string out;
  append_json_string(out, text);
  return out;
}

std::string exec_call_text(const RecordingEnd::Exec& exec) {
  return fmt::format("{}({}, ...)", exec.call, exec.path ? quoted(*exec.path) : "<path not in the recording>");
}

std::string json_exec(const RecordingEnd::Exec& exec) {
  std::string out;
  JsonObject o(out);
  o.field("call", exec.call).field("time", exec.time).field("tid", exec.tid).optional("path", exec.path);
  if (exec.argv) o.raw("argv", json_array_of_strings(*exec.argv));
  else o.null("argv");
  o.close();
  return out;
}

}  // namespace

namespace {

// The recording root of the process whose index `reader` is, and that
// process's number.
std::pair<std::string, uint32_t> root_and_number(index::IndexReader& reader) {
  auto serial = reader.meta_text("process");
  if (!serial) return {reader.trace_dir(), 1};
  return {recording_root(reader.trace_dir()), uint32_t(std::stoul(*serial))};
}

// The recorded image that followed this one's exec: a process whose
// origin is exec and whose parent is this one.
std::optional<uint32_t> exec_successor(index::IndexReader& reader) {
  auto [root, self] = root_and_number(reader);
  for (const ProcessDir& p : process_dirs(root)) {
    if (p.process == 1) continue;
    trace::TraceReader trace(p.dir + "/" + kTraceFile);
    if (trace.info_value("origin") == "exec" && trace.info_value("parent_process") == std::to_string(self))
      return p.process;
  }
  return std::nullopt;
}

}  // namespace

RecordingEnd recording_end(Session& session) {
  index::IndexReader& reader = session.reader();
  RecordingEnd end;
  end.tampered = reader.meta_text("tampered").value_or("") == "1";
  std::string how = reader.meta_text("ended_by").value_or(
      reader.meta_int("stream_complete").value_or(0) == 1 ? "exit" : "cut");
  if (how == "exit") end.how = RecordingEnd::How::Exit;
  else if (how == "cut") end.how = RecordingEnd::How::Cut;
  else if (how == "exec") {
    // The index says the stream's last system call is the execve.
    std::vector<index::SyscallRow> calls = reader.syscalls(std::nullopt);
    if (calls.empty() || (calls.back().nr != kExecve && calls.back().nr != kExecveat) || calls.back().result)
      fail("index is corrupt: it says the recording ended by exec, and its last system call is no execve "
           "without a result (run `omni index` again)");
    const index::SyscallRow& call = calls.back();
    end.how = RecordingEnd::How::Exec;
    RecordingEnd::Exec exec{call.time, call.tid, call.nr == kExecve ? "execve" : "execveat", {}, {}};
    // execve(path, argv, envp); execveat(dirfd, path, argv, envp, flags):
    // the strings are in the program's memory at the call.
    int path_arg = call.nr == kExecve ? 0 : 1;
    replay::MemoryReader& memory = session.memory();
    exec.path = read_c_string(memory, static_cast<uint64_t>(call.args[path_arg]), call.time);
    exec.argv = read_argv(memory, static_cast<uint64_t>(call.args[path_arg + 1]), call.time);
    end.exec = std::move(exec);
    end.continued_in = exec_successor(reader);
  } else {
    fail("index is corrupt: meta ended_by is '{}' (run `omni index` again)", how);
  }
  return end;
}

std::string describe_end(const RecordingEnd& end) {
  switch (end.how) {
    case RecordingEnd::How::Exit:
      return "the recording is complete";
    case RecordingEnd::How::Exec:
      if (end.continued_in)
        return fmt::format("the program called {} at time {} (thread {}); the new image is recorded as process {}",
                           exec_call_text(*end.exec), end.exec->time, end.exec->tid, *end.continued_in);
      return fmt::format(
          "the recording ends where the program called {} at time {} (thread {}): the new image ran unrecorded "
          "(omni record --no-exec or --skip, or a program Valgrind cannot run)",
          exec_call_text(*end.exec), end.exec->time, end.exec->tid);
    case RecordingEnd::How::Cut:
      break;
  }
  return end.tampered ? "the recording was cut short (where something other than the recorder wrote or read its "
                        "channel)"
                      : "the recording was cut short";
}

namespace {

// The pids of the processes recorded as children of the process whose
// trace directory is `dir` (their INFO: parent_process).
std::vector<int64_t> recorded_children(index::IndexReader& reader) {
  std::vector<int64_t> pids;
  // Each recorded process's INFO names its parent's number.
  auto [root, self] = root_and_number(reader);
  for (const ProcessDir& p : process_dirs(root)) {
    if (p.process == 1) continue;
    trace::TraceReader trace(p.dir + "/" + kTraceFile);
    if (trace.info_value("parent_process") != std::to_string(self)) continue;
    std::string pid = trace.info_value("pid");
    if (!pid.empty()) pids.push_back(std::stoll(pid));
  }
  return pids;
}

int64_t number_or(const std::string& text, int64_t otherwise) {
  if (text.empty() || text.find_first_not_of("-0123456789") != std::string::npos) return otherwise;
  return std::stoll(text);
}

// What each recorded process's trace says of it in its INFO frame: all
// that choosing a process needs (opening every index of a large tree would
// cost each query), and where recorded_processes starts.
struct ProcessHeader {
  uint32_t process = 1;
  std::string dir, program, origin, started;
  std::vector<std::string> args;
  std::optional<int64_t> pid, ppid;  // the root's pid is not in its INFO (known_pid)
  uint32_t parent = 0;
};

std::vector<ProcessHeader> process_headers(const std::string& trace_dir) {
  std::vector<ProcessHeader> out;
  for (const ProcessDir& p : process_dirs(trace_dir)) {
    trace::TraceReader trace(p.dir + "/" + kTraceFile);
    ProcessHeader h;
    h.process = p.process;
    h.dir = p.dir;
    for (const auto& [key, value] : trace.info())
      if (key == "arg") h.args.push_back(value);
    h.program = trace.info_value("program");
    h.origin = trace.info_value("origin").empty() ? "root" : trace.info_value("origin");
    h.started = trace.info_value("started");
    if (std::string v = trace.info_value("pid"); !v.empty()) h.pid = number_or(v, 0);
    if (std::string v = trace.info_value("ppid"); !v.empty()) h.ppid = number_or(v, 0);
    h.parent = uint32_t(number_or(trace.info_value("parent_process"), 0));
    out.push_back(std::move(h));
  }
  return out;
}

// The pid an index recorded (the root learns its own once it ran).
std::optional<int64_t> index_pid(index::IndexReader& reader) {
  if (auto pid = reader.meta_int("pid")) return pid;
  if (auto text = reader.meta_text("pid")) return number_or(*text, 0);
  return std::nullopt;
}

std::optional<int64_t> end_pid(const trace::TraceReader& trace) {
  if (!trace.end()) return std::nullopt;
  std::string pid = trace::find_value(*trace.end(), "pid");
  if (pid.empty()) return std::nullopt;
  return number_or(pid, 0);
}

// A process's pid: its INFO's, else (the root) its index's, else its trace's END frame's.
std::optional<int64_t> known_pid(const ProcessHeader& h) {
  if (h.pid) return h.pid;
  if (access((h.dir + "/" + kIndexFile).c_str(), F_OK) == 0) {
    index::IndexReader reader(h.dir);
    return index_pid(reader);
  }
  trace::TraceReader trace(h.dir + "/" + kTraceFile);
  trace.skip_to_end();
  return end_pid(trace);
}

}  // namespace

std::vector<RecordedProcess> recorded_processes(const std::string& trace_dir) {
  std::vector<RecordedProcess> out;
  for (ProcessHeader& h : process_headers(trace_dir)) {
    RecordedProcess r;
    r.process = h.process;
    r.dir = h.dir;
    r.indexed = access((h.dir + "/" + kIndexFile).c_str(), F_OK) == 0;
    r.args = std::move(h.args);
    r.origin = h.origin;
    r.program = h.program;
    r.started = h.started;
    r.pid = h.pid;
    r.ppid = h.ppid;
    r.parent = h.parent;
    if (r.indexed) {
      index::IndexReader reader(h.dir);
      r.exit_code = reader.meta_int("exit_code");
      r.signal = reader.meta_int("signal");
      r.instructions = reader.meta_int("instructions");
      r.events = reader.meta_int("writes");
      r.gseq_span = reader.gseq_span();
      r.complete = reader.meta_int("stream_complete").value_or(0) == 1;
      r.ended_by = reader.meta_text("ended_by").value_or("");
      if (!r.pid) r.pid = index_pid(reader);
    } else {
      trace::TraceReader trace(h.dir + "/" + kTraceFile);
      trace.skip_to_end();
      if (trace.end()) {
        std::string code = trace::find_value(*trace.end(), "exit_code");
        std::string sig = trace::find_value(*trace.end(), "signal");
        if (!code.empty()) r.exit_code = number_or(code, 0);
        if (!sig.empty()) r.signal = number_or(sig, 0);
        if (!r.pid) r.pid = end_pid(trace);
      }
      r.complete = trace.end().has_value() && !trace.truncated() &&
                   trace::find_value(*trace.end(), "stream_complete") == "1";
    }
    out.push_back(std::move(r));
  }
  for (const RecordedProcess& r : out)
    if (r.origin == "exec" && r.parent != 0)
      for (RecordedProcess& p : out)
        if (p.process == r.parent) p.exec_into = r.process;
  // A process killed by SIGKILL ends without a word from its tool, and its
  // parent (not omni) reaps it: the status its parent's wait4 got is in
  // the parent's recording.
  for (RecordedProcess& r : out) {
    if (r.process == 1 || r.exit_code || r.signal || !r.pid || r.parent == 0 || r.exec_into) continue;
    auto parent = std::find_if(out.begin(), out.end(), [&](const RecordedProcess& p) { return p.process == r.parent; });
    if (parent == out.end() || !parent->indexed) continue;
    Session session(parent->dir);
    for (const index::SyscallRow& call : session.reader().syscalls(std::nullopt)) {
      if (call.nr != kWait4 || !call.result || *call.result != *r.pid || call.args[1] == 0) continue;
      replay::MemoryImage image = session.memory().read(static_cast<uint64_t>(call.args[1]), 4, call.time);
      bool known = image.file_missing.empty();
      for (int i = 0; i < 4; ++i) known = known && image.mapped[i] && (image.unknown.empty() || !image.unknown[i]);
      if (!known) break;
      int status = image.bytes[0] | image.bytes[1] << 8 | image.bytes[2] << 16 | image.bytes[3] << 24;
      if (WIFEXITED(status)) r.exit_code = WEXITSTATUS(status);
      else if (WIFSIGNALED(status)) r.signal = WTERMSIG(status);
      r.status_from_parent = true;
      break;
    }
  }
  return out;
}

namespace {

std::string base_name(const std::string& path) { return path.substr(path.rfind('/') + 1); }

ChosenProcess chosen(const ProcessHeader& h, size_t processes) {
  ChosenProcess c;
  c.dir = h.dir;
  c.process = h.process;
  c.pid = h.pid;
  c.program = h.program;
  c.processes = processes;
  return c;
}

}  // namespace

ChosenProcess choose_process(const std::string& trace_dir, const std::optional<std::string>& process,
                             std::optional<int64_t> pid) {
  std::vector<ProcessHeader> all = process_headers(trace_dir);
  if (all.empty()) fail("{} holds no recorded process", trace_dir);
  if (pid) {
    std::vector<const ProcessHeader*> found;
    std::string list;
    for (const ProcessHeader& h : all) {
      std::optional<int64_t> known = known_pid(h);
      if (!known) continue;
      if (*known == *pid) found.push_back(&h);
      list += fmt::format("{}{} (process {})", list.empty() ? "" : ", ", *known, h.process);
    }
    if (found.size() == 1) {
      ChosenProcess c = chosen(*found[0], all.size());
      c.pid = pid;
      return c;
    }
    if (found.empty()) fail("the recording has no process with pid {}; its pids: {}", *pid, list);
    std::string which;
    for (const ProcessHeader* h : found) which += fmt::format("{}{}", which.empty() ? "" : ", ", h->process);
    fail("pid {} was reused: it names processes {}; give --process N instead", *pid, which);
  }
  if (process && !process->empty() && process->find_first_not_of("0123456789") == std::string::npos) {
    uint64_t n = process->size() > 9 ? 0 : std::stoull(*process);
    for (const ProcessHeader& h : all)
      if (h.process == n) return chosen(h, all.size());
    fail("the recording has no process {}: it has {} (`omni dump` lists them)", *process,
         all.size() == 1 ? std::string("only process 1, the root") : fmt::format("processes 1 to {}", all.back().process));
  }
  if (process) {
    std::vector<const ProcessHeader*> found;
    for (const ProcessHeader& h : all)
      if (h.program == *process || base_name(h.program) == *process) found.push_back(&h);
    if (found.size() == 1) return chosen(*found[0], all.size());
    auto describe = [](const ProcessHeader& h) {
      std::optional<int64_t> pid = known_pid(h);
      return fmt::format("{} (pid {}, {})", h.process, pid ? std::to_string(*pid) : std::string("unknown"),
                         h.origin == "root" ? std::string("the root")
                                            : fmt::format("{} by {}", h.origin == "exec" ? "exec'd" : "forked", h.parent));
    };
    if (found.empty()) {
      std::vector<std::string> names;
      for (const ProcessHeader& h : all)
        if (std::find(names.begin(), names.end(), base_name(h.program)) == names.end()) names.push_back(base_name(h.program));
      fail("no recorded process ran '{}'; the recording's programs: {} (`omni dump` lists the processes)", *process,
           fmt::join(names, ", "));
    }
    std::vector<std::string> which;
    for (const ProcessHeader* h : found) which.push_back(describe(*h));
    fail("'{}' names {} recorded processes: {}; give --process N or --pid P", *process, found.size(),
         fmt::join(which, ", "));
  }
  // Process 1's last image: follow its recorded execs.
  const ProcessHeader* at = &all.front();
  for (bool moved = true; moved;) {
    moved = false;
    for (const ProcessHeader& h : all)
      if (h.origin == "exec" && h.parent == at->process) {
        at = &h;
        moved = true;
        break;
      }
  }
  ChosenProcess c = chosen(*at, all.size());
  c.followed_exec = at->process != 1;
  return c;
}

std::vector<UnfollowedChild> unfollowed_children(Session& session) {
  index::IndexReader& reader = session.reader();
  std::vector<UnfollowedChild> out;
  std::vector<int64_t> recorded = recorded_children(reader);
  std::vector<index::SyscallRow> calls = reader.syscalls(std::nullopt);
  std::vector<uint32_t> thread_lwps;
  for (const index::ThreadRow& t : reader.threads())
    if (t.lwp) thread_lwps.push_back(*t.lwp);
  for (const index::SyscallRow& call : calls) {
    if (!call.result || *call.result <= 0) continue;  // failed (or the child's side)
    if (std::find(recorded.begin(), recorded.end(), *call.result) != recorded.end()) continue;
    UnfollowedChild child{*call.result, call.time, call.tid, {}, {}};
    if (call.nr == kFork) child.call = "fork";
    else if (call.nr == kVfork) child.call = "vfork";
    else if (call.nr == kClone) {
      // Valgrind (3.19, syswrap-linux.c sys_clone) runs a clone whose flags,
      // masked to VM|FS|FILES|VFORK, are exactly VM|FS|FILES as a thread
      // (recorded); every other clone it accepts is a fork (it drops
      // CLONE_VM beside CLONE_VFORK: posix_spawn, system, popen).
      uint64_t flags = static_cast<uint64_t>(call.args[0]);
      if ((flags & (kCloneVm | kCloneFs | kCloneFiles | kCloneVfork)) == (kCloneVm | kCloneFs | kCloneFiles))
        continue;
      child.call = "clone";
      child.flags = flags;
    } else if (call.nr == kClone3) {
      // Not implemented by Valgrind 3.19 (ENOSYS); should one succeed, a
      // thread is one the recording has (its lwp), anything else a process.
      if (std::find(thread_lwps.begin(), thread_lwps.end(), static_cast<uint32_t>(*call.result)) !=
          thread_lwps.end())
        continue;
      child.call = "clone3";
      child.flags = read_u64(session.memory(), static_cast<uint64_t>(call.args[0]), call.time);
    } else {
      continue;
    }
    out.push_back(std::move(child));
  }
  return out;
}

void dump(const std::string& trace_dir, bool json, std::ostream& out) {
  std::string trace_path = trace_dir + "/" + kTraceFile;
  std::string index_path = trace_dir + "/" + kIndexFile;
  uint64_t trace_bytes = file_size(trace_path);
  bool indexed = access(index_path.c_str(), F_OK) == 0;

  std::string program;
  std::vector<std::string> args;
  std::optional<int64_t> exit_code, signal, writes, instructions, chunks, every_block;
  bool complete = false, stream_complete = false;
  bool tampered = false;  // the recorder's channel was written or read by something else
  std::vector<index::ThreadRow> threads;
  std::vector<index::ObjectRow> objects;
  uint64_t index_bytes = 0;
  std::optional<uint64_t> symbol_bytes;  // indexed with precomputed symbols: their bytes in the index
  std::optional<int64_t> stream_dropped;  // omni index --drop-trace: trace.omni's bytes before
  std::optional<RecordingEnd> ending;  // indexed only: the index knows how the stream ended
  std::vector<UnfollowedChild> children;

  // A recording of several processes: the root's dump lists them all.
  std::vector<RecordedProcess> processes;
  if (process_dirs(trace_dir).size() > 1) processes = recorded_processes(trace_dir);
  // A forked process's own trace: which process it is.
  std::string self_process, self_pid, self_ppid, self_parent;
  {
    trace::TraceReader info(trace_path);
    self_process = info.info_value("process");
    self_pid = info.info_value("pid");
    self_ppid = info.info_value("ppid");
    self_parent = info.info_value("parent_process");
  }

  if (indexed) {
    Session session(trace_dir);
    index::IndexReader& reader = session.reader();
    ending = recording_end(session);
    children = unfollowed_children(session);
    program = reader.meta_text("program").value_or("");
    args = reader.args();
    exit_code = reader.meta_int("exit_code");
    signal = reader.meta_int("signal");
    writes = reader.meta_int("writes");
    instructions = reader.meta_int("instructions");
    chunks = reader.meta_int("chunks");
    every_block = reader.meta_int("every_block_entry").value_or(0);
    stream_complete = reader.meta_int("stream_complete").value_or(0) == 1;
    tampered = reader.meta_text("tampered").value_or("") == "1";
    complete = stream_complete;
    threads = reader.threads();
    objects = reader.objects();
    index_bytes = file_size(index_path);
    if (reader.has_symbols()) symbol_bytes = reader.symbol_bytes();
    stream_dropped = reader.meta_int("trace_stream_dropped");
  } else {
    trace::TraceReader reader(trace_path);
    program = reader.info_value("program");
    for (const auto& [key, value] : reader.info())
      if (key == "arg") args.push_back(value);
    // Skips through the stream frames to find how the recording ended.
    reader.skip_to_end();
    if (reader.end()) {
      std::string code = trace::find_value(*reader.end(), "exit_code");
      std::string sig = trace::find_value(*reader.end(), "signal");
      if (!code.empty()) exit_code = std::stoll(code);
      if (!sig.empty()) signal = std::stoll(sig);
    }
    // `omni record` checked that the tool's stream ended with its EXIT record.
    stream_complete = reader.end().has_value() && !reader.truncated() &&
                      trace::find_value(*reader.end(), "stream_complete") == "1";
    tampered = reader.end().has_value() && trace::find_value(*reader.end(), "tampered") == "1";
  }

  if (json) {
    std::string line;
    JsonObject o(line);
    o.field("trace_dir", trace_dir).field("program", program).raw("args", json_array_of_strings(args));
    o.optional("exit_code", exit_code).optional("signal", signal);
    o.field("indexed", indexed).field("complete", complete).field("recording_complete", stream_complete);
    if (tampered) o.field("tampered", true);
    if (ending) {
      o.field("ended_by", ending->how == RecordingEnd::How::Exit   ? "exit"
                          : ending->how == RecordingEnd::How::Exec ? "exec"
                                                                   : "cut");
      if (ending->exec) o.raw("exec", json_exec(*ending->exec));
      else o.null("exec");
      std::string list = "[";
      for (size_t i = 0; i < children.size(); ++i) {
        const UnfollowedChild& c = children[i];
        JsonObject co(list.append(i ? "," : ""));
        co.field("pid", c.pid).field("time", c.time).field("tid", c.tid).field("call", c.call);
        if (c.flags) co.field("flags", hex_address(*c.flags));
        else co.null("flags");
        co.field("recorded", false);
        co.close();
      }
      o.raw("unrecorded_children", list + "]");
    } else {
      if (stream_complete) o.field("ended_by", "exit");
      else o.null("ended_by");
      o.null("exec").null("unrecorded_children");
    }
    if (!self_process.empty()) {
      o.field("process", number_or(self_process, 0)).field("pid", number_or(self_pid, 0));
      o.field("ppid", number_or(self_ppid, 0)).field("parent_process", number_or(self_parent, 0));
    }
    if (!processes.empty()) {
      std::string list = "[";
      for (size_t i = 0; i < processes.size(); ++i) {
        const RecordedProcess& r = processes[i];
        JsonObject po(list.append(i ? "," : ""));
        po.field("process", r.process).optional("pid", r.pid).optional("ppid", r.ppid);
        if (r.parent) po.field("parent_process", r.parent);
        else po.null("parent_process");
        po.field("origin", r.origin).field("dir", r.dir).field("program", r.program);
        po.raw("args", json_array_of_strings(r.args));
        if (r.started.empty()) po.null("started");
        else po.field("started", r.started);
        po.optional("exit_code", r.exit_code).optional("signal", r.signal);
        po.field("indexed", r.indexed).field("recording_complete", r.complete).optional("instructions", r.instructions);
        po.optional("events", r.events);
        if (r.gseq_span) po.field("seq_first", r.gseq_span->first).field("seq_last", r.gseq_span->second);
        else po.null("seq_first").null("seq_last");
        if (r.exec_into) po.field("exec_into", r.exec_into);
        else po.null("exec_into");
        if (r.ended_by.empty()) po.null("ended_by");
        else po.field("ended_by", r.ended_by);
        po.close();
      }
      o.raw("processes", list + "]");
    }
    o.optional("events", writes).optional("instructions", instructions).optional("chunks", chunks);
    if (every_block) o.field("every_block_entry", *every_block == 1);
    else o.null("every_block_entry");
    o.field("trace_bytes", trace_bytes).optional("trace_stream_dropped", stream_dropped);
    o.field("index_bytes", index_bytes);
    if (!indexed) o.null("symbols");
    else o.field("symbols", symbol_bytes ? "precomputed" : "none");
    o.optional("symbol_bytes", symbol_bytes);
    auto [files, file_bytes] = kept_files(trace_dir);
    o.field("kept_files", files).field("kept_file_bytes", file_bytes);
    if (writes && *writes > 0) o.field("index_bytes_per_event", double(index_bytes) / double(*writes));
    if (instructions && *instructions > 0)
      o.field("index_bytes_per_instruction", double(index_bytes) / double(*instructions));
    std::string list = "[";
    for (size_t i = 0; i < threads.size(); ++i) {
      const auto& t = threads[i];
      JsonObject to(list.append(i ? "," : ""));
      to.field("tid", t.tid).optional("lwp", t.lwp).optional("parent", t.parent);
      to.field("time_created", t.time_created).optional("time_exited", t.time_exited);
      to.close();
    }
    o.raw("threads", list + "]");
    list = "[";
    for (size_t i = 0; i < objects.size(); ++i) {
      const auto& ob = objects[i];
      JsonObject oo(list.append(i ? "," : ""));
      oo.field("path", ob.path).field("build_id", ob.build_id).field("bias", hex_address(ob.bias));
      oo.field("start", hex_address(ob.start)).field("end", hex_address(ob.end));
      oo.field("time_loaded", ob.time_loaded).optional("time_unloaded", ob.time_unloaded);
      oo.close();
    }
    o.raw("objects", list + "]");
    o.close();
    out << line << '\n';
    return;
  }

  out << fmt::format("trace directory  {}\n", trace_dir);
  std::string command;
  for (const auto& a : args) command += (command.empty() ? "" : " ") + a;
  out << fmt::format("command          {}\n", command);
  if (!self_process.empty()) {
    trace::TraceReader info(trace_path);
    if (info.info_value("origin") == "exec")
      out << fmt::format("process          {} (pid {}), the image process {} exec'd\n", self_process, self_pid,
                         self_parent);
    else
      out << fmt::format("process          {} (pid {}), forked by process {} (pid {})\n", self_process, self_pid,
                         self_parent, self_ppid);
  }
  bool by_exec = ending && ending->how == RecordingEnd::How::Exec;
  // The status is the process's, from omni record's wait: after an exec,
  // the new image's.
  std::string after = by_exec ? (ending->continued_in ? " (after the exec)" : " (after the exec, unrecorded)") : "";
  if (exit_code) out << fmt::format("ended            exit code {}{}\n", *exit_code, after);
  else if (signal) out << fmt::format("ended            killed by signal {}{}\n", *signal, after);
  else out << "ended            unknown (recording cut short)\n";
  if (by_exec) {
    const RecordingEnd::Exec& exec = *ending->exec;
    if (ending->continued_in)
      out << fmt::format("recording        ends where the program called {} at time {} by thread {}; the new image "
                         "is recorded as process {} ({} bytes)\n",
                         exec_call_text(exec), exec.time, exec.tid, *ending->continued_in, trace_bytes);
    else
      out << fmt::format("recording        ends where the program called {} at time {} by thread {}: the new "
                         "image ran unrecorded ({} bytes)\n",
                         exec_call_text(exec), exec.time, exec.tid, trace_bytes);
    if (exec.argv) {
      std::string argv;
      for (const auto& a : *exec.argv) argv += (argv.empty() ? "" : ", ") + quoted(a);
      out << fmt::format("exec argv        [{}]\n", argv);
    }
  } else {
    out << fmt::format("recording        {} ({} bytes)\n",
                       stream_complete ? "complete"
                       : tampered ? "INCOMPLETE: cut where something other than the recorder (the program, most "
                                    "likely) wrote or read the recorder's channel; events up to the cut are kept"
                       : indexed  ? "INCOMPLETE: cut short, events up to the cut are kept"
                                  : "INCOMPLETE: cut short or ended by an exec (`omni index` tells which); events "
                                    "up to the end are kept",
                       trace_bytes);
  }
  if (!indexed) {
    out << "index            none (run `omni index`)\n";
    return;
  }
  out << fmt::format("index            {} bytes, {} chunks\n", index_bytes, chunks.value_or(0));
  if (stream_dropped)
    out << fmt::format("trace            event stream dropped after indexing (trace.omni had {} bytes): the index "
                       "alone answers, and cannot be built again\n",
                       *stream_dropped);
  if (symbol_bytes)
    out << fmt::format("symbols          precomputed for the code the recording ran ({} bytes of the index): "
                       "answers need no binary or debug file\n",
                       *symbol_bytes);
  else
    out << "symbols          read from the binaries and debug files (indexed with --no-symbols)\n";
  if (auto [files, file_bytes] = kept_files(trace_dir); files > 0)
    out << fmt::format("files            {} copies of the program's and libraries' files ({} bytes, files/): "
                       "replay and symbols use them where the originals are gone or changed\n",
                       files, file_bytes);
  else
    out << "files            none kept (indexed with --no-files): replay and symbols need the recorded files\n";
  out << fmt::format("instructions     {}\n", instructions.value_or(0));
  out << fmt::format("write events     {}\n", writes.value_or(0));
  if (every_block.value_or(1) == 0)
    out << "block entries    only of code that writes, calls or returns (--no-every-block, or an older omni): "
           "--executions refuses code elsewhere\n";
  if (writes && *writes)
    out << fmt::format("bytes per event  {:.3f}\n", double(index_bytes) / double(*writes));
  if (instructions && *instructions)
    out << fmt::format("bytes per instr  {:.3f}\n", double(index_bytes) / double(*instructions));
  out << fmt::format("threads          {}\n", threads.size());
  for (const auto& t : threads)
    out << fmt::format("  tid {:<3} lwp {:<8} created at {}{}\n", t.tid, t.lwp.value_or(0), t.time_created,
                       t.time_exited ? fmt::format(", exited at {}", *t.time_exited) : "");
  if (!processes.empty()) {
    out << fmt::format("processes        {} (this one and {} more, forked or exec'd; `omni query --process N` "
                       "asks about one)\n",
                       processes.size(), processes.size() - 1);
    for (const RecordedProcess& r : processes) {
      std::string ended = r.exit_code ? fmt::format("exit code {}", *r.exit_code)
                          : r.signal  ? fmt::format("killed by signal {}", *r.signal)
                                      : std::string("end unknown");
      if (r.status_from_parent) ended += " (its parent's wait4)";
      if (r.exec_into) ended = fmt::format("exec'd: continues as {}", r.exec_into);
      else if (r.ended_by == "exec") ended = "exec'd a program not recorded; " + ended;
      else if (!r.complete) ended += r.process == 1 ? "" : ", cut short";
      std::string program = r.args.empty() ? std::string("?") : r.args[0].substr(r.args[0].rfind('/') + 1);
      if (program.size() > 16) program = program.substr(0, 15) + "~";
      out << fmt::format("  {:<4} pid {:<8} {:<16} {:<14} {:>24}  {}\n", r.process, r.pid.value_or(0), program,
                         r.process == 1          ? std::string("root")
                         : r.origin == "exec"    ? fmt::format("exec'd by {}", r.parent)
                                                 : fmt::format("forked by {}", r.parent),
                         r.instructions ? fmt::format("{} instructions", *r.instructions)
                                        : std::string("not indexed"),
                         ended);
      // The command line of each image that started a program (a forked
      // one runs its parent's).
      if (r.origin != "fork" && !r.args.empty()) {
        std::string line = fmt::format("{}", fmt::join(r.args, " "));
        for (char& c : line)
          if (static_cast<unsigned char>(c) < 0x20) c = ' ';
        if (line.size() > 100) line = line.substr(0, 99) + "~";
        out << fmt::format("       $ {}\n", line);
      }
    }
  }
  if (!children.empty()) {
    out << fmt::format("child processes  {}, not recorded (omni record --no-children)\n",
                       children.size());
    for (const auto& c : children)
      out << fmt::format("  child process {} forked at time {} by thread {} ({}{}): not recorded\n", c.pid, c.time,
                         c.tid, c.call, c.flags ? fmt::format(", flags {:#x}", *c.flags) : "");
  }
  out << fmt::format("objects          {}\n", objects.size());
  for (const auto& ob : objects)
    out << fmt::format("  {:#014x}-{:#014x} {} {}\n", ob.start, ob.end, ob.path,
                       ob.build_id.empty() ? "" : "build-id " + ob.build_id);
}

}  // namespace omni::query
