#include "omni/index/builder.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <array>
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_map>

#include "omni/base/error.h"
#include "omni/base/paths.h"
#include "omni/index/calls.h"
#include "omni/index/chunk.h"
#include "omni/index/db.h"
#include "omni/index/maps.h"
#include "omni/elf/elf.h"
#include "omni/trace/container.h"
#include "omni/trace/decoder.h"
#include "omni/trace/stream.h"
#include "integrity.h"
#include "varint.h"

namespace omni::index {

namespace {

constexpr size_t kChunkRawLimit = 4u << 20;
// The decoding thread runs ahead of compression by at most this many raw
// bytes (about four chunks); small jobs (snapshots, blocks) hardly count.
constexpr size_t kQueueBytes = 4 * kChunkRawLimit;

std::string prot_text(uint32_t prot) {
  std::string text = "---";
  if (prot & 1) text[0] = 'r';
  if (prot & 2) text[1] = 'w';
  if (prot & 4) text[2] = 'x';
  if (prot & OMNI_PROT_SHARED) text += 's';
  return text;
}


// Compresses chunks on a worker thread so the decoding/DB thread never waits
// on zstd. Results come back in submission order.
class Compressor {
 public:
  // What a job's rows go to.
  enum class Kind { WriteChunk, Block, Snapshot, CallChunk };
  struct Job {
    uint32_t id = 0;
    uint64_t time_first = 0, time_last = 0, events = 0, raw_bytes = 0;
    std::string data;  // raw on submit, compressed on return
    Kind kind = Kind::WriteChunk;
    std::string data2;  // a second blob (snapshot values); empty stays empty
    uint32_t tid = 0;
    std::vector<uint64_t> targets;  // call chunk: distinct targets
    std::vector<std::pair<uint64_t, std::string>> finals;  // write chunk: chunk_finals rows by page
    std::vector<FinalsClear> clears;  // write chunk: memory unmapped or replaced while it was open
  };
  static Job make_job(Kind kind, uint32_t id, uint64_t time_first, uint64_t time_last, uint64_t events,
                      uint64_t raw_bytes) {
    Job job;
    job.kind = kind;
    job.id = id;
    job.time_first = time_first;
    job.time_last = time_last;
    job.events = events;
    job.raw_bytes = raw_bytes;
    return job;
  }

  explicit Compressor(int level) : level_(level), worker_([this] { run(); }) {}
  ~Compressor() {
    {
      std::lock_guard lock(mutex_);
      stop_ = true;
    }
    cv_.notify_all();
    worker_.join();
  }

  // Blocks while kQueueBytes of jobs wait; finished jobs are bounded too, since
  // the submitting thread takes them after every submit.
  void submit(Job job) {
    std::unique_lock lock(mutex_);
    cv_.wait(lock, [&] { return pending_bytes_ < kQueueBytes || error_; });
    pending_bytes_ += job.data.size() + job.data2.size();
    pending_.push_back(std::move(job));
    cv_.notify_all();
  }

  // Finished jobs, in order; with `all`, waits for every submitted job.
  std::vector<Job> take(bool all) {
    std::unique_lock lock(mutex_);
    if (all) cv_.wait(lock, [&] { return (pending_.empty() && !busy_) || error_; });
    if (error_) std::rethrow_exception(error_);
    std::vector<Job> out(std::make_move_iterator(done_.begin()), std::make_move_iterator(done_.end()));
    done_.clear();
    cv_.notify_all();
    return out;
  }

 private:
  void run() {
    for (;;) {
      Job job;
      {
        std::unique_lock lock(mutex_);
        cv_.wait(lock, [&] { return stop_ || !pending_.empty(); });
        if (pending_.empty()) return;
        job = std::move(pending_.front());
        pending_.pop_front();
        pending_bytes_ -= job.data.size() + job.data2.size();
        busy_ = true;
      }
      try {
        // Memory replaced while the chunk was open is forgotten between the
        // events it came between. (Readers take a chunk's rows only for
        // memory mapped before the chunk began.)
        if (job.kind == Kind::WriteChunk)
          job.finals = encode_finals(job.data, job.time_first, level_, shadow_, job.clears);
        job.data = compress_chunk(job.data, level_);
        if (!job.data2.empty()) job.data2 = compress_chunk(job.data2, level_);
      } catch (...) {
        std::lock_guard lock(mutex_);
        error_ = std::current_exception();
      }
      std::lock_guard lock(mutex_);
      done_.push_back(std::move(job));
      busy_ = false;
      cv_.notify_all();
    }
  }

