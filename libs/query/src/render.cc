// JSON Lines and table renderers, one per record kind and format, in the
// order docs/json.md describes the answers. Each appends whole lines to
// `out`; none reads the recording.
#include <fmt/format.h>

#include <cmath>

#include "omni/query/json.h"
#include "omni/query/records.h"

namespace omni::query {

void location_fields(JsonObject& o, const symbols::Location* where) {
  if (where && !where->function.empty()) o.field("function", where->function);
  else o.null("function");
  if (where && !where->file.empty()) o.field("file", where->file);
  else o.null("file");
  if (where && where->line > 0) o.field("line", where->line);
  else o.null("line");
}

std::string scalar_json(const Scalar& value) {
  switch (value.kind) {
    case Scalar::Kind::Signed: return fmt::format("{}", value.s);
    case Scalar::Kind::Unsigned: return fmt::format("{}", value.u);
    case Scalar::Kind::Bool: return value.u ? "true" : "false";
    case Scalar::Kind::Pointer: return fmt::format("\"{:#x}\"", value.u);
    case Scalar::Kind::Float:
    case Scalar::Kind::Double:
      if (std::isnan(value.d)) return "\"nan\"";
      if (std::isinf(value.d)) return value.d > 0 ? "\"inf\"" : "\"-inf\"";
      // The shortest text that reads back as the same float or double.
      return value.kind == Scalar::Kind::Float ? fmt::format("{}", static_cast<float>(value.d))
                                               : fmt::format("{}", value.d);
    case Scalar::Kind::None: break;
  }
  return "null";
}

namespace {

// One frame of a "frames" or "stack" list: an entry per function executing
// in it (inlined ones first), or the signal frame.
void frame_json(const FrameRecord& r, std::string& list) {
  const replay::StackFrame& frame = r.frame;
  if (frame.signal) {
    JsonObject o(list);
    o.null("pc").field("function", kSignalFrameName).null("file").null("line");
    o.field("inline", false).optional("since", frame.since);
    o.field("tail_call", false).field("signal", *frame.signal);
    o.close();
    return;
  }
  bool first = true;
  for (const symbols::Location& where : r.functions) {
    if (!first) list += ',';
    first = false;
    JsonObject o(list);
    if (frame.pc) o.field("pc", hex_address(frame.pc));
    else o.null("pc");
    location_fields(o, &where);
    o.field("inline", where.inlined).optional("since", frame.since);
    o.field("tail_call", frame.tail_call).null("signal");
    o.close();
  }
}

std::string frames_json(const std::vector<FrameRecord>& frames) {
  std::string list = "[";
  for (const FrameRecord& f : frames) {
    if (list.size() > 1) list += ',';
    frame_json(f, list);
  }
  return list + ']';
}

}  // namespace

// --where-written

void render_json(const WriteRecord& r, std::string& out) {
  const index::Event& e = r.event;
  JsonObject o(out);
  o.field("time", e.time).field("tid", e.tid).field("pc", hex_address(e.pc));
  location_fields(o, r.where ? &*r.where : nullptr);
  o.field("addr", hex_address(e.addr)).field("size", e.size).field("data", hex_bytes(r.data.data(), r.data.size()));
  o.field("origin", e.by_kernel ? "kernel" : "cpu");
  if (r.stack) o.raw("stack", frames_json(*r.stack));
  o.close();
  out += '\n';
}

void render_table_header(const WriteRecord*, std::string& out) {
  out += fmt::format("{:>12} {:>4} {:>14} {:>14} {:>5} {:<34} {}\n", "time", "tid", "pc", "addr", "size", "data",
                     "where");
}

void render_table(const WriteRecord& r, std::string& out) {
  const index::Event& e = r.event;
  std::string where = r.where && !r.where->function.empty() ? r.where->function : "?";
  if (r.where && !r.where->file.empty()) {
    std::string file = r.where->file.substr(r.where->file.rfind('/') + 1);
    where += fmt::format(" ({}:{})", file, r.where->line);
  }
  if (e.by_kernel) where += " [kernel]";
  std::string hex = hex_bytes(r.data.data(), r.data.size());
  std::string data = hex.size() > 32 ? hex.substr(0, 32) + "..." : hex;
  out += fmt::format("{:>12} {:>4} {:>14} {:>14} {:>5} {:<34} {}\n", e.time, e.tid, hex_address(e.pc),
                     hex_address(e.addr), e.size, data, where);
  if (!r.stack) return;
  for (const FrameRecord& f : *r.stack) {
    if (f.frame.signal) {
      out += fmt::format("{:>20} {}\n", "", kSignalFrameName);
      continue;
    }
    out += fmt::format("{:>20} {:#x} {}\n", "", f.frame.pc,
                       f.where && !f.where->function.empty() ? f.where->function : "??");
  }
}

// --read

namespace {

bool is_unknown(const replay::MemoryImage& image, uint64_t i) { return !image.unknown.empty() && image.unknown[i]; }

// Byte i as hex, "--" when not mapped, "??" when the recording does not hold it.
std::string byte_text(const replay::MemoryImage& image, uint64_t i) {
  if (!image.mapped[i]) return "--";
  if (is_unknown(image, i)) return "??";
  return hex_bytes(&image.bytes[i], 1);
}

}  // namespace

void render_json(const MemoryRecord& r, std::string& out) {
  const replay::MemoryImage& image = r.image;
  std::string data;
  std::string unmapped = "[", unknown = "[";
  for (uint64_t i = 0; i < image.size; ++i) {
    data += byte_text(image, i);
    if (is_unknown(image, i) && (i == 0 || !is_unknown(image, i - 1))) {
      uint64_t j = i;
      while (j < image.size && is_unknown(image, j)) ++j;
      unknown += fmt::format("{}{{\"addr\":\"{:#x}\",\"size\":{}}}", unknown.size() > 1 ? "," : "",
                             image.addr + i, j - i);
    }
    if (!image.mapped[i] && (i == 0 || image.mapped[i - 1])) {
      uint64_t j = i;
      while (j < image.size && !image.mapped[j]) ++j;
      unmapped += fmt::format("{}{{\"addr\":\"{:#x}\",\"size\":{}}}", unmapped.size() > 1 ? "," : "",
                              image.addr + i, j - i);
    }
  }
  unmapped += "]";
  unknown += "]";
  std::string shared = "[";
  for (const replay::MemoryImage::Shared& part : image.shared) {
    shared += fmt::format("{}{{\"addr\":\"{:#x}\",\"size\":{},\"path\":", shared.size() > 1 ? "," : "", part.addr,
                          part.size);
    if (part.path.empty()) shared += "null";
    else append_json_string(shared, part.path);
    shared += '}';
  }
  shared += "]";
  JsonObject o(out);
  o.field("at", r.time);
  if (r.in_register) o.null("addr");
  else o.field("addr", hex_address(image.addr));
  o.field("size", image.size).field("data", data);
  o.raw("unmapped", unmapped);
  if (!image.unknown.empty()) o.raw("unknown", unknown);
  if (!image.shared.empty()) o.raw("shared", shared);
  if (!r.variable.empty()) o.field("variable", r.variable);
  if (r.frame) o.field("frame", *r.frame).field("function", r.function);
  if (r.type) {
    o.field("type", r.type->name);
    o.raw("value", scalar_json(r.value));
    if (r.text) o.field("string", *r.text);
  }
  if (!image.file_missing.empty()) {
    std::string missing = "[";
    for (const auto& path : image.file_missing) {
      if (missing.size() > 1) missing += ',';
      append_json_string(missing, path);
    }
    o.raw("files_missing", missing + "]");
  }
  o.close();
  out += '\n';
}

void render_table(const MemoryRecord& r, std::string& out) {
  const replay::MemoryImage& image = r.image;
  out += fmt::format("at {}: {} bytes at {:#x}\n", r.time, image.size, image.addr);
  if (r.type && r.text) {
    std::string quoted;
    append_json_string(quoted, *r.text);
    out += fmt::format("  {} = {}\n", r.variable, quoted);
  }
  for (uint64_t row = 0; row < image.size; row += 16) {
    out += fmt::format("  {:#014x} ", image.addr + row);
    for (uint64_t i = row; i < std::min(row + 16, image.size); ++i) out += byte_text(image, i) + " ";
    out += '\n';
  }
  if (!image.shared.empty()) out += "  (in a shared mapping: other processes may have changed these bytes unseen)\n";
}

// --registers

void render_json(const RegistersRecord& r, std::string& out) {
  const replay::Registers& regs = r.regs;
  JsonObject o(out);
  o.field("at", regs.time).field("tid", regs.tid);
  o.field("rip", hex_address(regs.rip()));
  location_fields(o, r.where ? &*r.where : nullptr);
  for (int i = 0; i < 16; ++i) o.field(replay::kGprNames[i], hex_address(regs.u64(replay::gpr_offset(i))));
  o.field("rflags", hex_address(regs.rflags()));
  o.field("fs_base", hex_address(regs.u64(replay::fs_base_offset())));
  for (int i = 0; i < 16; ++i) {
    // Memory order, like "data" elsewhere: byte 0 first.
    o.field(fmt::format("xmm{}", i), hex_bytes(regs.state.data() + replay::xmm_offset(i), 16));
  }
  if (!regs.note.empty()) o.field("note", regs.note);
  o.field("replayed", regs.replayed);
  o.close();
  out += '\n';
}

void render_table(const RegistersRecord& r, std::string& out) {
  const replay::Registers& regs = r.regs;
  out += fmt::format("at {} thread {}: rip {:#x}", regs.time, regs.tid, regs.rip());
  if (r.where && !r.where->function.empty()) out += fmt::format(" in {}", r.where->function);
  if (r.where && !r.where->file.empty()) out += fmt::format(" ({}:{})", r.where->file, r.where->line);
  out += '\n';
  for (int i = 0; i < 16; ++i)
    out += fmt::format("  {:<4} {:#018x}{}", replay::kGprNames[i], regs.u64(replay::gpr_offset(i)),
                       i % 4 == 3 ? "\n" : "");
  out += fmt::format("  rflags {:#x}  fs_base {:#x}\n", regs.rflags(), regs.u64(replay::fs_base_offset()));
  for (int i = 0; i < 16; ++i)
    out += fmt::format("  xmm{:<2} {}\n", i, hex_bytes(regs.state.data() + replay::xmm_offset(i), 16));
  if (!regs.note.empty()) out += "  (" + regs.note + ")\n";
}

// --stack

void render_json(const StackRecord& r, std::string& out) {
  JsonObject o(out);
  o.field("at", r.time).field("tid", r.tid).raw("frames", frames_json(r.frames));
  o.close();
  out += '\n';
}

void render_table(const StackRecord& r, std::string& out) {
  out += fmt::format("at {} thread {}:\n", r.time, r.tid);
  for (size_t i = 0; i < r.frames.size(); ++i) {
    const replay::StackFrame& frame = r.frames[i].frame;
    if (frame.signal) {
      out += fmt::format("  #{:<2} {} (signal {})\n", i, kSignalFrameName, *frame.signal);
      continue;
    }
    for (const symbols::Location& where : r.frames[i].functions) {
      out += fmt::format("  #{:<2} {:#x} {}{}{}", i, frame.pc, where.function.empty() ? "??" : where.function,
                         where.inlined ? " [inlined]" : "", frame.tail_call ? " [tail call]" : "");
      if (!where.file.empty()) out += fmt::format(" at {}:{}", where.file, where.line);
      out += '\n';
    }
  }
}

// --calls

namespace {

const char* ended_name(index::CallEnd ended) {
  switch (ended) {
    case index::CallEnd::Returned: return "returned";
    case index::CallEnd::Unwound: return "unwound";
    case index::CallEnd::Replaced: return "replaced";
    case index::CallEnd::Open: break;
  }
  return nullptr;
}

const char* kind_name(index::CallKind kind) {
  switch (kind) {
    case index::CallKind::Tail: return "tail_call";
    case index::CallKind::Signal: return "signal";
    case index::CallKind::Call: break;
  }
  return "call";
}

// [{"name", "type", ["address"], ["data"], "value", ["string"]}, ...] (docs/json.md).
std::string arguments_json(const std::vector<CallArgument>& args) {
  std::string list = "[";
  for (const CallArgument& a : args) {
    if (list.size() > 1) list += ',';
    JsonObject o(list);
    o.field("name", a.name).field("type", a.type);
    if (a.address) o.field("address", hex_address(*a.address));
    if (a.data) o.field("data", hex_bytes(a.data->data(), a.data->size()));
    o.raw("value", scalar_json(a.value));
    if (a.text) o.field("string", *a.text);
    o.close();
  }
  return list + "]";
}

// "name=value, ..." for the table format: a char pointer's text, a small
// aggregate's bytes in braces, else the value (null for one passed by
// reference or in memory).
std::string arguments_text(const std::vector<CallArgument>& args) {
  std::string text;
  for (const CallArgument& a : args) {
    if (!text.empty()) text += ", ";
    std::string shown;
    if (a.text) append_json_string(shown, *a.text);
    else if (a.value.kind == Scalar::Kind::None && a.data) shown = "{" + hex_bytes(a.data->data(), a.data->size()) + "}";
    else shown = scalar_json(a.value);
    text += a.name + "=" + shown;
  }
  return text;
}

}  // namespace

void render_json(const CallRecord& r, std::string& out) {
  const index::CallRow& row = r.row;
  const char* ended = ended_name(row.ended);
  JsonObject o(out);
  o.field("time", row.time);
  if (row.end_time) o.field("end_time", row.end_time);
  else o.null("end_time");
  if (ended) o.field("ended", ended);
  else o.null("ended");
  o.field("kind", kind_name(row.kind));
  if (row.kind == index::CallKind::Signal) o.field("signal", row.signal);
  else o.null("signal");
  o.field("tid", row.tid).field("function", r.function).field("entry", hex_address(r.entry));
  if (r.caller && !r.caller->function.empty()) o.field("caller", r.caller->function);
  else o.null("caller");
  if (row.pc) o.field("pc", hex_address(row.pc));
  else o.null("pc");
  if (r.clone) o.null("args");
  else o.raw("args", arguments_json(r.args));
  if (r.returned) o.raw("return", scalar_json(*r.returned));
  else o.null("return");
  o.close();
  out += '\n';
}

void render_table_header(const CallRecord*, std::string& out) {
  out += fmt::format("{:>12} {:>12} {:>4}  {}\n", "time", "end_time", "tid", "call");
}

void render_table(const CallRecord& r, std::string& out) {
  const index::CallRow& row = r.row;
  const char* ended = ended_name(row.ended);
  out += fmt::format("{:>12} {:>12} {:>4}  {}(", row.time, row.end_time ? fmt::format("{}", row.end_time) : "-",
                     row.tid, r.function);
  out += (r.clone ? std::string("?") : arguments_text(r.args)) + ")";
  if (r.returned) out += " = " + scalar_json(*r.returned);
  else if (ended && row.ended != index::CallEnd::Returned) out += fmt::format(" [{}]", ended);
  if (row.kind == index::CallKind::Signal) out += fmt::format(" [signal {}]", row.signal);
  else if (row.kind == index::CallKind::Tail) out += " [tail call]";
  if (r.caller && !r.caller->function.empty()) out += " from " + r.caller->function;
  out += '\n';
}

// --executions

void render_json(const ExecutionRecord& r, std::string& out) {
  JsonObject o(out);
  o.field("time", r.time).field("tid", r.tid).field("pc", hex_address(r.pc));
  location_fields(o, r.where ? &*r.where : nullptr);
  o.field("location", static_cast<uint64_t>(r.location));
  o.close();
  out += '\n';
}

void render_table_header(const ExecutionRecord*, std::string& out) {
  out += fmt::format("{:>12} {:>4} {:>3} {:<18} {}\n", "time", "tid", "loc", "pc", "where");
}

void render_table(const ExecutionRecord& r, std::string& out) {
  std::string where;
  if (r.where) {
    where = r.where->function.empty() ? "??" : r.where->function;
    if (!r.where->file.empty()) where += fmt::format(" at {}:{}", r.where->file, r.where->line);
  }
  out += fmt::format("{:>12} {:>4} {:>3} {:<18} {}\n", r.time, r.tid, r.location, hex_address(r.pc), where);
}

// --output

void render_json(const OutputRecord& r, std::string& out) {
  std::string_view text(reinterpret_cast<const char*>(r.row.data.data()), r.row.data.size());
  JsonObject o(out);
  if (r.process) o.field("process", r.process->process).field("pid", r.process->pid);
  o.field("time", r.row.time).field("tid", r.row.tid).field("fd", r.row.fd);
  o.field("data", hex_bytes(r.row.data.data(), r.row.data.size()));
  o.key_only("text");
  append_json_string(out, text);
  o.close();
  out += '\n';
}

void render_table(const OutputRecord& r, std::string& out) {
  std::string_view text(reinterpret_cast<const char*>(r.row.data.data()), r.row.data.size());
  if (r.process) out += fmt::format("{:>4} {:>8} ", r.process->process, r.process->pid);
  out += fmt::format("{:>12} {:>4} fd {} | ", r.row.time, r.row.tid, r.row.fd);
  for (char c : text) out += (c == '\n') ? std::string("\\n") : std::string(1, c);
  out += '\n';
}

// --syscalls

void render_json(const SyscallRecord& r, std::string& out) {
  std::string args = "[";
  for (int i = 0; i < 6; ++i) args += fmt::format("{}{}", i ? "," : "", r.row.args[i]);
  args += "]";
  JsonObject o(out);
  if (r.process) o.field("process", r.process->process).field("pid", r.process->pid);
  o.field("time", r.row.time).field("tid", r.row.tid).field("nr", r.row.nr).field("name", r.name);
  o.raw("args", args).optional("result", r.row.result);
  o.close();
  out += '\n';
}

void render_table_header(const SyscallRecord*, std::string& out) {
  out += fmt::format("{:>12} {:>4} {:<16} {}\n", "time", "tid", "syscall", "args = result");
}

void render_table(const SyscallRecord& r, std::string& out) {
  std::string args;
  for (int i = 0; i < 6; ++i) args += fmt::format("{}{:#x}", i ? ", " : "", static_cast<uint64_t>(r.row.args[i]));
  if (r.process) out += fmt::format("{:>4} {:>8} ", r.process->process, r.process->pid);
  out += fmt::format("{:>12} {:>4} {:<16} ({}) = {}\n", r.row.time, r.row.tid, r.name, args,
                     r.row.result ? fmt::format("{}", *r.row.result) : std::string("(no return)"));
}

}  // namespace omni::query
