// What ties an index.db to its trace and to its own rows (docs/index-format.md,
// "Integrity"): the builder writes these into meta, IndexReader checks them.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "omni/index/db.h"

namespace omni::index {

// Every table but meta: the builder records each one's row count as
// meta "rows.<table>"; the reader compares them with COUNT(*) at open.
inline constexpr const char* kCountedTables[] = {
    "args", "maps", "objects", "threads", "syscalls", "output", "initial_memory", "chunks",
    "chunk_finals", "write_index", "thread_runs", "blocks", "snapshots", "call_chunks", "call_targets"};

// Counted at build time but not at open, where open must stay at a few ms:
// chunk_finals has a row per chunk and page written (10^6 rows, ~100 ms to
// count, on an index of 10^8 events) and snapshots' rows are register and
// stack images (65k rows, ~30 ms). Both are caches for replay (a missing
// snapshot makes replay start from an earlier one); a row deleted there is
// not refused at open. rows.<table> keeps their counts for a fuller check.
inline bool counted_at_open(std::string_view table) {
  return table != "chunk_finals" && table != "snapshots";
}

// FNV-1a 64: not a defence against forgery, only against edits and mixing.
inline uint64_t fnv1a(std::string_view bytes, uint64_t hash = 0xcbf29ce484222325ull) {
  for (unsigned char c : bytes) {
    hash ^= c;
    hash *= 0x100000001b3ull;
  }
  return hash;
}

// A checksum as meta stores it: text that SQLite's numeric affinity leaves
// alone (a bare number would become a REAL and lose digits).
inline std::string checksum_text(uint64_t hash) {
  static const char* kHex = "0123456789abcdef";
  std::string text = "fnv1a64:";
  for (int shift = 60; shift >= 0; shift -= 4) text += kHex[(hash >> shift) & 15];
  return text;
}

// The checksum of every meta row but meta_hash itself, in key order, as text.
inline std::string meta_checksum(Database& db) {
  Statement q(db, "SELECT key, value FROM meta WHERE key != 'meta_hash' ORDER BY key");
  uint64_t hash = 0xcbf29ce484222325ull;
  while (q.step()) {
    std::string key = q.column_text(0);
    std::string value = q.column_is_null(1) ? std::string() : q.column_text(1);
    hash = fnv1a(key, hash);
    hash = fnv1a(std::string_view("\0", 1), hash);
    hash = fnv1a(value, hash);
    hash = fnv1a("\n", hash);
  }
  return checksum_text(hash);
}

// Folds one output row's bytes into the output checksum (rows in time, seq order).
inline uint64_t output_checksum_step(uint64_t hash, uint64_t time, uint32_t tid, uint32_t fd,
                                     std::string_view data) {
  std::string head = std::to_string(time) + ":" + std::to_string(tid) + ":" + std::to_string(fd) + ":" +
                     std::to_string(data.size()) + ":";
  return fnv1a(data, fnv1a(head, hash));
}
inline constexpr uint64_t kChecksumSeed = 0xcbf29ce484222325ull;

}  // namespace omni::index
