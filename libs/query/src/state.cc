// Point-in-time state beyond memory: registers (replayed), call stacks and
// calls (from the recorded calls and returns).
#include <fmt/format.h>

#include <algorithm>
#include <map>

#include "omni/base/error.h"
#include "omni/query/json.h"
#include "omni/query/query.h"
#include "omni/replay/replay.h"

namespace omni::query {

namespace {

void add_location(JsonObject& o, RecordingSymbols& symbols, uint64_t pc, uint64_t time) {
  auto where = symbols.locate(pc, time);
  if (where && !where->function.empty()) o.field("function", where->function);
  else o.null("function");
  if (where && !where->file.empty()) o.field("file", where->file);
  else o.null("file");
  if (where && where->line) o.field("line", where->line);
  else o.null("line");
}

}  // namespace

uint64_t registers(index::IndexReader& reader, const RegistersQuery& query, std::ostream& out) {
  RecordingSymbols symbols(reader);
  uint64_t time = resolve_time(reader, query.at);
  replay::Replayer replayer(reader);
  replay::Registers regs = replayer.registers_at(time, query.tid);
  std::string line;
  if (query.format == Format::Json) {
    JsonObject o(line);
    o.field("at", time).field("tid", regs.tid);
    o.field("rip", hex_address(regs.rip()));
    add_location(o, symbols, regs.rip(), time);
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
    line += '\n';
  } else {
    auto where = symbols.locate(regs.rip(), time);
    line = fmt::format("at {} thread {}: rip {:#x}", time, regs.tid, regs.rip());
    if (where && !where->function.empty()) line += fmt::format(" in {}", where->function);
    if (where && !where->file.empty()) line += fmt::format(" ({}:{})", where->file, where->line);
    line += '\n';
    for (int i = 0; i < 16; ++i)
      line += fmt::format("  {:<4} {:#018x}{}", replay::kGprNames[i], regs.u64(replay::gpr_offset(i)),
                          i % 4 == 3 ? "\n" : "");
    line += fmt::format("  rflags {:#x}  fs_base {:#x}\n", regs.rflags(), regs.u64(replay::fs_base_offset()));
    for (int i = 0; i < 16; ++i)
      line += fmt::format("  xmm{:<2} {}\n", i, hex_bytes(regs.state.data() + replay::xmm_offset(i), 16));
    if (!regs.note.empty()) line += "  (" + regs.note + ")\n";
  }
  out << line;
  out.flush();
  return 1;
}

}  // namespace omni::query

namespace omni::query {

namespace {

// Calls of thread `tid` active after instruction `time`, innermost first.
std::vector<index::CallRow> active_calls(index::IndexReader& reader, uint32_t tid, uint64_t time) {
  const auto& chunks = reader.call_chunks();
  std::map<uint32_t, std::vector<index::CallRow>> loaded;
  auto chunk_rows = [&](uint32_t id) -> const std::vector<index::CallRow>& {
    auto it = loaded.find(id);
    if (it == loaded.end()) it = loaded.emplace(id, reader.load_calls(id)).first;
    return it->second;
  };
  auto find = [&](uint64_t id) -> std::optional<index::CallRow> {
    uint32_t chunk = static_cast<uint32_t>(id / index::kCallsPerChunk);
    const auto& rows = chunk_rows(chunk);
    uint64_t i = id - uint64_t{chunk} * index::kCallsPerChunk;
    if (i >= rows.size()) return std::nullopt;
    return rows[i];
  };
  // The thread's latest call at or before `time`.
  std::optional<index::CallRow> latest;
  for (auto it = chunks.rbegin(); it != chunks.rend() && !latest; ++it) {
    if (it->time_first > time) continue;
    const auto& rows = chunk_rows(it->id);
    for (auto r = rows.rbegin(); r != rows.rend(); ++r)
      if (r->tid == tid && r->time <= time) {
        latest = *r;
        break;
      }
  }
  // Every call active then is it or one of its callers: a call made while
  // an active frame was running is in that frame's subtree.
  std::vector<index::CallRow> out;
  for (std::optional<index::CallRow> c = latest; c; c = c->parent ? find(c->parent - 1) : std::nullopt)
    if (c->end_time == 0 || c->end_time > time) out.push_back(*c);
  return out;
}

std::string frame_json(RecordingSymbols& symbols, uint64_t pc, uint64_t time, std::optional<uint64_t> since) {
  std::string f;
  JsonObject o(f);
  o.field("pc", hex_address(pc));
  auto where = symbols.locate(pc, time);
  if (where && !where->function.empty()) o.field("function", where->function);
  else o.null("function");
  if (where && !where->file.empty()) o.field("file", where->file);
  else o.null("file");
  if (where && where->line) o.field("line", where->line);
  else o.null("line");
  o.field("inline", where && where->inlined);
  if (since) o.field("since", *since);
  else o.null("since");
  o.close();
  return f;
}

}  // namespace

std::string frames_json(const std::vector<StackFrame>& frames, RecordingSymbols& symbols, uint64_t time) {
  std::string list = "[";
  for (const StackFrame& f : frames) {
    if (list.size() > 1) list += ',';
    list += frame_json(symbols, f.pc, time, f.since);
  }
  return list + ']';
}

std::vector<StackFrame> stack_at(index::IndexReader& reader, uint64_t time, std::optional<uint32_t> tid,
                                 replay::Replayer* replayer, std::optional<uint64_t> pc0) {
  if (!tid) tid = reader.thread_at(time);
  if (!tid) tid = 1;
  std::vector<index::CallRow> calls = active_calls(reader, *tid, time);
  std::vector<StackFrame> frames;
  // The innermost frame is where the thread is: its pc from the registers.
  uint64_t pc = calls.empty() ? 0 : calls.front().target;
  if (pc0) {
    pc = *pc0;
  } else if (replayer) {
    try {
      pc = replayer->registers_at(time, tid).rip();
    } catch (const Error&) {
      // Without registers the innermost frame is named by its entry.
    }
  }
  for (size_t i = 0; i <= calls.size(); ++i) {
    StackFrame frame;
    frame.pc = i == 0 ? pc : calls[i - 1].pc;
    if (i < calls.size()) {
      frame.since = calls[i].time;
      frame.cfa = calls[i].rsp + 8;
    }
    if (i == 0 && pc == 0) continue;
    frames.push_back(frame);
  }
  return frames;
}

uint64_t stack(index::IndexReader& reader, const StackQuery& query, std::ostream& out) {
  RecordingSymbols symbols(reader);
  uint64_t time = resolve_time(reader, query.at);
  replay::Replayer replayer(reader);
  uint32_t tid = query.tid ? *query.tid : reader.thread_at(time).value_or(1);
  std::vector<StackFrame> frames = stack_at(reader, time, tid, &replayer);
  std::string line;
  if (query.format == Format::Json) {
    JsonObject o(line);
    o.field("at", time).field("tid", tid).raw("frames", frames_json(frames, symbols, time));
    o.close();
    line += '\n';
  } else {
    line = fmt::format("at {} thread {}:\n", time, tid);
    for (size_t i = 0; i < frames.size(); ++i) {
      auto where = symbols.locate(frames[i].pc, time);
      line += fmt::format("  #{:<2} {:#x} {}", i, frames[i].pc,
                          where && !where->function.empty() ? where->function : "??");
      if (where && !where->file.empty()) line += fmt::format(" at {}:{}", where->file, where->line);
      line += '\n';
    }
  }
  out << line;
  out.flush();
  return 1;
}

}  // namespace omni::query