  int level_;
  std::mutex mutex_;
  std::condition_variable cv_;
  std::deque<Job> pending_, done_;
  size_t pending_bytes_ = 0;
  FinalsShadow shadow_;  // worker thread only
  bool busy_ = false, stop_ = false;
  std::exception_ptr error_;
  std::thread worker_;
};

struct Object {
  int64_t id;
  std::string path;
  std::string build_id;
  uint64_t bias, start, end, time_loaded;
  std::optional<uint64_t> time_unloaded;
};

struct Thread {
  std::optional<uint32_t> lwp, parent;
  uint64_t time_created = 0;
  std::optional<uint64_t> time_exited;
};

class Builder : public trace::EventSink {
 public:
  Builder(Database& db, const IndexOptions& options)
      : db_(db),
        options_(options),
        compressor_(options.zstd_level),
        insert_chunk_(db, "INSERT INTO chunks VALUES (?,?,?,?,?,?)"),
        insert_index_(db, "INSERT INTO write_index VALUES (?,?,?,?)"),
        insert_map_(db, "INSERT INTO maps (time,event,start,length,prot,path,offset) VALUES (?,?,?,?,?,?,?)"),
        insert_syscall_(db, "INSERT INTO syscalls (time,tid,nr,a0,a1,a2,a3,a4,a5,result) VALUES (?,?,?,?,?,?,?,?,?,?)"),
        insert_output_(db, "INSERT INTO output (time,tid,fd,data) VALUES (?,?,?,?)"),
        insert_initial_(db, "INSERT OR REPLACE INTO initial_memory (addr,data,crc) VALUES (?,?,?)"),
        insert_run_(db, "INSERT INTO thread_runs VALUES (?,?,?)"),
        insert_block_(db, "INSERT INTO blocks VALUES (?,?,?,?,?)"),
        insert_snapshot_(db, "INSERT INTO snapshots VALUES (?,?,?,?,?,?)"),
        insert_call_chunk_(db, "INSERT INTO call_chunks VALUES (?,?,?,?,?)"),
        insert_call_target_(db, "INSERT INTO call_targets VALUES (?,?,?)"),
        insert_finals_(db, "INSERT INTO chunk_finals VALUES (?,?,?,?)"),
        update_syscall_result_(db, "UPDATE syscalls SET result = ? WHERE seq = ?") {
    threads_[1].time_created = 0;
  }

  void on_write(const trace::WriteEvent& event) override {
    encoder_.add(event);
    uint64_t first = event.addr >> kGranuleShift;
    uint64_t last = (event.addr + (event.size ? event.size - 1 : 0)) >> kGranuleShift;
    for (uint64_t granule = first; granule <= last; ++granule) {
      // Most writes hit a granule written moments ago: a direct-mapped filter
      // drops those repeats before the per-chunk sort (stored as granule + 1
      // so that the zeroed table matches nothing).
      uint64_t& seen = seen_granules_[(granule ^ (granule >> 12)) & (kSeenSlots - 1)];
      if (seen == granule + 1) continue;
      seen = granule + 1;
      chunk_granules_.push_back(granule);
    }
    if (encoder_.events() >= options_.chunk_events || encoder_.raw_bytes() >= kChunkRawLimit)
      finish_chunk();
  }

  void on_map(const trace::MapEvent& event) override {
    // The decoder refuses other kinds.
    std::optional<MapKind> kind = map_kind_of_stream(event.event);
    if (!kind) fail("trace stream: MAP of unknown kind {}", event.event);
    insert_map_.bind(1, event.time)
        .bind(2, std::string_view(map_kind_name(*kind)))
        .bind(3, event.start)
        .bind(4, event.length)
        .bind(5, std::string_view(prot_text(event.prot)));
    if (event.path.empty()) insert_map_.bind_null(6).bind_null(7);
    else insert_map_.bind(6, std::string_view(event.path)).bind(7, event.offset);
    insert_map_.run();
    track_objects(event);
    if (forgets_contents(*kind)) clears_.push_back({encoder_.events(), event.start, event.start + event.length});
  }

