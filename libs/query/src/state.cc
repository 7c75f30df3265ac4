// Point-in-time state beyond memory: registers (replayed), call stacks and
// calls (from the recorded calls and returns).
#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <cstring>
#include <map>

#include "omni/base/error.h"
#include "omni/query/json.h"
#include "omni/query/query.h"
#include "omni/replay/replay.h"

namespace omni::query {

namespace {

void add_location(JsonObject& o, RecordingSymbols& symbols, uint64_t pc, uint64_t time) {
  auto where = symbols.locate(pc, time);
  location_fields(o, where ? &*where : nullptr);
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

namespace {

// Calls of thread `tid` active after instruction `time`, innermost first.
std::vector<index::CallRow> active_calls(index::IndexReader& reader, uint32_t tid, uint64_t time) {
  const auto& chunks = reader.call_chunks();
  // The thread's latest call at or before `time`.
  std::optional<index::CallRow> latest;
  for (auto it = chunks.rbegin(); it != chunks.rend() && !latest; ++it) {
    if (it->time_first > time) continue;
    auto rows = reader.calls_of_chunk(it->id);
    for (auto r = rows->rbegin(); r != rows->rend(); ++r)
      if (r->tid == tid && r->time <= time) {
        latest = *r;
        break;
      }
  }
  // Every call active then is it or one of its callers: a call made while
  // an active frame was running is in that frame's subtree.
  std::vector<index::CallRow> out;
  for (std::optional<index::CallRow> c = latest; c; c = reader.caller_of(*c))
    if (c->end_time == 0 || c->end_time > time) out.push_back(*c);
  return out;
}

// The functions executing at pc, innermost first: inlined instances, then
// the function that holds them.
std::vector<symbols::Location> functions_at(RecordingSymbols& symbols, uint64_t pc, uint64_t time) {
  std::vector<symbols::Location> chain;
  if (auto object = symbols.object_at(pc, time)) chain = symbols.symbolizer().inline_chain(*object, pc);
  if (chain.empty()) {
    if (auto where = symbols.locate(pc, time)) chain.push_back(*where);
  }
  return chain;
}

std::string frame_json(RecordingSymbols& symbols, const StackFrame& frame, uint64_t time) {
  std::vector<symbols::Location> chain;
  if (frame.pc) {
    chain = functions_at(symbols, frame.pc, time);
  } else if (frame.function_entry) {
    // Where it jumped from is unknown: only which function it was.
    if (auto where = symbols.locate(*frame.function_entry, time)) chain.push_back({where->function, "", 0, false});
  }
  if (chain.empty()) chain.emplace_back();
  std::string f;
  for (const symbols::Location& where : chain) {
    if (!f.empty()) f += ',';
    JsonObject o(f);
    if (frame.pc) o.field("pc", hex_address(frame.pc));
    else o.null("pc");
    location_fields(o, &where);
    o.field("inline", where.inlined);
    if (frame.since) o.field("since", *frame.since);
    else o.null("since");
    o.field("tail_call", frame.tail_call).null("signal");
    o.close();
  }
  return f;
}

}  // namespace

std::string frames_json(const std::vector<StackFrame>& frames, RecordingSymbols& symbols, uint64_t time) {
  std::string list = "[";
  for (const StackFrame& f : frames) {
    if (list.size() > 1) list += ',';
    if (f.signal) {
      JsonObject o(list);
      o.null("pc").field("function", std::string_view(kSignalFrameName)).null("file").null("line");
      o.field("inline", false);
      if (f.since) o.field("since", *f.since);
      else o.null("since");
      o.field("tail_call", false).field("signal", *f.signal);
      o.close();
      continue;
    }
    list += frame_json(symbols, f, time);
  }
  return list + ']';
}

std::vector<StackFrame> stack_at(index::IndexReader& reader, uint64_t time, std::optional<uint32_t> tid,
                                 replay::Replayer* replayer, std::optional<uint64_t> pc0) {
  tid = reader.thread_for(tid, time);
  std::vector<index::CallRow> calls = active_calls(reader, *tid, time);
  std::vector<StackFrame> frames;
  // The innermost frame is where the thread is: its pc from the registers.
  uint64_t pc = calls.empty() ? 0 : calls.front().target;
  if (pc0) {
    pc = *pc0;
  } else if (replayer) {
    // A replay that fails fails the question: the entry of the innermost
    // call is not where the thread is.
    replay::Registers regs = replayer->registers_at(time, tid);
    pc = regs.rip();
    // A frame the stack pointer has already passed (a longjmp or an
    // exception left it) is over, though the index ends it only at the
    // thread's next call or return.
    while (!calls.empty() && calls.front().rsp < regs.rsp()) calls.erase(calls.begin());
  }
  for (size_t i = 0; i <= calls.size(); ++i) {
    StackFrame frame;
    frame.pc = i == 0 ? pc : calls[i - 1].pc;
    if (i < calls.size()) {
      frame.since = calls[i].time;
      frame.cfa = calls[i].rsp + 8;
    }
    if (i > 0 && calls[i - 1].kind == index::CallKind::Tail) {
      // Replaced by the tail call: its stack frame is gone (its locals
      // with it), but not the fact that it ran and jumped.
      frame.tail_call = true;
      frame.cfa.reset();
      if (frame.pc == 0 && i < calls.size()) frame.function_entry = calls[i].target;
    }
    if (i > 0 && calls[i - 1].kind == index::CallKind::Signal) {
      StackFrame handler_caller;
      handler_caller.pc = 0;
      handler_caller.since = calls[i - 1].time;
      handler_caller.signal = calls[i - 1].signal;
      frames.push_back(handler_caller);
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
  uint32_t tid = reader.thread_for(query.tid, time);
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
      if (frames[i].signal) {
        line += fmt::format("  #{:<2} {} (signal {})\n", i, kSignalFrameName, *frames[i].signal);
        continue;
      }
      std::vector<symbols::Location> chain = functions_at(symbols, frames[i].pc, time);
      if (chain.empty() && frames[i].function_entry)
        if (auto where = symbols.locate(*frames[i].function_entry, time)) chain.push_back({where->function, "", 0, false});
      if (chain.empty()) chain.emplace_back();
      for (const symbols::Location& where : chain) {
        line += fmt::format("  #{:<2} {:#x} {}{}{}", i, frames[i].pc, where.function.empty() ? "??" : where.function,
                            where.inlined ? " [inlined]" : "", frames[i].tail_call ? " [tail call]" : "");
        if (!where.file.empty()) line += fmt::format(" at {}:{}", where.file, where.line);
        line += '\n';
      }
    }
  }
  out << line;
  out.flush();
  return 1;
}

namespace {

// The text a `char *` points to at `time` (up to 256 bytes, to its NUL).
std::optional<std::string> c_string(const symbols::TypeInfo& type, const std::vector<uint8_t>& bytes,
                                    replay::MemoryReader& memory, uint64_t time) {
  if (type.kind != symbols::TypeInfo::Kind::Pointer || bytes.size() < 8) return std::nullopt;
  if (type.name != "char *" && type.name != "const char *" && type.name != "unsigned char *") return std::nullopt;
  uint64_t addr;
  std::memcpy(&addr, bytes.data(), 8);
  if (addr == 0) return std::nullopt;
  replay::MemoryImage image = memory.read(addr, 256, time);
  std::string text;
  for (size_t i = 0; i < image.size && image.mapped[i] && image.bytes[i]; ++i) text += static_cast<char>(image.bytes[i]);
  if (!image.mapped[0]) return std::nullopt;
  return text;
}

// One argument of a call, as passed.
struct CallArgument {
  std::string name, type;
  std::optional<uint64_t> address;  // where it is: passed by reference, or in memory (a big aggregate)
  std::optional<std::vector<uint8_t>> data;  // a small aggregate's bytes (passed in registers)
  Scalar value;                     // a scalar's value; None for the above
  std::optional<std::string> text;  // what a char pointer points to
};

// Argument values by the SysV x86-64 calling convention: integer-class
// scalars in rdi, rsi, rdx, rcx, r8, r9 then the stack; float/double in
// xmm0-7 then the stack; aggregates of more than 16 bytes by memory on the
// stack (reported by address); smaller aggregates in integer registers; a
// C++ class with a non-trivial copy constructor or destructor by a pointer
// to a copy (reported by that address). A function that returns an
// aggregate in memory takes the address for it in rdi first.
std::vector<CallArgument> call_arguments(const std::vector<symbols::Parameter>& params,
                                         const std::optional<symbols::TypeInfo>& ret, const replay::Registers& regs,
                                         replay::MemoryReader& memory, uint64_t time) {
  using Kind = symbols::TypeInfo::Kind;
  size_t gpr = 0, xmm = 0;
  if (ret && (ret->by_reference ||
              ((ret->kind == Kind::Struct || ret->kind == Kind::Union || ret->kind == Kind::Array) && ret->size > 16)))
    gpr = 1;
  uint64_t stack = regs.rsp() + 8;  // first stack argument, above the return address
  auto from_stack = [&](uint64_t size, std::vector<uint8_t>& bytes) {
    replay::MemoryImage image = memory.read(stack, std::max<uint64_t>(size, 1), time);
    bytes = image.bytes;
    stack += (size + 7) & ~uint64_t{7};
  };
  std::vector<CallArgument> out;
  for (const symbols::Parameter& p : params) {
    CallArgument& a = out.emplace_back();
    a.name = p.name;
    a.type = p.type.name;
    std::vector<uint8_t> bytes;
    bool aggregate = p.type.kind == Kind::Struct || p.type.kind == Kind::Union || p.type.kind == Kind::Array;
    if (p.type.by_reference) {
      uint64_t address = 0;
      if (gpr < std::size(replay::kIntegerArgumentRegisters)) {
        address = regs.u64(replay::gpr_offset(replay::kIntegerArgumentRegisters[gpr++]));
      } else {
        from_stack(8, bytes);
        std::memcpy(&address, bytes.data(), std::min<size_t>(8, bytes.size()));
      }
      a.address = address;
    } else if (aggregate && p.type.size > 16) {
      a.address = stack;
      stack += (p.type.size + 7) & ~uint64_t{7};
    } else if (p.type.kind == Kind::Float && (p.type.size == 4 || p.type.size == 8)) {
      if (xmm < replay::kFloatArgumentRegisters) {
        const uint8_t* x = regs.state.data() + replay::xmm_offset(static_cast<int>(xmm++));
        bytes.assign(x, x + p.type.size);
      } else {
        from_stack(p.type.size, bytes);
      }
      a.value = decode_scalar(p.type, bytes.data(), bytes.size());
    } else {
      uint64_t words = aggregate ? (p.type.size + 7) / 8 : 1;
      if (gpr + words <= std::size(replay::kIntegerArgumentRegisters)) {
        for (uint64_t w = 0; w < words; ++w) {
          uint64_t v = regs.u64(replay::gpr_offset(replay::kIntegerArgumentRegisters[gpr++]));
          bytes.insert(bytes.end(), reinterpret_cast<uint8_t*>(&v), reinterpret_cast<uint8_t*>(&v) + 8);
        }
      } else {
        from_stack(words * 8, bytes);
      }
      if (aggregate) {
        bytes.resize(p.type.size);
        a.data = std::move(bytes);
      } else {
        a.value = decode_scalar(p.type, bytes.data(), bytes.size());
        a.text = c_string(p.type, bytes, memory, time);
      }
    }
  }
  return out;
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

// The return value of a non-void call from rax or xmm0 by the return type
// (rax as an unsigned integer without DWARF; None for aggregates).
Scalar return_value(const std::optional<symbols::TypeInfo>& type, const replay::Registers& after) {
  using Kind = symbols::TypeInfo::Kind;
  if (!type) return Scalar{.kind = Scalar::Kind::Unsigned, .u = after.u64(replay::gpr_offset(replay::kReturnRegister))};
  if (type->kind == Kind::Float) return decode_scalar(*type, after.state.data() + replay::xmm_offset(0), 16);
  if (type->kind == Kind::Struct || type->kind == Kind::Union || type->kind == Kind::Array || type->by_reference)
    return {};
  uint64_t rax = after.u64(replay::gpr_offset(replay::kReturnRegister));
  return decode_scalar(*type, reinterpret_cast<const uint8_t*>(&rax), 8);
}

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

}  // namespace

uint64_t calls(index::IndexReader& reader, const CallsQuery& query, std::ostream& out) {
  RecordingSymbols symbols(reader);
  // The functions asked about: an entry address, or every function the name
  // selects (all overloads of a C++ name), each named by its matched symbol.
  std::vector<symbols::FunctionMatch> targets;
  std::string_view name = query.function;
  if (name.size() > 2 && name[0] == '0' && (name[1] == 'x' || name[1] == 'X')) {
    uint64_t v = 0;
    auto [end, error] = std::from_chars(name.data() + 2, name.data() + name.size(), v, 16);
    if (error == std::errc() && end == name.data() + name.size()) targets.push_back({v, query.function});
  }
  const bool by_address = !targets.empty();
  if (targets.empty()) targets = symbols.find_functions(name);
  if (targets.empty())
    fail("no function named '{}' in the recorded program or its libraries{}", query.function,
         symbols.missing_symbols_hint());
  uint64_t from = query.from.value_or(0), to = query.to.value_or(UINT64_MAX);
  if (from > to) fail("--from {} is after --to {}", from, to);

  // The calls stream chunk by chunk: call ids, and so chunks, follow entry
  // times. Only --last keeps rows: the last N, read from the end.
  std::map<uint64_t, size_t> target_of;  // entry -> index in targets
  for (size_t t = 0; t < targets.size(); ++t) target_of.emplace(targets[t].entry, t);
  std::vector<uint32_t> chunk_ids;
  for (const auto& target : targets)
    for (uint32_t chunk : reader.call_chunks_to(target.entry)) chunk_ids.push_back(chunk);
  std::sort(chunk_ids.begin(), chunk_ids.end());
  chunk_ids.erase(std::unique(chunk_ids.begin(), chunk_ids.end()), chunk_ids.end());
  using Row = std::pair<index::CallRow, size_t>;  // with its target
  auto rows_of = [&](uint32_t chunk) {
    std::vector<Row> rows;
    for (const index::CallRow& row : reader.load_calls(chunk))
      if (auto t = target_of.find(row.target); t != target_of.end() && row.time >= from && row.time <= to)
        rows.push_back({row, t->second});
    return rows;
  };
  std::vector<Row> last_rows;
  if (query.last) {
    for (auto it = chunk_ids.rbegin(); it != chunk_ids.rend() && last_rows.size() < *query.last; ++it) {
      std::vector<Row> rows = rows_of(*it);
      last_rows.insert(last_rows.begin(), rows.begin(), rows.end());
    }
    if (last_rows.size() > *query.last) last_rows.erase(last_rows.begin(), last_rows.end() - *query.last);
  }

  replay::Replayer replayer(reader);
  // One reader for every call's stack arguments and strings: it keeps the
  // address space, index rows and chunks between reads.
  replay::MemoryReader& memory = replayer.memory();
  // What DWARF says of each target, read when its first call is seen.
  struct Described {
    bool known = false;
    std::vector<symbols::Parameter> params;
    std::optional<symbols::TypeInfo> return_type;
    bool returns_void = false;
    std::string function_name;
  };
  std::vector<Described> described(targets.size());
  auto describe = [&](size_t t, uint64_t time) -> const Described& {
    Described& d = described[t];
    if (d.known) return d;
    d.known = true;
    uint64_t entry = targets[t].entry;
    d.function_name = targets[t].name;
    if (auto object = symbols.object_at(entry, time)) {
      d.params = symbols.symbolizer().parameters(*object, entry);
      d.return_type = symbols.symbolizer().return_type(*object, entry);
      d.returns_void = symbols.symbolizer().returns_void(*object, entry);
      // An address names the function there.
      if (auto where = symbols.symbolizer().locate(*object, entry);
          by_address && where && !where->function.empty())
        d.function_name = where->function;
    }
    return d;
  };
  std::string line;
  if (query.format == Format::Table)
    out << fmt::format("{:>12} {:>12} {:>4}  {}\n", "time", "end_time", "tid", "call");
  // A tail call reached by an indirect jump has no known jump
  // instruction: its caller is the function whose frame it replaced.
  auto replaced_function = [&](const index::CallRow& row) -> std::optional<symbols::Location> {
    std::optional<index::CallRow> replaced = reader.caller_of(row);
    if (!replaced) return std::nullopt;
    return symbols.locate(replaced->target, row.time);
  };
  std::map<std::pair<uint64_t, uint32_t>, replay::Registers> moments;  // of the batch being answered
  auto emit = [&](const index::CallRow& row, size_t t) {
    const auto& [known, params, return_type, returns_void, function_name] = describe(t, row.time);
    const uint64_t* entry = &targets[t].entry;  // this row's function
    std::vector<CallArgument> args;
    if (!params.empty()) args = call_arguments(params, return_type, moments.at({row.time, row.tid}), memory, row.time);
    // Only a return leaves a return value (an unwound call's rax is noise),
    // and only a non-void function returns one.
    const replay::Registers* after = nullptr;
    if (row.ended == index::CallEnd::Returned && !returns_void) after = &moments.at({row.end_time, row.tid});
    std::optional<symbols::Location> caller;
    if (row.pc) caller = symbols.locate(row.pc, row.time);
    else if (row.kind == index::CallKind::Tail) caller = replaced_function(row);
    const char* ended = ended_name(row.ended);
    line.clear();
    if (query.format == Format::Json) {
      JsonObject o(line);
      o.field("time", row.time);
      if (row.end_time) o.field("end_time", row.end_time);
      else o.null("end_time");
      if (ended) o.field("ended", ended);
      else o.null("ended");
      o.field("kind", kind_name(row.kind));
      if (row.kind == index::CallKind::Signal) o.field("signal", row.signal);
      else o.null("signal");
      o.field("tid", row.tid).field("function", function_name).field("entry", hex_address(*entry));
      if (caller && !caller->function.empty()) o.field("caller", caller->function);
      else o.null("caller");
      if (row.pc) o.field("pc", hex_address(row.pc));
      else o.null("pc");
      o.raw("args", arguments_json(args));
      if (after) o.raw("return", scalar_json(return_value(return_type, *after)));
      else o.null("return");
      o.close();
      line += '\n';
    } else {
      line = fmt::format("{:>12} {:>12} {:>4}  {}(", row.time, row.end_time ? fmt::format("{}", row.end_time) : "-",
                         row.tid, function_name);
      line += arguments_text(args) + ")";
      if (after) line += " = " + scalar_json(return_value(return_type, *after));
      else if (ended && row.ended != index::CallEnd::Returned) line += fmt::format(" [{}]", ended);
      if (row.kind == index::CallKind::Signal) line += fmt::format(" [signal {}]", row.signal);
      else if (row.kind == index::CallKind::Tail) line += " [tail call]";
      if (caller && !caller->function.empty()) line += " from " + caller->function;
      line += '\n';
    }
    out << line;
  };
  // Registers at every moment a batch of calls needs, computed in time
  // order: the replayer then resumes one run per snapshot instead of
  // replaying from the snapshot for each moment. Batches are small so that
  // answers stream.
  constexpr size_t kBatch = 64;
  uint64_t count = 0;
  auto answer = [&](const std::vector<Row>& rows) {
    for (size_t first = 0; first < rows.size(); first += kBatch) {
      size_t last = std::min(rows.size(), first + kBatch);
      moments.clear();
      for (size_t i = first; i < last; ++i) {
        const auto& [row, t] = rows[i];
        const Described& d = describe(t, row.time);
        if (!d.params.empty()) moments.emplace(std::make_pair(row.time, row.tid), replay::Registers{});
        if (row.ended == index::CallEnd::Returned && !d.returns_void)
          moments.emplace(std::make_pair(row.end_time, row.tid), replay::Registers{});
      }
      for (auto& [moment, regs] : moments) regs = replayer.registers_at(moment.first, moment.second);
      for (size_t i = first; i < last; ++i) emit(rows[i].first, rows[i].second);
      count += last - first;
    }
  };
  if (query.last) {
    answer(last_rows);
  } else {
    uint64_t previous = 0;
    for (uint32_t chunk : chunk_ids) {
      std::vector<Row> rows = rows_of(chunk);
      for (const Row& row : rows) {
        if (row.first.time < previous)
          fail("index call chunk {} is corrupt (calls out of time order); run `omni index` again", chunk);
        previous = row.first.time;
      }
      answer(rows);
    }
  }
  out.flush();
  return count;
}

}  // namespace omni::query
