#include "omni/query/json.h"

#include <fmt/format.h>

#include <cmath>

namespace omni::query {

namespace {

// Escapes `text`, which is valid UTF-8.
void escape_valid(std::string& out, std::string_view text) {
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

}  // namespace

// Every string goes through here: paths and names from the recorded system
// are bytes too, and one invalid byte must not make the line invalid JSON.
void append_json_string(std::string& out, std::string_view bytes) {
  // Most strings (keys, names, paths) are printable ASCII: nothing to
  // validate or escape.
  bool plain = true;
  for (unsigned char c : bytes)
    if (c < 0x20 || c >= 0x80 || c == '"' || c == '\\') {
      plain = false;
      break;
    }
  if (plain) {
    out += '"';
    out += bytes;
    out += '"';
    return;
  }
  std::string valid;
  valid.reserve(bytes.size());
  size_t i = 0;
  while (i < bytes.size()) {
    auto byte = [&](size_t k) { return static_cast<unsigned char>(bytes[k]); };
    unsigned char c = byte(i);
    size_t length = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xe ? 3 : (c >> 3) == 0x1e ? 4 : 0;
    bool ok = length > 0 && i + length <= bytes.size();
    for (size_t k = 1; ok && k < length; ++k) ok = (byte(i + k) & 0xc0) == 0x80;
    // Overlong forms and surrogates are not valid either.
    if (ok && length == 2) ok = c >= 0xc2;
    if (ok && length == 3) {
      unsigned cp = ((c & 0x0f) << 12) | ((byte(i + 1) & 0x3f) << 6);
      ok = cp >= 0x800 && !(cp >= 0xd800 && cp <= 0xdfff);
    }
    if (ok && length == 4) {
      unsigned cp = ((c & 0x07) << 18) | ((byte(i + 1) & 0x3f) << 12);
      ok = cp >= 0x10000 && cp <= 0x10ffff;
    }
    if (ok) {
      valid.append(bytes.substr(i, length));
      i += length;
    } else {
      valid += "\xef\xbf\xbd";
      ++i;
    }
  }
  escape_valid(out, valid);
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
  // JSON has no NaN or infinity.
  if (std::isfinite(value)) out_ += fmt::format("{}", value);
  else out_ += "null";
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