  void on_thread_create(uint64_t time, uint32_t parent, uint32_t child) override {
    Thread& thread = threads_[child];
    thread.parent = parent;
    thread.time_created = time;
  }
  void on_thread_run(uint64_t time, uint32_t tid, uint32_t lwp) override {
    Thread& thread = threads_[tid];
    if (!thread.lwp) thread.lwp = lwp;
    insert_run_.bind(1, time).bind(2, tid)
        .bind(3, RowCheck().integer(static_cast<int64_t>(time)).integer(tid).value()).run();
  }
  void on_thread_exit(uint64_t time, uint32_t tid) override {
    threads_[tid].time_exited = time;
    // Frames still open when the thread ends never returned (end time 0):
    // the stack at the thread's last instruction still shows them.
    auto& stack = call_stacks_[tid];
    while (!stack.empty()) {
      end_call(stack.back().id, 0, CallEnd::Open);
      stack.pop_back();
    }
  }

  void on_block_def(const trace::BlockDefEvent& def) override {
    auto job = Compressor::make_job(Compressor::Kind::Block, def.id, def.time, def.addr, 0, def.ir_size);
    job.data.assign(reinterpret_cast<const char*>(def.ir), def.ir_size);
    submit(std::move(job));
  }

  // Each snapshot's row waits for the values that follow it in its thread,
  // up to the thread's next snapshot.
  void on_snapshot(uint64_t time, uint32_t tid, const uint8_t* state, size_t size) override {
    OpenSnapshot& open = snapshots_[tid];
    if (open.active) write_snapshot(tid, open);
    open.seq = open.active && open.time == time ? open.seq + 1 : 0;
    open.active = true;
    open.time = time;
    open.last_time = time;
    open.state.assign(reinterpret_cast<const char*>(state), size);
    open.values.clear();
  }

  void on_value(uint64_t time, uint32_t tid, const uint8_t* data, size_t size) override {
    OpenSnapshot& open = snapshots_[tid];
    if (!open.active) return;  // before the thread's first snapshot: no replay needs it
    put_varint(open.values, time - open.last_time);
    put_varint(open.values, size);
    open.values.append(reinterpret_cast<const char*>(data), size);
    open.last_time = time;
  }

  // The shadow stack of each thread pairs calls with returns by rsp: a frame
  // whose entry rsp the stack pointer has passed is over. Calls, returns,
  // function entries and signal deliveries each first close the frames the
  // stack has left.
  void on_call(const trace::BranchEvent& e) override {
    auto& stack = call_stacks_[e.tid];
    // Frames at or above the new frame's return address are gone (longjmp,
    // an exception, or a frame left without a return): they end here.
    while (!stack.empty() && stack.back().rsp <= e.rsp) pop_frame(stack, e.time, CallEnd::Unwound);
    push_frame(stack, e.time, e.tid, e.pc, e.target, e.rsp, CallKind::Call, 0, false);
  }

  void on_return(const trace::BranchEvent& e) override {
    // rsp after a return is the frame's entry rsp + 8; deeper frames that
    // never returned end with it (unwound).
    auto& stack = call_stacks_[e.tid];
    while (!stack.empty() && stack.back().rsp < e.rsp)
      pop_frame(stack, e.time, stack.back().rsp + 8 == e.rsp ? CallEnd::Returned : CallEnd::Unwound);
  }

  void on_jump(const trace::BranchEvent& e) override { entered(e.tid, e.time, e.target, e.rsp, e.pc); }
  void on_entry(const trace::BranchEvent& e) override { entered(e.tid, e.time, e.target, e.rsp, 0); }

  // A handler's frame is a call made at the interrupted pc; the handler's
  // return (to the signal trampoline) closes it like any other.
  void on_signal(const trace::SignalEvent& e) override {
    auto& stack = call_stacks_[e.tid];
    while (!stack.empty() && stack.back().rsp < e.rsp) pop_frame(stack, e.time, CallEnd::Unwound);
    push_frame(stack, e.time, e.tid, e.pc, e.handler, e.handler_rsp, CallKind::Signal, e.signal, true);
  }

