// The index builder's driver: walks trace.omni's stream, hands each event to
// the table writers (builder_tables.h) that use it, and writes args and meta,
// with meta's row counts and checksums last (docs/index-format.md,
// "Integrity"). The whole index is one transaction in index.db.tmp, renamed
// into place only when complete.
#include "omni/index/builder.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <condition_variable>
#include <deque>
#include <exception>
#include <initializer_list>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <utility>

#include "omni/base/error.h"
#include "omni/base/paths.h"
#include "omni/index/db.h"
#include "omni/index/maps.h"
#include "omni/index/reader.h"
#include "omni/trace/container.h"
#include "omni/trace/decoder.h"
#include "omni/trace/stream_versions.h"
#include "builder_tables.h"
#include "integrity.h"

namespace omni::index {

namespace {

// Decompresses the trace's stream frames on a thread of its own, at most
// kAhead frames ahead of the builder: zstd was a sixth of the builder
// thread's time, which bounds `omni index`. Owns `reader` until finish();
// the builder's thread calls next() and finish() only.
class ReadAhead {
 public:
  explicit ReadAhead(trace::TraceReader& reader) : reader_(reader), thread_([this] { run(); }) {}
  ~ReadAhead() { finish(); }
  ReadAhead(const ReadAhead&) = delete;
  ReadAhead& operator=(const ReadAhead&) = delete;

  // The next frame into `out` (its storage goes back for reuse), and the
  // trace bytes read up to it; false at the end. Rethrows the reader's error
  // (a damaged trace) where the frame it stopped at would have come.
  bool next(std::vector<uint8_t>& out, uint64_t& bytes_read) {
    std::unique_lock lock(mutex_);
    if (!out.empty() || out.capacity()) spare_.push_back(std::move(out));
    changed_.notify_all();
    changed_.wait(lock, [&] { return !frames_.empty() || done_; });
    if (frames_.empty()) {
      if (error_) std::rethrow_exception(std::exchange(error_, nullptr));
      return false;
    }
    out = std::move(frames_.front().first);
    bytes_read = frames_.front().second;
    frames_.pop_front();
    changed_.notify_all();
    return true;
  }
  // Stops the thread (at once if the builder gave up early); the reader is
  // the caller's again.
  void finish() {
    {
      std::lock_guard lock(mutex_);
      stop_ = true;
      changed_.notify_all();
    }
    if (thread_.joinable()) thread_.join();
  }

 private:
  static constexpr size_t kAhead = 2;  // ~4 MiB each, as the recorder cut them

  void run() {
    try {
      for (;;) {
        std::vector<uint8_t> frame;
        {
          std::unique_lock lock(mutex_);
          changed_.wait(lock, [&] { return frames_.size() < kAhead || stop_; });
          if (stop_) break;
          if (!spare_.empty()) {
            frame = std::move(spare_.back());
            spare_.pop_back();
          }
        }
        if (!reader_.next_stream(frame)) break;
        std::lock_guard lock(mutex_);
        frames_.emplace_back(std::move(frame), reader_.bytes_read());
        changed_.notify_all();
      }
    } catch (...) {
      std::lock_guard lock(mutex_);
      error_ = std::current_exception();
    }
    std::lock_guard lock(mutex_);
    done_ = true;
    changed_.notify_all();
  }

  trace::TraceReader& reader_;
  std::mutex mutex_;
  std::condition_variable changed_;
  std::deque<std::pair<std::vector<uint8_t>, uint64_t>> frames_;  // decompressed, bytes read after each
  std::vector<std::vector<uint8_t>> spare_;                         // buffers the builder is done with
  std::exception_ptr error_;
  bool done_ = false, stop_ = false;
  std::thread thread_;  // last: starts once the rest is constructed
};

class Builder : public trace::EventSink {
 public:
  Builder(Database& db, const IndexOptions& options)
      : db_(db),
        compressor_(options.zstd_level),
        writes_(db, compressor_, options.chunk_events, options.carry_pages),
        replay_(db, compressor_),
        calls_(db, compressor_),
        execs_(db, compressor_),
        syscalls_(db),
        maps_(db),
        threads_(db) {}
  // The compressor's jobs point into the writers, which go before it.
  ~Builder() override { compressor_.stop(); }

