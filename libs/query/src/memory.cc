// Memory at any moment: the address space as the map events left it at that
// time, each byte's starting contents, and the latest write at or before it.
#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstring>
#include <cstdio>
#include <map>

#include "omni/base/error.h"
#include "omni/index/format.h"
#include "omni/query/json.h"
#include "omni/query/query.h"
#include "omni/replay/memory.h"

namespace omni::query {

using replay::MemoryImage;
using replay::read_memory;

uint64_t resolve_time(index::IndexReader& reader, const std::string& at) {
  if (at == "end") return reader.meta_int("instructions").value_or(0);
  if (at.rfind("output:", 0) == 0 || at.rfind("output~", 0) == 0) {
    auto rows = reader.output();
    if (at[6] == ':') {
      size_t k = 0;
      auto [end, error] = std::from_chars(at.data() + 7, at.data() + at.size(), k);
      if (at.size() == 7 || error != std::errc() || end != at.data() + at.size())
        fail("malformed --at '{}': expected output:N (the Nth output write, from 1)", at);
      if (k == 0 || k > rows.size())
        fail("--at {}: the recording has {} output writes", at, rows.size());
      return rows[k - 1].time;
    }
    std::string needle = at.substr(7);
    for (const auto& row : rows)
      if (std::string_view(reinterpret_cast<const char*>(row.data.data()), row.data.size()).find(needle) !=
          std::string_view::npos)
        return row.time;
    fail("--at {}: no output write contains '{}'", at, needle);
  }
  uint64_t value = 0;
  auto [end, error] = std::from_chars(at.data(), at.data() + at.size(), value);
  if (at.empty() || error != std::errc() || end != at.data() + at.size())
    fail("malformed --at '{}': expected a time, end, output:N or output~TEXT", at);
  // Past the last instruction nothing happened: an answer there would be
  // the end's, passed off as another moment's.
  uint64_t last = reader.meta_int("instructions").value_or(0);
  if (value > last) fail("--at {} is past the end of the recording (last instruction {})", at, last);
  return value;
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

bool is_unknown(const MemoryImage& image, uint64_t i) { return !image.unknown.empty() && image.unknown[i]; }

// Byte i as hex, "--" when not mapped, "??" when the recording does not hold it.
std::string byte_text(const MemoryImage& image, uint64_t i) {
  if (!image.mapped[i]) return "--";
  if (is_unknown(image, i)) return "??";
  return hex_bytes(&image.bytes[i], 1);
}

// The value of a scalar as JSON, from its DWARF type; null for aggregates or
// when a byte was not mapped.
std::string decode_value(const symbols::TypeInfo& type, const MemoryImage& image) {
  for (uint64_t i = 0; i < type.size && i < image.size; ++i)
    if (!image.mapped[i] || is_unknown(image, i)) return "null";
  return scalar_json(decode_scalar(type, image.bytes.data(), image.size));
}

// A char array's text: its bytes up to the first NUL (all of them without
// one); nullopt for other types or when a byte of it was not mapped or is
// unknown to the recording.
std::optional<std::string> char_text(const symbols::TypeInfo& type, const MemoryImage& image) {
  if (!type.chars) return std::nullopt;
  std::string text;
  for (uint64_t i = 0; i < image.size; ++i) {
    if (!image.mapped[i] || is_unknown(image, i)) return std::nullopt;
    if (image.bytes[i] == 0) break;
    text += static_cast<char>(image.bytes[i]);
  }
  return text;
}

}  // namespace

namespace {

struct Local {
  Range range;               // for a variable in memory
  std::vector<uint8_t> bytes;  // for one in a register or computed
  bool in_memory = true;
  std::string function;
};

Local find_local(index::IndexReader& reader, RecordingSymbols& symbols, const ReadQuery& query,
                 std::string_view name, uint64_t time) {
  replay::Replayer replayer(reader);
  uint32_t tid = reader.thread_for(query.tid, time);
  std::vector<StackFrame> frames = stack_at(reader, time, tid, &replayer);
  // --frame counts the entries of --stack's "frames", inlined functions
  // included: find the physical frame and the inline depth within it.
  size_t physical = 0;
  int depth = 0;
  uint32_t left = query.frame;
  for (; physical < frames.size(); ++physical) {
    auto obj = symbols.object_at(frames[physical].pc, time);
    size_t n = obj ? std::max<size_t>(symbols.symbolizer().inline_chain(*obj, frames[physical].pc).size(), 1) : 1;
    if (left < n) {
      depth = static_cast<int>(left);
      break;
    }
    left -= static_cast<uint32_t>(n);
  }
  if (physical >= frames.size())
    fail("--frame {}: the thread has fewer frames at {} (see --stack)", query.frame, time);
  const StackFrame& frame = frames[physical];
  if (frame.tail_call) fail("frame {} made a tail call: its stack frame, and its locals, are gone", query.frame);
  if (frame.signal) fail("frame {} is the {} frame of signal {}: it has no locals", query.frame, kSignalFrameName, *frame.signal);
  auto object = symbols.object_at(frame.pc, time);
  if (!object) fail("frame {} (pc {:#x}) is in no recorded object", query.frame, frame.pc);
  if (!frame.cfa) fail("frame {} has no recorded call, so its frame address is unknown", query.frame);
  std::optional<replay::Registers> regs;
  if (physical == 0) regs = replayer.registers_at(time, tid);
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

uint64_t read(index::IndexReader& reader, const ReadQuery& query, std::ostream& out) {
  RecordingSymbols symbols(reader);
  uint64_t time = resolve_time(reader, query.at);
  Range range;
  std::optional<Local> local;
  if (query.target.rfind("local:", 0) == 0) {
    local = find_local(reader, symbols, query, std::string_view(query.target).substr(6), time);
    range = local->range;
  } else {
    if (query.frame != 0 || query.tid) fail("--frame and --tid go with --read local:NAME");
    range = parse_range(query.target, symbols, &reader, time);
  }
  MemoryImage image;
  if (local && !local->in_memory) {
    image = MemoryImage{0, local->bytes.size(), time, local->bytes, std::vector<bool>(local->bytes.size(), true), {}, {}, {}};
  } else {
    image = read_memory(reader, range.addr, range.length, time);
  }

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
  for (const MemoryImage::Shared& part : image.shared) {
    shared += fmt::format("{}{{\"addr\":\"{:#x}\",\"size\":{},\"path\":", shared.size() > 1 ? "," : "",
                          part.addr, part.size);
    if (part.path.empty()) shared += "null";
    else append_json_string(shared, part.path);
    shared += '}';
  }
  shared += "]";
  std::string line;
  if (query.format == Format::Json) {
    JsonObject o(line);
    o.field("at", time);
    if (local && !local->in_memory) o.null("addr");
    else o.field("addr", hex_address(image.addr));
    o.field("size", image.size).field("data", data);
    o.raw("unmapped", unmapped);
    if (!image.unknown.empty()) o.raw("unknown", unknown);
    if (!image.shared.empty()) o.raw("shared", shared);
    if (!range.variable.empty()) o.field("variable", range.variable);
    if (local) o.field("frame", query.frame).field("function", local->function);
    if (range.type) {
      o.field("type", range.type->name);
      o.raw("value", decode_value(*range.type, image));
      if (auto text = char_text(*range.type, image)) o.field("string", *text);
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
    line += '\n';
  } else {
    line = fmt::format("at {}: {} bytes at {:#x}\n", time, image.size, image.addr);
    if (range.type) {
      if (auto text = char_text(*range.type, image)) {
        std::string quoted;
        append_json_string(quoted, *text);
        line += fmt::format("  {} = {}\n", range.variable, quoted);
      }
    }
    for (uint64_t row = 0; row < image.size; row += 16) {
      line += fmt::format("  {:#014x} ", image.addr + row);
      for (uint64_t i = row; i < std::min(row + 16, image.size); ++i)
        line += byte_text(image, i) + " ";
      line += '\n';
    }
    if (!image.shared.empty())
      line += "  (in a shared mapping: other processes may have changed these bytes unseen)\n";
  }
  out << line;
  out.flush();
  return 1;
}

}  // namespace omni::query