  void on_exit(uint64_t, int32_t code) override { tool_exit_code_ = code; }

  void on_syscall(const trace::SyscallEvent& event) override {
    // An execve (59) or execveat (322) without a result, while it is the
    // last system call: see ended_by in finish().
    if (event.late_result || event.has_result || (event.nr != 59 && event.nr != 322)) last_exec_time_.reset();
    else last_exec_time_ = event.time;
    auto open = unfinished_syscalls_.find(event.tid);
    if (event.late_result) {
      // The result of the thread's open call (a failed execve): without one
      // it is damage, not a call of its own.
      if (open == unfinished_syscalls_.end() || open->second.nr != event.nr)
        fail("trace file is corrupt: a late syscall result (nr {}) of thread {} at time {} has no call "
             "waiting for it",
             event.nr, event.tid, event.time);
      update_syscall_result_.bind(1, event.result).bind(2, open->second.row).run();
      unfinished_syscalls_.erase(open);
      return;
    }
    insert_syscall_.bind(1, event.time).bind(2, event.tid).bind(3, event.nr);
    for (int i = 0; i < 6; ++i) insert_syscall_.bind(4 + i, static_cast<int64_t>(event.args[i]));
    if (event.has_result) insert_syscall_.bind(10, event.result);
    else insert_syscall_.bind_null(10);
    insert_syscall_.run();
    if (event.has_result) unfinished_syscalls_.erase(event.tid);
    else unfinished_syscalls_[event.tid] = {sqlite3_last_insert_rowid(db_.handle()), event.nr};
  }

  void on_initial(uint64_t addr, const uint8_t* data, size_t size) override {
    insert_initial_.bind(1, addr).bind_blob(2, data, size)
        .bind(3, RowCheck().integer(static_cast<int64_t>(addr)).blob(data, size).value());
    insert_initial_.run();
  }

  void on_output(uint64_t time, uint32_t tid, uint32_t fd, const uint8_t* data, size_t size) override {
    insert_output_.bind(1, time).bind(2, tid).bind(3, fd).bind_blob(4, data, size);
    insert_output_.run();
  }

  // Flushes everything still buffered and writes the remaining tables.
  IndexStats finish(const trace::TraceReader& reader, const trace::StreamDecoder& decoder) {
    if (encoder_.events()) finish_chunk();
    for (auto& [tid, open] : snapshots_)
      if (open.active) write_snapshot(tid, open);
    for (auto& [chunk, pending] : pending_calls_) submit_calls(chunk, pending);
    pending_calls_.clear();
    drain(true);
    flush_segment();

    Statement object(db_, "INSERT INTO objects VALUES (?,?,?,?,?,?,?,?)");
    for (const Object& o : objects_) {
      object.bind(1, o.id).bind(2, std::string_view(o.path));
      if (o.build_id.empty()) object.bind_null(3);
      else object.bind(3, std::string_view(o.build_id));
      object.bind(4, o.bias).bind(5, o.start).bind(6, o.end).bind(7, o.time_loaded);
      if (o.time_unloaded) object.bind(8, *o.time_unloaded);
      else object.bind_null(8);
      object.run();
    }
    Statement thread(db_, "INSERT INTO threads VALUES (?,?,?,?,?)");
    for (const auto& [tid, t] : threads_) {
      thread.bind(1, tid);
      if (t.lwp) thread.bind(2, *t.lwp); else thread.bind_null(2);
      if (t.parent) thread.bind(3, *t.parent); else thread.bind_null(3);
      thread.bind(4, t.time_created);
      if (t.time_exited) thread.bind(5, *t.time_exited); else thread.bind_null(5);
      thread.run();
    }
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
    put("chunks", static_cast<uint64_t>(next_chunk_));
    put("calls", next_call_);
    put("stream_complete", stream_complete ? 1 : 0);
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
    stats.chunks = next_chunk_;
    stats.stream_complete = stream_complete;
    return stats;
  }