  void on_write(const trace::WriteEvent& event) override { writes_.write(event); }

  void on_map(const trace::MapEvent& event) override {
    // The decoder refuses other kinds.
    std::optional<MapKind> kind = map_kind_of_stream(event.event);
    if (!kind) fail("trace stream: MAP of unknown kind {}", event.event);
    maps_.map(event, *kind);
    if (forgets_contents(*kind)) writes_.forget(event.start, event.start + event.length);
  }

  void on_thread_create(uint64_t time, uint32_t parent, uint32_t child) override {
    threads_.create(time, parent, child);
  }
  void on_thread_run(uint64_t time, uint32_t tid, uint32_t lwp) override { threads_.run(time, tid, lwp); }
  void on_thread_exit(uint64_t time, uint32_t tid) override {
    threads_.exit(time, tid);
    calls_.thread_exit(tid);
  }
  void on_exit(uint64_t time, int32_t code) override {
    tool_exit_code_ = code;
    execs_.boundary(time, std::nullopt);
  }

  void on_block_def(const trace::BlockDefEvent& def) override {
    replay_.block(def);
    execs_.block_def(def);
  }
  void on_block(uint64_t time, uint32_t tid, uint32_t block) override { execs_.entry(time, tid, block); }
  void on_snapshot(uint64_t time, uint32_t tid, const uint8_t* state, size_t size) override {
    replay_.snapshot(time, tid, state, size);
  }
  void on_value(uint64_t time, uint32_t tid, const uint8_t* data, size_t size) override {
    replay_.value(time, tid, data, size);
  }

  void on_call(const trace::BranchEvent& e) override { calls_.call(e); }
  void on_return(const trace::BranchEvent& e) override { calls_.ret(e); }
  void on_jump(const trace::BranchEvent& e) override { calls_.jump(e); }
  void on_entry(const trace::BranchEvent& e) override { calls_.entry(e); }
  void on_signal(const trace::SignalEvent& e) override {
    calls_.signal(e);
    execs_.boundary(e.time, e.tid);
  }

  void on_syscall(const trace::SyscallEvent& event) override {
    // An execve (59) or execveat (322) without a result, while it is the
    // last system call: see ended_by in finish().
    if (event.late_result || event.has_result || (event.nr != 59 && event.nr != 322)) last_exec_time_.reset();
    else last_exec_time_ = event.time;
    syscalls_.syscall(event);
  }
  void on_output(uint64_t time, uint32_t tid, uint32_t fd, const uint8_t* data, size_t size) override {
    syscalls_.output(time, tid, fd, data, size);
  }

  void on_initial(uint64_t addr, const uint8_t* data, size_t size) override { writes_.initial(addr, data, size); }

