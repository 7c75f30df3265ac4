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
#include "omni/index/builder.h"
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
      try {
        k = std::stoull(at.substr(7));
      } catch (...) {
        fail("malformed --at '{}': expected output:N (the Nth output write, from 1)", at);
      }
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
  return value;
}

std::string decode_scalar(const symbols::TypeInfo& type, const uint8_t* bytes, size_t size) {
  using Kind = symbols::TypeInfo::Kind;
  if (type.size == 0 || type.size > 8 || size < type.size) return "null";
  uint64_t raw = 0;
  std::memcpy(&raw, bytes, type.size);
  int shift = static_cast<int>(64 - 8 * type.size);
  int64_t sign_extended = shift == 64 ? 0 : static_cast<int64_t>(raw << shift) >> shift;
  switch (type.kind) {
    case Kind::Signed:
    case Kind::Enum: return fmt::format("{}", sign_extended);
    case Kind::Unsigned: return fmt::format("{}", raw);
    case Kind::Bool: return raw ? "true" : "false";
    case Kind::Pointer: return fmt::format("\"{:#x}\"", raw);
    case Kind::Float:
      if (type.size == 4 || type.size == 8) {
        double d;
        if (type.size == 4) {
          float f;
          std::memcpy(&f, bytes, 4);
          d = f;
        } else {
          std::memcpy(&d, bytes, 8);
        }
        // JSON has no NaN or infinity: those become strings.
        if (std::isnan(d)) return "\"nan\"";
        if (std::isinf(d)) return d > 0 ? "\"inf\"" : "\"-inf\"";
        return type.size == 4 ? fmt::format("{}", static_cast<float>(d)) : fmt::format("{}", d);
      }
      return "null";
    default: return "null";
  }
}

namespace {

// The value of a scalar as JSON, from its DWARF type; null for aggregates or
// when a byte was not mapped.
std::string decode_value(const symbols::TypeInfo& type, const MemoryImage& image) {
  for (uint64_t i = 0; i < type.size && i < image.size; ++i)
    if (!image.mapped[i]) return "null";
  return decode_scalar(type, image.bytes.data(), image.size);
}

}  // namespace

uint64_t read(index::IndexReader& reader, const ReadQuery& query, std::ostream& out) {
  RecordingSymbols symbols(reader);
  Range range = parse_range(query.target, symbols);
  uint64_t time = resolve_time(reader, query.at);
  MemoryImage image = read_memory(reader, range.addr, range.length, time);

  std::string data;
  std::string unmapped = "[";
  for (uint64_t i = 0; i < image.size; ++i) {
    data += image.mapped[i] ? hex_bytes(&image.bytes[i], 1) : "--";
    if (!image.mapped[i] && (i == 0 || image.mapped[i - 1])) {
      uint64_t j = i;
      while (j < image.size && !image.mapped[j]) ++j;
      unmapped += fmt::format("{}{{\"addr\":\"{:#x}\",\"size\":{}}}", unmapped.size() > 1 ? "," : "",
                              image.addr + i, j - i);
    }
  }
  unmapped += "]";
  std::string line;
  if (query.format == Format::Json) {
    JsonObject o(line);
    o.field("at", time).field("addr", hex_address(image.addr)).field("size", image.size).field("data", data);
    o.raw("unmapped", unmapped);
    if (!range.variable.empty()) o.field("variable", range.variable);
    if (range.type) {
      o.field("type", range.type->name);
      o.raw("value", decode_value(*range.type, image));
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
    for (uint64_t row = 0; row < image.size; row += 16) {
      line += fmt::format("  {:#014x} ", image.addr + row);
      for (uint64_t i = row; i < std::min(row + 16, image.size); ++i)
        line += image.mapped[i] ? hex_bytes(&image.bytes[i], 1) + " " : "-- ";
      line += '\n';
    }
  }
  out << line;
  out.flush();
  return 1;
}

}  // namespace omni::query