 private:
  void finish_chunk() {
    uint32_t id = next_chunk_++;
    std::sort(chunk_granules_.begin(), chunk_granules_.end());
    chunk_granules_.erase(std::unique(chunk_granules_.begin(), chunk_granules_.end()), chunk_granules_.end());
    for (uint64_t granule : chunk_granules_) segment_pairs_.emplace_back(granule, id);
    chunk_granules_.clear();
    seen_granules_.fill(0);
    auto job = Compressor::make_job(Compressor::Kind::WriteChunk, id, encoder_.time_first(), encoder_.time_last(),
                                    encoder_.events(), 0);
    job.data = encoder_.finish();
    job.raw_bytes = job.data.size();
    job.clears = std::move(clears_);
    clears_.clear();
    compressor_.submit(std::move(job));
    drain(false);
    if (next_chunk_ % kChunksPerSegment == 0) flush_segment();
  }

  void drain(bool all) {
    for (Compressor::Job& job : compressor_.take(all)) {
      if (job.kind == Compressor::Kind::Block) {
        insert_block_.bind(1, job.id).bind(2, job.time_last).bind(3, job.time_first)
            .bind_blob(4, job.data.data(), job.data.size())
            .bind(5, block_row_crc(job.id, static_cast<int64_t>(job.time_last), static_cast<int64_t>(job.time_first)));
        insert_block_.run();
        continue;
      }
      if (job.kind == Compressor::Kind::Snapshot) {
        insert_snapshot_.bind(1, job.tid).bind(2, job.time_first).bind(3, job.events)
            .bind_blob(4, job.data.data(), job.data.size())
            .bind(6, snapshot_row_crc(job.tid, static_cast<int64_t>(job.time_first), static_cast<int64_t>(job.events)));
        if (job.data2.empty()) insert_snapshot_.bind_null(5);
        else insert_snapshot_.bind_blob(5, job.data2.data(), job.data2.size());
        insert_snapshot_.run();
        continue;
      }
      if (job.kind == Compressor::Kind::CallChunk) {
        insert_call_chunk_.bind(1, job.id).bind(2, job.time_first).bind(3, job.time_last).bind(4, job.events)
            .bind_blob(5, job.data.data(), job.data.size());
        insert_call_chunk_.run();
        for (uint64_t target : job.targets)
          insert_call_target_.bind(1, target).bind(2, job.id)
              .bind(3, RowCheck().integer(static_cast<int64_t>(target)).integer(job.id).value()).run();
        continue;
      }
      for (const auto& [page, row] : job.finals)
        insert_finals_.bind(1, job.id).bind(2, page).bind_blob(3, row.data(), row.size())
            .bind(4, RowCheck().integer(job.id).integer(static_cast<int64_t>(page)).value()).run();
      insert_chunk_.bind(1, job.id)
          .bind(2, job.time_first)
          .bind(3, job.time_last)
          .bind(4, job.events)
          .bind(5, job.raw_bytes)
          .bind_blob(6, job.data.data(), job.data.size());
      insert_chunk_.run();
    }
  }

  // Writes one row per page for the segment just completed:
  // per written granule: varint granule-in-page, varint count, varint chunk-id
  // deltas (the first relative to the segment's first chunk).
  void flush_segment() {
    if (segment_pairs_.empty()) return;
    uint32_t segment = segment_pairs_.front().second / kChunksPerSegment;
    uint32_t base = segment * kChunksPerSegment;
    std::sort(segment_pairs_.begin(), segment_pairs_.end());
    std::string blob;
    size_t i = 0;
    while (i < segment_pairs_.size()) {
      uint64_t page = segment_pairs_[i].first >> (kPageShift - kGranuleShift);
      blob.clear();
      while (i < segment_pairs_.size() &&
             (segment_pairs_[i].first >> (kPageShift - kGranuleShift)) == page) {
        uint64_t granule = segment_pairs_[i].first;
        size_t j = i;
        while (j < segment_pairs_.size() && segment_pairs_[j].first == granule) ++j;
        put_varint(blob, granule & ((1u << (kPageShift - kGranuleShift)) - 1));
        put_varint(blob, j - i);
        uint32_t previous = base;
        for (size_t k = i; k < j; ++k) {
          put_varint(blob, segment_pairs_[k].second - previous);
          previous = segment_pairs_[k].second;
        }
        i = j;
      }
      insert_index_.bind(1, page).bind(2, segment).bind_blob(3, blob.data(), blob.size())
          .bind(4, RowCheck().integer(static_cast<int64_t>(page)).integer(segment).blob(blob.data(), blob.size()).value());
      insert_index_.run();
    }
    segment_pairs_.clear();
  }

