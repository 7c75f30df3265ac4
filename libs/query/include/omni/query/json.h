// A small streaming writer for one JSON object per line (JSON Lines). Keys are
// written in the order given; strings are escaped per RFC 8259.
#pragma once

#include <cstdint>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>

namespace omni::query {

class JsonObject {
 public:
  explicit JsonObject(std::string& out) : out_(out) { out_ += '{'; }
  JsonObject& field(std::string_view key, std::string_view value);
  JsonObject& field(std::string_view key, const char* value) { return field(key, std::string_view(value)); }
  JsonObject& field(std::string_view key, const std::string& value) { return field(key, std::string_view(value)); }
  JsonObject& field(std::string_view key, int64_t value);
  JsonObject& field(std::string_view key, uint64_t value);
  JsonObject& field(std::string_view key, int value) { return field(key, static_cast<int64_t>(value)); }
  JsonObject& field(std::string_view key, uint32_t value) { return field(key, static_cast<uint64_t>(value)); }
  JsonObject& field(std::string_view key, bool value);
  JsonObject& field(std::string_view key, double value);
  JsonObject& null(std::string_view key);
  // A value already in JSON form (an array or object).
  JsonObject& raw(std::string_view key, std::string_view json);
  template <typename T>
  JsonObject& optional(std::string_view key, const std::optional<T>& value) {
    return value ? field(key, *value) : null(key);
  }
  void close() { out_ += '}'; }
  // Writes `"name":` only; the caller appends the value.
  JsonObject& key_only(std::string_view name) {
    key(name);
    return *this;
  }

 private:
  void key(std::string_view name);
  std::string& out_;
  bool first_ = true;
};

// Appends `bytes` as a JSON string (RFC 8259 escapes). Bytes that are not
// valid UTF-8 (program output, odd file names) become U+FFFD, so the line
// stays valid JSON.
void append_json_string(std::string& out, std::string_view bytes);
std::string hex_address(uint64_t address);  // "0x401136"
std::string hex_bytes(const uint8_t* data, size_t size);  // memory order, lowercase

}  // namespace omni::query