  // Flushes everything still buffered and writes the remaining tables.
  IndexStats finish(const trace::TraceReader& reader, const trace::StreamDecoder& decoder) {
    writes_.finish();
    replay_.finish();
    calls_.finish();
    // Unless the stream logs every block entry, entries into blocks without
    // sites are unknown.
    execs_.finish(decoder.every_block());
    compressor_.store_all();
    maps_.finish();
    threads_.finish();

    Statement arg(db_, "INSERT INTO args VALUES (?,?)");
    int idx = 0;
    for (const auto& [key, value] : reader.info())
      if (key == "arg") arg.bind(1, idx++).bind(2, std::string_view(value)).run();

    // A recording omni record found tampered with is cut there, whatever
    // the stream after the cut says.
    bool stream_complete = decoder.saw_exit() && decoder.leftover() == 0 && !reader.truncated() &&
                           reader.end().has_value() && trace::find_value(*reader.end(), "tampered") != "1";
    Statement meta(db_, "INSERT OR REPLACE INTO meta VALUES (?,?)");
    auto put = [&](std::string_view key, auto value) { meta.bind(1, key).bind(2, value).run(); };
    for (const auto& [key, value] : reader.info())
      if (key != "arg") put(key, std::string_view(value));
    if (reader.end()) {
      for (const auto& [key, value] : *reader.end()) {
        if (key == "stream_complete") continue;  // the builder's own check below decides
        if (key == "exit_code" || key == "signal") put(key, static_cast<int64_t>(std::stoll(value)));
        else put(key, std::string_view(value));
      }
    }
    if (tool_exit_code_) put("tool_exit_code", static_cast<int64_t>(*tool_exit_code_));
    put("instructions", decoder.time());
    put("writes", decoder.writes());
    put("chunks", static_cast<uint64_t>(writes_.chunks()));
    put("calls", calls_.calls());
    put("stream_complete", stream_complete ? 1 : 0);
    // Whether exec_chunks holds every block entry (stream version 7 on).
    put("every_block_entry", decoder.every_block() ? 1 : 0);
    // How the stream ended: "exit" (its EXIT record), "exec" (a whole
    // stream, ended by omni record, whose last system call is an execve
    // without a result and no instruction after it: the call succeeded and
    // the new image ran unrecorded), else "cut". SIGKILL is the one death
    // that skips the tool's EXIT and its last flush, so a process killed by
    // it may have failed that execve and gone on unrecorded: cut.
    bool whole = decoder.leftover() == 0 && !reader.truncated() && reader.end().has_value() &&
                 trace::find_value(*reader.end(), "tampered") != "1" &&
                 trace::find_value(*reader.end(), "signal") != "9";
    put("ended_by", std::string_view(stream_complete ? "exit"
                                     : whole && !decoder.saw_exit() && last_exec_time_ &&
                                               *last_exec_time_ + 1 >= decoder.time()
                                         ? "exec"
                                         : "cut"));
    put("trace_bytes", reader.file_bytes());
    // Integrity (docs/index-format.md): every table's row count and
    // content checksum, the output's checksum, then a checksum of meta
    // itself, last.
    for (const char* table : kCountedTables) {
      Statement count(db_, std::string("SELECT COUNT(*) FROM ") + table);
      count.step();
      put(std::string("rows.") + table, count.column_int(0));
    }
    for (const HashedTable& table : kHashedTables)
      put(std::string("hash.") + table.name, std::string_view(table_checksum(db_, table)));
    {
      Statement rows(db_, "SELECT time, tid, fd, data FROM output ORDER BY time, seq");
      uint64_t hash = kChecksumSeed;
      while (rows.step())
        hash = output_checksum_step(hash, rows.column_u64(0), static_cast<uint32_t>(rows.column_int(1)),
                                    static_cast<uint32_t>(rows.column_int(2)),
                                    std::string_view(static_cast<const char*>(rows.column_blob(3)),
                                                     rows.column_bytes(3)));
      put("output_hash", std::string_view(checksum_text(hash)));
    }
    put("complete", 1);
    put("meta_hash", std::string_view(meta_checksum(db_)));

    IndexStats stats;
    stats.writes = decoder.writes();
    stats.instructions = decoder.time();
    stats.chunks = writes_.chunks();
    stats.stream_complete = stream_complete;
    return stats;
  }