  void submit(Compressor::Job job) {
    compressor_.submit(std::move(job));
    drain(false);
  }

  struct OpenSnapshot {
    bool active = false;
    uint64_t time = 0, last_time = 0;
    uint32_t seq = 0;
    std::string state, values;
  };

  void write_snapshot(uint32_t tid, OpenSnapshot& open) {
    auto job = Compressor::make_job(Compressor::Kind::Snapshot, 0, open.time, open.time, open.seq, open.state.size());
    job.tid = tid;
    job.data = std::move(open.state);
    job.data2 = std::move(open.values);
    open.state.clear();
    open.values.clear();
    submit(std::move(job));
  }

  struct OpenCall {
    uint64_t id, rsp, target;
    bool entered;  // its target's entry was seen (or is known: a signal handler)
    bool tail;     // a tail call
  };

  CallRow& pending_row(uint64_t id) {
    uint32_t chunk = static_cast<uint32_t>(id / kCallsPerChunk);
    return pending_calls_.at(chunk).rows[id - uint64_t{chunk} * kCallsPerChunk];
  }

  void push_frame(std::vector<OpenCall>& stack, uint64_t time, uint32_t tid, uint64_t pc, uint64_t target,
                  uint64_t rsp, CallKind kind, uint32_t signal, bool entered) {
    uint64_t id = next_call_++;
    PendingCalls& chunk = pending_calls_[static_cast<uint32_t>(id / kCallsPerChunk)];
    CallRow row{id, time, 0, tid, static_cast<uint32_t>(stack.size()), pc, target, rsp,
                stack.empty() ? 0 : stack.back().id + 1};
    row.kind = kind;
    row.signal = signal;
    chunk.rows.push_back(row);
    ++chunk.open;
    stack.push_back({id, rsp, target, entered, kind == CallKind::Tail});
  }

  void pop_frame(std::vector<OpenCall>& stack, uint64_t time, CallEnd how) {
    end_call(stack.back().id, time, how);
    stack.pop_back();
  }

  // The thread is at the first instruction of the function `target` with
  // stack pointer `rsp`, reached by a jump from `pc` (0: unknown) or by
  // whatever led there. The innermost frame at the same depth decides what
  // that is: its own entry (or a loop back to it), the function a PLT stub
  // (or the lazy binder) it called jumps to, or a tail call replacing it. An
  // entry deeper than every frame (the lazy binder itself, reached by the
  // PLT's jump after two pushes) is no call.
  void entered(uint32_t tid, uint64_t time, uint64_t target, uint64_t rsp, uint64_t pc) {
    auto& stack = call_stacks_[tid];
    while (!stack.empty() && stack.back().rsp < rsp) pop_frame(stack, time, CallEnd::Unwound);
    if (stack.empty() || stack.back().rsp != rsp) return;
    OpenCall& frame = stack.back();
    if (frame.target == target) {
      frame.entered = true;
      return;
    }
    if (!frame.entered) {
      frame.target = target;
      frame.entered = true;
      pending_row(frame.id).target = target;
      return;
    }
    uint32_t chain = 0;
    for (auto it = stack.rbegin(); it != stack.rend() && it->tail; ++it) ++chain;
    if (chain >= kMaxTailChain) pop_frame(stack, time, CallEnd::Replaced);
    push_frame(stack, time, tid, pc, target, rsp, CallKind::Tail, 0, true);
  }
  struct PendingCalls {
    std::vector<CallRow> rows;
    uint32_t open = 0;
  };

