#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>

#include "omni/base/error.h"
#include "omni/base/paths.h"
#include "omni/query/json.h"
#include "omni/query/query.h"
#include "omni/trace/container.h"

namespace omni::query {

namespace {

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

}  // namespace

void dump(const std::string& trace_dir, bool json, std::ostream& out) {
  std::string trace_path = trace_dir + "/" + kTraceFile;
  std::string index_path = trace_dir + "/" + kIndexFile;
  uint64_t trace_bytes = file_size(trace_path);
  bool indexed = access(index_path.c_str(), F_OK) == 0;

  std::string program;
  std::vector<std::string> args;
  std::optional<int64_t> exit_code, signal, writes, instructions, chunks;
  bool complete = false, stream_complete = false;
  bool tampered = false;  // the recorder's channel was written or read by something else
  std::vector<index::ThreadRow> threads;
  std::vector<index::ObjectRow> objects;
  uint64_t index_bytes = 0;

  if (indexed) {
    index::IndexReader reader(trace_dir);
    program = reader.meta_text("program").value_or("");
    args = reader.args();
    exit_code = reader.meta_int("exit_code");
    signal = reader.meta_int("signal");
    writes = reader.meta_int("writes");
    instructions = reader.meta_int("instructions");
    chunks = reader.meta_int("chunks");
    stream_complete = reader.meta_int("stream_complete").value_or(0) == 1;
    tampered = reader.meta_text("tampered").value_or("") == "1";
    complete = stream_complete;
    threads = reader.threads();
    objects = reader.objects();
    index_bytes = file_size(index_path);
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
    o.optional("events", writes).optional("instructions", instructions).optional("chunks", chunks);
    o.field("trace_bytes", trace_bytes).field("index_bytes", index_bytes);
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
  if (exit_code) out << fmt::format("ended            exit code {}\n", *exit_code);
  else if (signal) out << fmt::format("ended            killed by signal {}\n", *signal);
  else out << "ended            unknown (recording cut short)\n";
  out << fmt::format("recording        {} ({} bytes)\n",
                     stream_complete ? "complete"
                     : tampered      ? "INCOMPLETE: cut where something other than the recorder (the program, most "
                                       "likely) wrote or read the recorder's channel; events up to the cut are kept"
                                     : "INCOMPLETE: cut short, events up to the cut are kept",
                     trace_bytes);
  if (!indexed) {
    out << "index            none (run `omni index`)\n";
    return;
  }
  out << fmt::format("index            {} bytes, {} chunks\n", index_bytes, chunks.value_or(0));
  out << fmt::format("instructions     {}\n", instructions.value_or(0));
  out << fmt::format("write events     {}\n", writes.value_or(0));
  if (writes && *writes)
    out << fmt::format("bytes per event  {:.3f}\n", double(index_bytes) / double(*writes));
  if (instructions && *instructions)
    out << fmt::format("bytes per instr  {:.3f}\n", double(index_bytes) / double(*instructions));
  out << fmt::format("threads          {}\n", threads.size());
  for (const auto& t : threads)
    out << fmt::format("  tid {:<3} lwp {:<8} created at {}{}\n", t.tid, t.lwp.value_or(0), t.time_created,
                       t.time_exited ? fmt::format(", exited at {}", *t.time_exited) : "");
  out << fmt::format("objects          {}\n", objects.size());
  for (const auto& ob : objects)
    out << fmt::format("  {:#014x}-{:#014x} {} {}\n", ob.start, ob.end, ob.path,
                       ob.build_id.empty() ? "" : "build-id " + ob.build_id);
}

}  // namespace omni::query
