#include "omni/query/json.h"

#include <fmt/format.h>

namespace omni::query {

void append_json_string(std::string& out, std::string_view text) {
  out += '"';
  for (unsigned char c : text) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20) out += fmt::format("\\u{:04x}", c);
        else out += static_cast<char>(c);
    }
  }
  out += '"';
}

void JsonObject::key(std::string_view name) {
  if (!first_) out_ += ',';
  first_ = false;
  append_json_string(out_, name);
  out_ += ':';
}

JsonObject& JsonObject::field(std::string_view name, std::string_view value) {
  key(name);
  append_json_string(out_, value);
  return *this;
}
JsonObject& JsonObject::field(std::string_view name, int64_t value) {
  key(name);
  out_ += fmt::format("{}", value);
  return *this;
}
JsonObject& JsonObject::field(std::string_view name, uint64_t value) {
  key(name);
  out_ += fmt::format("{}", value);
  return *this;
}
JsonObject& JsonObject::field(std::string_view name, bool value) {
  key(name);
  out_ += value ? "true" : "false";
  return *this;
}
JsonObject& JsonObject::field(std::string_view name, double value) {
  key(name);
  out_ += fmt::format("{}", value);
  return *this;
}
JsonObject& JsonObject::null(std::string_view name) {
  key(name);
  out_ += "null";
  return *this;
}
JsonObject& JsonObject::raw(std::string_view name, std::string_view json) {
  key(name);
  out_ += json;
  return *this;
}

std::string hex_address(uint64_t address) { return fmt::format("{:#x}", address); }

std::string hex_bytes(const uint8_t* data, size_t size) {
  static const char digits[] = "0123456789abcdef";
  std::string out(size * 2, '0');
  for (size_t i = 0; i < size; ++i) {
    out[2 * i] = digits[data[i] >> 4];
    out[2 * i + 1] = digits[data[i] & 15];
  }
  return out;
}

}  // namespace omni::query