 private:
  Database& db_;
  Compressor compressor_;
  WritesWriter writes_;
  ReplayWriter replay_;
  CallsWriter calls_;
  ExecsWriter execs_;
  SyscallsWriter syscalls_;
  MapsWriter maps_;
  ThreadsWriter threads_;
  std::optional<int32_t> tool_exit_code_;
  std::optional<uint64_t> last_exec_time_;  // the last system call's, while it is an execve without a result
};

}  // namespace

namespace {

// One `omni index` per trace directory at a time: an flock on index.lock,
// released when the process ends whatever the way. Owns the descriptor.
class IndexLock {
 public:
  explicit IndexLock(const std::string& dir) {
    std::string path = dir + "/index.lock";
    fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd_ < 0) fail_errno("cannot create " + path);
    if (flock(fd_, LOCK_EX | LOCK_NB) != 0) {
      int err = errno;
      ::close(fd_);
      if (err == EWOULDBLOCK)
        fail("another `omni index` of {} is running; wait for it to finish", dir);
      errno = err;
      fail_errno("cannot lock " + path);
    }
  }
  ~IndexLock() { ::close(fd_); }
  IndexLock(const IndexLock&) = delete;
  IndexLock& operator=(const IndexLock&) = delete;

 private:
  int fd_ = -1;
};

}  // namespace

IndexStats build_index(const IndexOptions& options,
                       const std::function<void(const IndexProgress&)>& progress) {
  std::string trace_path = options.trace_dir + "/" + kTraceFile;
  std::string final_path = options.trace_dir + "/" + kIndexFile;
  std::string tmp_path = final_path + ".tmp";
  trace::TraceReader reader(trace_path);
  IndexLock lock(options.trace_dir);
  // Only the lock holder gets here, so a leftover index.db.tmp is from an
  // interrupted build: start again. The index stays in place until a
  // complete one replaces it.
  unlink(tmp_path.c_str());
  IndexStats stats;
  try {
    // Private from creation (SQLite keeps an existing file's mode).
    int fd = ::open(tmp_path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) fail_errno("cannot create " + tmp_path);
    ::close(fd);
    Database db(tmp_path, Database::Mode::Create);
    // Crash safety comes from building in a temporary file and renaming it.
    db.exec("PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF;");
    create_schema(db);
    db.exec("BEGIN");
    Builder builder(db, options);
    // A stream without SEQ records (version 5) indexes with null gseq columns:
    // a question that needs one order across processes says it is unknown.
    trace::StreamDecoder decoder(builder, trace::kGapOrder);
    {
      ReadAhead ahead(reader);
      std::vector<uint8_t> block;
      uint64_t bytes_read = 0;
      while (ahead.next(block, bytes_read)) {
        decoder.feed(block.data(), block.size());
        if (progress) progress({bytes_read, reader.file_bytes(), decoder.writes()});
      }
    }
    if (reader.end() && !trace::find_value(*reader.end(), trace::kStreamDroppedKey).empty())
      fail("{}'s event stream was dropped after it was indexed (`omni index --drop-trace`): its index cannot be "
           "built again; the recording answers from the index it has (index.db), or not at all once that is gone",
           trace_path);
    stats = builder.finish(reader, decoder);
    db.exec("COMMIT");
  } catch (...) {
    // Nothing half-built stays behind (a full disk, a damaged trace).
    unlink(tmp_path.c_str());
    throw;
  }
  if (rename(tmp_path.c_str(), final_path.c_str()) != 0) {
    int err = errno;
    unlink(tmp_path.c_str());
    errno = err;
    fail_errno("cannot create " + final_path);
  }
  struct stat st;
  if (stat(final_path.c_str(), &st) == 0) stats.index_bytes = st.st_size;
  return stats;
}

namespace {

// DIR's built index, in a write transaction the caller commits. The caller
// holds the IndexLock.
std::unique_ptr<Database> open_for_update(const std::string& trace_dir) {
  std::string path = trace_dir + "/" + kIndexFile;
  // Database's Create mode would make an empty file where the index vanished.
  if (access(path.c_str(), W_OK) != 0) fail_errno("cannot write " + path);
  auto db = std::make_unique<Database>(path, Database::Mode::Create);
  check_schema(*db);
  // A query holding a read transaction delays the commit, briefly.
  db->exec("PRAGMA busy_timeout = 10000");
  db->exec("BEGIN IMMEDIATE");
  return db;
}

// Sets meta keys of a built index, and meta_hash over the result.
void put_meta(Database& db, std::initializer_list<std::pair<std::string_view, int64_t>> values) {
  Statement put(db, "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)");
  for (const auto& [key, value] : values) {
    put.bind(1, key).bind(2, value);
    put.run();
  }
  std::string hash = meta_checksum(db);
  put.bind(1, std::string_view("meta_hash")).bind(2, std::string_view(hash));
  put.run();
}

}  // namespace

