// RAII wrappers over SQLite: a connection and prepared statements. Errors
// become omni::Error naming the database file.
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <string>
#include <string_view>

namespace omni::index {

inline constexpr int kSchemaVersion = 15;
// The oldest version this omni still reads (a recording whose trace was
// dropped cannot be indexed again): 14 added snapshot_dicts (13's snapshot
// frames name no dictionary), 15 codes chunks kSameInstruction (13 and 14:
// kPreviousEvent, chunk.h).
inline constexpr int kOldestSchemaVersion = 13;
inline constexpr int kApplicationId = 0x4F4D4E49;

class Database;

// A prepared statement, prepared once and reused (reset() between uses).
class Statement {
 public:
  Statement(Database& db, std::string_view sql);
  ~Statement();
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;

  Statement& bind(int index, int64_t value);
  Statement& bind(int index, uint64_t value) { return bind(index, static_cast<int64_t>(value)); }
  Statement& bind(int index, int value) { return bind(index, static_cast<int64_t>(value)); }
  Statement& bind(int index, uint32_t value) { return bind(index, static_cast<int64_t>(value)); }
  Statement& bind(int index, double value);
  Statement& bind(int index, std::string_view text);
  Statement& bind_blob(int index, const void* data, size_t size);
  Statement& bind_null(int index);

  // Steps once: true when a row is available.
  bool step();
  // Steps to completion (for statements without results), then resets.
  void run();
  void reset();

  int64_t column_int(int column) const;
  uint64_t column_u64(int column) const { return static_cast<uint64_t>(column_int(column)); }
  double column_double(int column) const;
  std::string column_text(int column) const;
  bool column_is_null(int column) const;
  int column_type(int column) const;  // SQLITE_INTEGER, SQLITE_TEXT, ...
  int column_count() const;
  const void* column_blob(int column) const;
  size_t column_bytes(int column) const;

 private:
  Database& db_;
  sqlite3_stmt* stmt_ = nullptr;
};

class Database {
 public:
  enum class Mode { ReadOnly, Create };
  Database(const std::string& path, Mode mode);
  ~Database();
  Database(const Database&) = delete;
  Database& operator=(const Database&) = delete;

  void exec(const std::string& sql);
  sqlite3* handle() { return db_; }
  const std::string& path() const { return path_; }
  [[noreturn]] void raise(const std::string& what) const;

 private:
  sqlite3* db_ = nullptr;
  std::string path_;
};

// Creates the schema in an empty database.
void create_schema(Database& db);
// Checks application_id and user_version (this version, or also the older
// ones from kOldestSchemaVersion when `previous_ok`: a reader); throws an actionable
// Error. Returns the version.
int check_schema(Database& db, bool previous_ok = false);

}  // namespace omni::index
