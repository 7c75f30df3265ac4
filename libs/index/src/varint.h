// LEB128 varints, the integer encoding of every index blob (chunk columns and
// the address index). Private to libs/index.
#pragma once

#include <cstdint>
#include <string>

#include "omni/base/error.h"

namespace omni::index {

// Appends through a small stack buffer: one append per value instead of a
// push_back per byte (this runs for every column of every event).
inline void put_varint(std::string& out, uint64_t value) {
  if (value < 0x80) {
    out.push_back(static_cast<char>(value));
    return;
  }
  char bytes[10];
  size_t n = 0;
  while (value >= 0x80) {
    bytes[n++] = static_cast<char>(value | 0x80);
    value >>= 7;
  }
  bytes[n++] = static_cast<char>(value);
  out.append(bytes, n);
}

// Writes a varint at `p`, which has room for 10 bytes; returns its end. For
// the columns of millions of values the builder encodes on its one thread:
// no string's size to update and check per byte.
inline uint8_t* put_varint_at(uint8_t* p, uint64_t value) {
  while (value >= 0x80) {
    *p++ = static_cast<uint8_t>(value | 0x80);
    value >>= 7;
  }
  *p++ = static_cast<uint8_t>(value);
  return p;
}

// Reads varints from [p, end); a truncated or overlong one throws an Error
// naming `what` (the blob being read).
struct VarintReader {
  const uint8_t* p;
  const uint8_t* end;
  const char* what;
  uint64_t varint() {
    // Most values of every column take one byte.
    if (p < end && *p < 0x80) return *p++;
    return varint_long();
  }
  uint64_t varint_long() {
    uint64_t value = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (p >= end) fail("index is corrupt ({} truncated); run `omni index` again", what);
      uint8_t byte = *p++;
      value |= static_cast<uint64_t>(byte & 0x7f) << shift;
      if (!(byte & 0x80)) return value;
    }
    fail("index is corrupt (bad varint in {}); run `omni index` again", what);
  }
};

}  // namespace omni::index