  void end_call(uint64_t id, uint64_t time, CallEnd how) {
    uint32_t chunk = static_cast<uint32_t>(id / kCallsPerChunk);
    auto it = pending_calls_.find(chunk);
    if (it == pending_calls_.end()) return;
    PendingCalls& pending = it->second;
    CallRow& row = pending.rows[id - uint64_t{chunk} * kCallsPerChunk];
    row.end_time = time;
    row.ended = how;
    --pending.open;
    if (pending.open == 0 && pending.rows.size() == kCallsPerChunk) {
      submit_calls(chunk, pending);
      pending_calls_.erase(it);
    }
  }

  void submit_calls(uint32_t chunk, PendingCalls& pending) {
    if (pending.rows.empty()) return;
    auto job = Compressor::make_job(Compressor::Kind::CallChunk, chunk, pending.rows.front().time,
                                    pending.rows.back().time, pending.rows.size(), 0);
    for (const CallRow& row : pending.rows) job.targets.push_back(row.target);
    std::sort(job.targets.begin(), job.targets.end());
    job.targets.erase(std::unique(job.targets.begin(), job.targets.end()), job.targets.end());
    job.data = encode_calls(pending.rows);
    job.raw_bytes = job.data.size();
    submit(std::move(job));
  }

  void track_objects(const trace::MapEvent& event) {
    uint64_t end = event.start + event.length;
    if (event.event == OMNI_MAP_MUNMAP) {
      for (Object& o : objects_)
        if (!o.time_unloaded && event.start <= o.start && o.start < end) o.time_unloaded = event.time;
      return;
    }
    if ((event.event != OMNI_MAP_STARTUP && event.event != OMNI_MAP_MMAP) || event.path.empty())
      return;
    for (Object& o : objects_) {
      if (!o.time_unloaded && o.path == event.path && event.start >= o.start &&
          event.start <= o.end + (64u << 20)) {
        o.start = std::min(o.start, event.start);
        o.end = std::max(o.end, end);
        return;
      }
    }
    auto cached = elf_info_.find(event.path);
    if (cached == elf_info_.end())
      cached = elf_info_.emplace(event.path, elf::read_elf_info(event.path)).first;
    const auto& info = cached->second;
    if (!info || event.offset != info->first_load_offset) return;
    objects_.push_back({static_cast<int64_t>(objects_.size() + 1), event.path, info->build_id,
                        event.start - info->first_load_vaddr, event.start, end, event.time, {}});
  }

  Database& db_;
  const IndexOptions& options_;
  Compressor compressor_;
  Statement insert_chunk_, insert_index_, insert_map_, insert_syscall_, insert_output_,
      insert_initial_, insert_run_, insert_block_, insert_snapshot_, insert_call_chunk_, insert_call_target_, insert_finals_,
      update_syscall_result_;
  // Per thread, the row of its last call recorded without a result (exit,
  // execve): a failed execve's result comes later (LATE_RESULT).
  struct UnfinishedSyscall {
    int64_t row;
    uint64_t nr;
  };
  std::map<uint32_t, UnfinishedSyscall> unfinished_syscalls_;
  std::map<uint32_t, OpenSnapshot> snapshots_;
  std::vector<FinalsClear> clears_;  // for the open chunk
  std::map<uint32_t, std::vector<OpenCall>> call_stacks_;
  std::map<uint32_t, PendingCalls> pending_calls_;
  uint64_t next_call_ = 0;
  ChunkEncoder encoder_;
  static constexpr size_t kSeenSlots = 4096;
  std::array<uint64_t, kSeenSlots> seen_granules_{};
  std::vector<uint64_t> chunk_granules_;
  std::vector<std::pair<uint64_t, uint32_t>> segment_pairs_;
  uint32_t next_chunk_ = 0;
  std::vector<Object> objects_;
  std::unordered_map<std::string, std::optional<elf::ElfInfo>> elf_info_;
  std::map<uint32_t, Thread> threads_;
  std::optional<int32_t> tool_exit_code_;
  std::optional<uint64_t> last_exec_time_;
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
    trace::StreamDecoder decoder(builder);
    std::vector<uint8_t> block;
    while (reader.next_stream(block)) {
      decoder.feed(block.data(), block.size());
      if (progress) progress({reader.bytes_read(), reader.file_bytes(), decoder.writes()});
    }
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

}  // namespace omni::index