void store_symbols(const std::string& trace_dir, const SymbolRows& rows, int zstd_level) {
  IndexLock lock(trace_dir);
  std::unique_ptr<Database> opened = open_for_update(trace_dir);
  Database& db = *opened;
  db.exec("DELETE FROM code_symbols; DELETE FROM function_symbols;");
  Statement code(db, "INSERT INTO code_symbols (object, page, data, crc) VALUES (?, ?, ?, ?)");
  for (const SymbolRows::Code& row : rows.code) {
    std::string blob = compress_chunk(row.data, zstd_level);
    code.bind(1, row.object)
        .bind(2, row.page)
        .bind_blob(3, blob.data(), blob.size())
        .bind(4, symbols_row_crc(row.object, static_cast<int64_t>(row.page)));
    code.run();
  }
  Statement functions(db, "INSERT INTO function_symbols (object, data, crc) VALUES (?, ?, ?)");
  for (const SymbolRows::Functions& row : rows.functions) {
    std::string blob = compress_chunk(row.data, zstd_level);
    functions.bind(1, row.object).bind_blob(2, blob.data(), blob.size()).bind(3, symbols_row_crc(row.object, -1));
    functions.run();
  }
  put_meta(db, {{"rows.code_symbols", static_cast<int64_t>(rows.code.size())},
                {"rows.function_symbols", static_cast<int64_t>(rows.functions.size())},
                {"symbols", 1}});
  db.exec("COMMIT");
}

std::optional<IndexStats> current_index(const std::string& trace_dir, bool with_symbols) {
  try {
    IndexReader reader(trace_dir);
    // Older formats are read, not kept: they are not updated in place.
    if (reader.schema_version() != kSchemaVersion) return std::nullopt;
    if (with_symbols && reader.meta_int("symbols").value_or(0) != 1) return std::nullopt;
    IndexStats s;
    s.writes = static_cast<uint64_t>(reader.meta_int("writes").value_or(0));
    s.instructions = static_cast<uint64_t>(reader.meta_int("instructions").value_or(0));
    s.chunks = reader.chunk_count();
    s.stream_complete = reader.meta_int("stream_complete").value_or(0) == 1;
    return s;
  } catch (const Error&) {
    return std::nullopt;
  }
}

uint64_t drop_trace_stream(const std::string& trace_dir) {
  std::string trace_path = trace_dir + "/" + kTraceFile;
  std::string stub_path = trace_path + ".stub";
  IndexLock lock(trace_dir);
  uint64_t before;
  {
    // The index must be complete and built from this very trace, whose size
    // it then holds.
    IndexReader reader(trace_dir);
    if (reader.meta_int("trace_stream_dropped")) return 0;
    before = static_cast<uint64_t>(*reader.meta_int("trace_bytes"));
  }
  unlink(stub_path.c_str());  // left by an interrupted drop
  uint64_t after;
  try {
    after = trace::write_trace_stub(trace_path, stub_path, {{trace::kStreamDroppedKey, std::to_string(before)}});
    std::unique_ptr<Database> db = open_for_update(trace_dir);
    put_meta(*db, {{"trace_bytes", static_cast<int64_t>(after)}, {"trace_stream_dropped", static_cast<int64_t>(before)}});
    db->exec("COMMIT");
  } catch (...) {
    unlink(stub_path.c_str());
    throw;
  }
  if (rename(stub_path.c_str(), trace_path.c_str()) != 0) fail_errno("cannot replace " + trace_path);
  int dir = ::open(trace_dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir >= 0) {
    fsync(dir);
    ::close(dir);
  }
  return before - after;
}

}  // namespace omni::index
