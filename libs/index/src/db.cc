#include "omni/index/db.h"

#include "omni/base/error.h"

namespace omni::index {

namespace {
const char* const kSchemaSql =
#include "schema_sql.inc"
    ;
}

Database::Database(const std::string& path, Mode mode) : path_(path) {
  int flags = mode == Mode::ReadOnly ? SQLITE_OPEN_READONLY
                                     : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;
  if (sqlite3_open_v2(path.c_str(), &db_, flags | SQLITE_OPEN_NOMUTEX, nullptr) != SQLITE_OK) {
    std::string message = db_ ? sqlite3_errmsg(db_) : "out of memory";
    sqlite3_close(db_);
    db_ = nullptr;
    fail("cannot open index {}: {}", path, message);
  }
  sqlite3_extended_result_codes(db_, 1);
}

Database::~Database() { sqlite3_close(db_); }

void Database::raise(const std::string& what) const {
  fail("index {}: {}: {}", path_, what, sqlite3_errmsg(db_));
}

void Database::exec(const std::string& sql) {
  char* error = nullptr;
  if (sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &error) != SQLITE_OK) {
    std::string message = error ? error : "unknown error";
    sqlite3_free(error);
    fail("index {}: {}", path_, message);
  }
}

void create_schema(Database& db) { db.exec(kSchemaSql); }

int check_schema(Database& db, bool previous_ok) {
  int app_id = 0, version = 0;
  try {
    Statement app(db, "PRAGMA application_id");
    if (app.step()) app_id = static_cast<int>(app.column_int(0));
    Statement ver(db, "PRAGMA user_version");
    if (ver.step()) version = static_cast<int>(ver.column_int(0));
  } catch (const Error&) {
    fail("{} is not an omni index (not an SQLite database); run `omni index` again", db.path());
  }
  if (app_id != kApplicationId)
    fail("{} is not an omni index; run `omni index` to rebuild it", db.path());
  if (version != kSchemaVersion && !(previous_ok && version >= kOldestSchemaVersion && version < kSchemaVersion))
    fail("{} has index format version {}, this omni reads version {}; run `omni index` again",
         db.path(), version, kSchemaVersion);
  return version;
}

Statement::Statement(Database& db, std::string_view sql) : db_(db) {
  if (sqlite3_prepare_v3(db.handle(), sql.data(), static_cast<int>(sql.size()),
                         SQLITE_PREPARE_PERSISTENT, &stmt_, nullptr) != SQLITE_OK)
    db.raise("cannot prepare `" + std::string(sql) + "`");
}

Statement::~Statement() { sqlite3_finalize(stmt_); }

Statement& Statement::bind(int index, int64_t value) {
  if (sqlite3_bind_int64(stmt_, index, value) != SQLITE_OK) db_.raise("bind");
  return *this;
}
Statement& Statement::bind(int index, double value) {
  if (sqlite3_bind_double(stmt_, index, value) != SQLITE_OK) db_.raise("bind");
  return *this;
}
Statement& Statement::bind(int index, std::string_view text) {
  if (sqlite3_bind_text(stmt_, index, text.data(), static_cast<int>(text.size()),
                        SQLITE_TRANSIENT) != SQLITE_OK)
    db_.raise("bind");
  return *this;
}
Statement& Statement::bind_blob(int index, const void* data, size_t size) {
  if (sqlite3_bind_blob64(stmt_, index, data, size, SQLITE_STATIC) != SQLITE_OK) db_.raise("bind");
  return *this;
}
Statement& Statement::bind_null(int index) {
  if (sqlite3_bind_null(stmt_, index) != SQLITE_OK) db_.raise("bind");
  return *this;
}

bool Statement::step() {
  int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  db_.raise("query failed");
}

void Statement::run() {
  while (step()) {
  }
  reset();
}

void Statement::reset() {
  sqlite3_reset(stmt_);
  sqlite3_clear_bindings(stmt_);
}

int64_t Statement::column_int(int column) const { return sqlite3_column_int64(stmt_, column); }
double Statement::column_double(int column) const { return sqlite3_column_double(stmt_, column); }
std::string Statement::column_text(int column) const {
  const unsigned char* text = sqlite3_column_text(stmt_, column);
  return text ? reinterpret_cast<const char*>(text) : "";
}
bool Statement::column_is_null(int column) const {
  return sqlite3_column_type(stmt_, column) == SQLITE_NULL;
}
int Statement::column_type(int column) const { return sqlite3_column_type(stmt_, column); }
int Statement::column_count() const { return sqlite3_column_count(stmt_); }
const void* Statement::column_blob(int column) const { return sqlite3_column_blob(stmt_, column); }
size_t Statement::column_bytes(int column) const { return sqlite3_column_bytes(stmt_, column); }

}  // namespace omni::index
