// --read: memory at any moment (the address space as the map events left
// it, each byte's starting contents, the latest write at or before it), or
// a local variable of a call-stack frame.
#include <fmt/format.h>

#include <algorithm>
#include <cstring>

#include "omni/base/error.h"
#include "omni/query/query.h"

namespace omni::query {

namespace {

bool known(const replay::MemoryImage& image, uint64_t i) {
  return image.mapped[i] && (image.unknown.empty() || !image.unknown[i]);
}

// A char array's text: its bytes up to the first NUL (all of them without
// one); nullopt for other types or when a byte of it was not mapped or is
// unknown to the recording.
std::optional<std::string> char_text(const symbols::TypeInfo& type, const replay::MemoryImage& image) {
  if (!type.chars) return std::nullopt;
  std::string text;
  for (uint64_t i = 0; i < image.size; ++i) {
    if (!known(image, i)) return std::nullopt;
    if (image.bytes[i] == 0) break;
    text += static_cast<char>(image.bytes[i]);
  }
  return text;
}

struct Local {
  Range range;               // for a variable in memory
  std::vector<uint8_t> bytes;  // for one in a register or computed
  bool in_memory = true;
  std::string function;
};

Local find_local(Session& session, const ReadQuery& query, std::string_view name, uint64_t time) {
  RecordingSymbols& symbols = session.symbols();
  uint32_t tid = session.thread(query.tid, time);
  std::vector<replay::StackFrame> frames = session.stack(time, tid);
  // --frame counts the entries of --stack's "frames", inlined functions
  // included: find the physical frame and the inline depth within it.
  size_t physical = 0;
  int depth = 0;
  uint32_t left = query.frame;
  for (; physical < frames.size(); ++physical) {
    auto obj = symbols.object_at(frames[physical].pc, time);
    size_t n = obj ? std::max<size_t>(symbols.inline_chain(*obj, frames[physical].pc).size(), 1) : 1;
    if (left < n) {
      depth = static_cast<int>(left);
      break;
    }
    left -= static_cast<uint32_t>(n);
  }
  if (physical >= frames.size())
    fail("--frame {}: the thread has fewer frames at {} (see --stack)", query.frame, time);
  const replay::StackFrame& frame = frames[physical];
  if (frame.tail_call) fail("frame {} made a tail call: its stack frame, and its locals, are gone", query.frame);
  if (frame.signal) fail("frame {} is the {} frame of signal {}: it has no locals", query.frame, kSignalFrameName, *frame.signal);
  auto object = symbols.object_at(frame.pc, time);
  if (!object) fail("frame {} (pc {:#x}) is in no recorded object", query.frame, frame.pc);
  if (!frame.cfa) fail("frame {} has no recorded call, so its frame address is unknown", query.frame);
  std::optional<replay::Registers> regs;
  if (physical == 0) regs = session.replayer().registers_at(time, tid);
  symbols::FrameContext ctx;
  ctx.pc = frame.pc;
  ctx.cfa = *frame.cfa;
  ctx.inline_depth = depth;
  // Registers are known for the innermost frame only (callee-saved ones of
  // outer frames are not unwound): their locals are found through the CFA.
  if (regs) ctx.reg = [&](int regno) { return replay::dwarf_register(*regs, regno); };
  auto local = symbols.symbolizer().find_local(*object, name, ctx);
  auto chain = symbols.symbolizer().inline_chain(*object, frame.pc);
  std::string function = static_cast<size_t>(depth) < chain.size() ? chain[depth].function : "";
  if (!local) {
    std::string known;
    for (const std::string& n : symbols.symbolizer().local_names(*object, frame.pc, depth))
      known += (known.empty() ? "" : ", ") + n;
    fail("no local or parameter '{}' in {} at frame {}{}", name, function.empty() ? "??" : function, query.frame,
         known.empty() ? std::string(" (no DWARF there)") : "; known there: " + known);
  }
  Local out;
  out.function = function;
  out.range.variable = "local:" + std::string(name);
  out.range.type = local->type;
  if (local->where == symbols::LocalValue::Where::Memory) {
    out.range.addr = local->address;
    out.range.length = std::max<uint64_t>(local->type.size, 1);
  } else {
    out.in_memory = false;
    out.bytes = local->bytes;
    out.range.length = out.bytes.size();
  }
  return out;
}

}  // namespace

void read(Session& session, const ReadQuery& query, Sink<MemoryRecord>& sink) {
  uint64_t time = session.moment(query.at);
  Range range;
  std::optional<Local> local;
  if (query.target.rfind("local:", 0) == 0) {
    local = find_local(session, query, std::string_view(query.target).substr(6), time);
    range = local->range;
  } else {
    if (query.frame != 0 || query.tid) fail("--frame and --tid go with --read local:NAME");
    range = session.target(query.target, time);
  }
  MemoryRecord record;
  record.time = time;
  if (local && !local->in_memory) {
    record.in_register = true;
    record.image = replay::MemoryImage{
        0, local->bytes.size(), time, local->bytes, std::vector<bool>(local->bytes.size(), true), {}, {}, {}};
  } else {
    record.image = session.memory().read(range.addr, range.length, time);
  }
  record.variable = range.variable;
  record.type = range.type;
  if (local) {
    record.frame = query.frame;
    record.function = local->function;
  }
  if (range.type) {
    // A scalar's value only when every byte of it is known.
    bool whole = true;
    for (uint64_t i = 0; i < range.type->size && i < record.image.size; ++i) whole = whole && known(record.image, i);
    if (whole) record.value = decode_scalar(*range.type, record.image.bytes.data(), record.image.size);
    record.text = char_text(*range.type, record.image);
  }
  sink.begin();
  sink.put(record);
}

Scalar decode_scalar(const symbols::TypeInfo& type, const uint8_t* bytes, size_t size) {
  using Kind = symbols::TypeInfo::Kind;
  Scalar out;
  if (type.size == 0 || type.size > 8 || size < type.size) return out;
  uint64_t raw = 0;
  std::memcpy(&raw, bytes, type.size);
  int shift = static_cast<int>(64 - 8 * type.size);
  int64_t sign_extended = shift == 64 ? 0 : static_cast<int64_t>(raw << shift) >> shift;
  switch (type.kind) {
    case Kind::Signed:
    case Kind::Enum: out.kind = Scalar::Kind::Signed, out.s = sign_extended; break;
    case Kind::Unsigned: out.kind = Scalar::Kind::Unsigned, out.u = raw; break;
    case Kind::Bool: out.kind = Scalar::Kind::Bool, out.u = raw; break;
    case Kind::Pointer: out.kind = Scalar::Kind::Pointer, out.u = raw; break;
    case Kind::Float:
      if (type.size == 4) {
        float f;
        std::memcpy(&f, bytes, 4);
        out.kind = Scalar::Kind::Float, out.d = f;
      } else if (type.size == 8) {
        out.kind = Scalar::Kind::Double;
        std::memcpy(&out.d, bytes, 8);
      }
      break;
    default: break;
  }
  return out;
}

}  // namespace omni::query
