// What ties an index.db to its trace and to its own rows (docs/index-format.md,
// "Integrity"): the builder writes these into meta, IndexReader checks them.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

#include "omni/index/db.h"

namespace omni::index {

// Every table but meta: the builder records each one's row count as
// meta "rows.<table>"; the reader compares them with COUNT(*) at open.
inline constexpr const char* kCountedTables[] = {
    "args", "maps", "objects", "threads", "syscalls", "output", "initial_memory", "chunks",
    "chunk_finals", "write_index", "thread_runs", "blocks", "snapshots", "call_chunks", "call_targets",
    "exec_chunks", "exec_blocks", "code_symbols", "function_symbols"};


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

// Content checksums (docs/index-format.md, "Integrity"): a changed number,
// text or raw blob byte in a row would otherwise change answers silently (a
// row count sees only deleted or added rows). Values enter with their type and
// a text's or blob's length, so that different rows never run together into
// the same bytes. A zstd-framed blob does not enter at all: its frame's own
// checksum covers its bytes whenever it is read.
class RowCheck {
 public:
  RowCheck& integer(int64_t v) { return word('I', static_cast<uint64_t>(v)); }
  RowCheck& null() { return word('N', 0); }
  RowCheck& real(double d) {
    uint64_t bits;
    std::memcpy(&bits, &d, sizeof bits);
    return word('F', bits);
  }
  RowCheck& bytes(char tag, const void* data, size_t size) {
    word(tag, size);
    if (size) hash_ = fnv1a(std::string_view(static_cast<const char*>(data), size), hash_);
    return *this;
  }
  RowCheck& blob(const void* data, size_t size) { return bytes('B', data, size); }
  RowCheck& end_row() { return word('\n', 0); }
  uint64_t hash() const { return hash_; }
  // As a crc column stores it: 32 bits (4 bytes in SQLite's record format,
  // where the whole hash would take 8) are plenty against accidents.
  int64_t value() const { return static_cast<int32_t>(static_cast<uint32_t>(hash_ ^ (hash_ >> 32))); }

 private:
  RowCheck& word(char tag, uint64_t v) {
    char bytes[9] = {tag};
    for (int k = 0; k < 8; ++k) bytes[1 + k] = static_cast<char>(v >> (8 * k));
    hash_ = fnv1a(std::string_view(bytes, 9), hash_);
    return *this;
  }
  uint64_t hash_ = kChecksumSeed;
};

// The crc of the rows whose checked columns are keys and numbers only (their
// blobs are zstd frames), one definition for the builder and the reader.
// blocks: the translation's id, its address and the time it was made.
inline int64_t block_row_crc(int64_t id, int64_t addr, int64_t time) {
  return RowCheck().integer(id).integer(addr).integer(time).value();
}
// chunks: the chunk's id, time range and sizes (its data is a zstd frame).
inline int64_t chunk_row_crc(int64_t id, int64_t time_first, int64_t time_last, int64_t events, int64_t raw_bytes) {
  return RowCheck().integer(id).integer(time_first).integer(time_last).integer(events).integer(raw_bytes).value();
}
// snapshots: the thread, the time and the row's seq.
inline int64_t snapshot_row_crc(int64_t tid, int64_t time, int64_t seq) {
  return RowCheck().integer(tid).integer(time).integer(seq).value();
}

// snapshot_dicts and block_dicts: the dictionary's id and its bytes.
inline int64_t dictionary_row_crc(int64_t id, const void* dict, size_t size) {
  return RowCheck().integer(id).blob(dict, size).value();
}

// exec_blocks: the block, the segment (kUnloggedBlock: none) and its chunk list.
inline int64_t exec_block_row_crc(int64_t block, int64_t segment, const void* chunks, size_t size) {
  return RowCheck().integer(block).integer(segment).blob(chunks, size).value();
}

// code_symbols: the object and the page; function_symbols: the object.
inline int64_t symbols_row_crc(int64_t object, int64_t page) {
  return RowCheck().integer(object).integer(page).value();
}

// Tables the reader reads whole (or nearly) for the questions that use them:
// meta "hash.<table>" checksums all their rows, in key order, checked on a
// reader's first use of the table. The large tables read a row at a time
// (chunks, write_index, chunk_finals, blocks, snapshots, thread_runs,
// call_targets, initial_memory) carry a `crc` column instead, checked on
// every row read.
struct HashedTable {
  const char* name;
  const char* columns;
  const char* order;
  const char* source = nullptr;  // FROM clause when not the table itself (a covering index)
};
inline constexpr HashedTable kHashedTables[] = {
    {"args", "idx, arg", "idx"},
    {"maps", "seq, time, event, start, length, prot, path, offset", "seq"},
    {"objects", "id, path, build_id, bias, start, end, time_loaded, time_unloaded", "id"},
    {"threads", "tid, lwp, parent, time_created, time_exited", "tid"},
    {"syscalls", "seq, time, tid, nr, a0, a1, a2, a3, a4, a5, result, gseq_enter, gseq_exit", "seq"},
    {"output", "seq, time, tid, fd, data, gseq", "seq"},
    {"call_chunks", "id, time_first, time_last, calls", "id", "call_chunks INDEXED BY call_chunks_meta"},
    {"exec_chunks", "id, time_first, time_last, time_end, entries", "id",
     "exec_chunks INDEXED BY exec_chunks_meta"},
};
inline constexpr size_t kHashedTableCount = sizeof kHashedTables / sizeof kHashedTables[0];

// Counted by the reader before its first read of them (IndexReader::
// check_count), so that a question refuses rows deleted or added in the
// tables it reads: write_index, blocks, thread_runs, call_targets,
// exec_blocks, initial_memory, code_symbols and function_symbols. Counted at
// build time only: chunk_finals has a row per chunk and page written (10^6
// rows, ~100 ms to count, on an index of 10^8 events) and snapshots' rows are
// register and stack images (65k rows, ~30 ms). A chunk_finals row the
// address index names must exist when read; a missing snapshot makes replay
// start from an earlier one. Tables with a checksum of all their rows
// (kHashedTables, above) are not counted either: the checksum, checked on
// the reader's first use of the table, also covers a deleted row.
// rows.<table> keeps every count for a fuller check.
static_assert(sizeof kCountedTables / sizeof kCountedTables[0] <= 32, "IndexReader keeps one bit per table");
static_assert(kHashedTableCount <= 32, "IndexReader keeps one bit per table");

inline std::string table_checksum(Database& db, const HashedTable& table) {
  Statement q(db, std::string("SELECT ") + table.columns + " FROM " + (table.source ? table.source : table.name) +
                     " ORDER BY " + table.order);
  const int columns = q.column_count();
  RowCheck check;
  while (q.step()) {
    for (int c = 0; c < columns; ++c) {
      const int type = q.column_type(c);  // before reading the value, which may convert it
      if (type == SQLITE_NULL) check.null();
      else if (type == SQLITE_INTEGER) check.integer(q.column_int(c));
      else if (type == SQLITE_FLOAT) check.real(q.column_double(c));
      else check.bytes(type == SQLITE_TEXT ? 'T' : 'B', q.column_blob(c), q.column_bytes(c));
    }
    check.end_row();
  }
  return checksum_text(check.hash());
}

}  // namespace omni::index
