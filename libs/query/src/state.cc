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
