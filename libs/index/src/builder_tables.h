// The index builder's parts, internal to libs/index: the compressor that runs
// zstd beside the decoding thread, and one writer per group of tables.
// builder.cc walks the stream, owns the transaction, progress and meta, and
// hands each event to the writers that use it. A writer owns its tables'
// statements and the state its rows wait on, and writes no other table.
// A new table is a writer here (its own builder_<name>.cc), its schema.sql
// entry and its calls in builder.cc's dispatch.
#pragma once

#include <array>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <exception>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include "omni/elf/elf.h"
#include "omni/index/calls.h"
#include "omni/index/chunk.h"
#include "omni/index/db.h"
#include "omni/index/execs.h"
#include "omni/index/format.h"
#include "omni/index/maps.h"
#include "omni/trace/decoder.h"

namespace omni::index {

// A write chunk's raw bytes at most (it also ends at IndexOptions::chunk_events).
inline constexpr size_t kChunkRawLimit = 4u << 20;

// A blob on its way to a table: compress() runs on the compressor's worker
// thread, store() on the builder's thread, jobs in submission order for both.
class CompressJob {
 public:
  virtual ~CompressJob() = default;
  // Raw bytes it holds while queued, counted against the queue's bound.
  virtual size_t queued_bytes() const = 0;
  virtual void compress(int level) = 0;
  virtual void store() = 0;
};

// Compresses on a worker thread so that the decoding/DB thread never waits
// on zstd (builder_compressor.cc).
class Compressor {
 public:
  explicit Compressor(int level);
  ~Compressor();
  Compressor(const Compressor&) = delete;
  Compressor& operator=(const Compressor&) = delete;

  // Queues a job (blocking while the queue holds its bound of raw bytes),
  // then stores every job finished so far.
  void submit(std::unique_ptr<CompressJob> job);
  int level() const { return level_; }
  // Waits for every queued job and stores it; rethrows a worker's error.
  void store_all();
  // Drops the queued jobs and waits for the running one. Jobs point into
  // their writers: whoever owns both stops this before the writers go.
  void stop();

 private:
  struct Queued {
    std::unique_ptr<CompressJob> job;
    size_t bytes;
  };
  void run();
  std::vector<std::unique_ptr<CompressJob>> take(bool all);

  int level_;
  std::mutex mutex_;
  std::condition_variable cv_;
  std::deque<Queued> pending_;
  std::deque<std::unique_ptr<CompressJob>> done_;
  size_t pending_bytes_ = 0;
  bool busy_ = false, stop_ = false;
  std::exception_ptr error_;
  std::thread worker_;
};

// Memory contents (builder_writes.cc): chunks, chunk_finals, write_index,
// initial_memory. A chunk holds up to chunk_events writes and kChunkRawLimit
// raw bytes; the address index gets a segment's rows once its
// kWriteChunksPerSegment chunks are done.
class WritesWriter {
 public:
  WritesWriter(Database& db, Compressor& compressor, uint32_t chunk_events, size_t carry_pages);

  // One call per write event: inline, so that dispatching it costs nothing.
  void write(const trace::WriteEvent& event) {
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
    if (encoder_.events() >= chunk_events_ || encoder_.raw_bytes() >= kChunkRawLimit) finish_chunk();
  }
  // [start, end) was unmapped or replaced at this point of the open chunk:
  // its finals forget what the chunk wrote there before.
  void forget(uint64_t start, uint64_t end);
  void initial(uint64_t addr, const uint8_t* data, size_t size);
  // The open chunk and the last segment's address index.
  void finish();
  uint32_t chunks() const { return next_chunk_; }

 private:
  class ChunkJob;
  void finish_chunk();
  void flush_segment();

  Compressor& compressor_;
  uint32_t chunk_events_;
  Statement insert_chunk_, insert_finals_, insert_index_, insert_initial_;
  ChunkEncoder encoder_;
  std::vector<FinalsClear> clears_;  // for the open chunk
  static constexpr size_t kSeenSlots = 4096;
  std::array<uint64_t, kSeenSlots> seen_granules_{};
  std::vector<uint64_t> chunk_granules_;                      // the open chunk's, unsorted
  std::vector<std::pair<uint64_t, uint32_t>> segment_pairs_;  // (granule, chunk) of the open segment
  uint32_t next_chunk_ = 0;
  // Per page, the last chunk + 1 (0: none) that wrote each granule before
  // the open segment: the rows' carried writers. Bounded: past
  // carry_pages_ (2 KiB each) it forgets them all, and later rows say that
  // their carries are incomplete.
  static constexpr size_t kGranulesPerPage = size_t{1} << (kPageShift - kGranuleShift);
  size_t carry_pages_;
  std::unordered_map<uint64_t, std::unique_ptr<std::array<uint32_t, kGranulesPerPage>>> last_writers_;
  bool carry_lossy_ = false;
  // What earlier chunks left in memory, for chunk_finals: touched only by
  // ChunkJob::compress, on the worker thread, one chunk after another. On
  // cache lines of its own: write() changes the members above at every event.
  struct alignas(64) {
    FinalsShadow shadow;
  } worker_;
};

// What replay starts from and executes (builder_replay.cc): blocks (a
// translation's IR) and snapshots (a thread's registers and stack, with the
// values that follow it up to the thread's next snapshot).
class ReplayWriter {
 public:
  ReplayWriter(Database& db, Compressor& compressor);
  void block(const trace::BlockDefEvent& def);
  void snapshot(uint64_t time, uint32_t tid, const uint8_t* state, size_t size);
  void value(uint64_t time, uint32_t tid, const uint8_t* data, size_t size);
  // Each thread's last snapshot.
  void finish();

 private:
  class BlockJob;
  class SnapshotJob;
  struct OpenSnapshot {
    bool active = false;
    uint64_t time = 0, last_time = 0;
    uint32_t seq = 0;
    std::string state, values;
  };
  void write_snapshot(uint32_t tid, OpenSnapshot& open);

  // A dictionary trained on the first `samples` frames of a kind (those are
  // compressed without it), stored in its table; null until then, and for
  // good when zstd cannot train one.
  struct Trained {
    Trained(Database& db, const char* table, const char* what, size_t samples, size_t bytes);
    // Takes a frame's raw bytes as a sample while it trains.
    void sample(const std::string& raw, int level);
    Statement insert;
    const char* what;
    size_t samples, bytes;
    std::vector<std::string> taken;
    bool tried = false;
    std::shared_ptr<const ZstdDictionary> dictionary;  // shared with the jobs compressing with it
  };
  Compressor& compressor_;
  Statement insert_block_, insert_snapshot_;
  std::map<uint32_t, OpenSnapshot> snapshots_;
  // Register states: on 10^9 instructions of gzip a state took 176 bytes
  // alone, 130 with a dictionary of 128 samples, 107 of 512 and 104 of
  // 1,024. Block IR: on python3 (40,470 translations) 177 bytes alone, ~112
  // with a 64 KiB dictionary of 1,024.
  Trained states_, irs_;
};

// The call tree (builder_calls.cc): call_chunks and call_targets, from a
// shadow stack per thread that pairs calls with returns by rsp. A chunk of
// kCallsPerChunk calls is written once every call in it has ended.
class CallsWriter {
 public:
  CallsWriter(Database& db, Compressor& compressor);
  void call(const trace::BranchEvent& e);
  void ret(const trace::BranchEvent& e);
  void jump(const trace::BranchEvent& e) { entered(e.tid, e.time, e.target, e.rsp, e.pc); }
  void entry(const trace::BranchEvent& e) { entered(e.tid, e.time, e.target, e.rsp, 0); }
  void signal(const trace::SignalEvent& e);
  void thread_exit(uint32_t tid);
  // The chunks still waiting for calls that never ended.
  void finish();
  uint64_t calls() const { return next_call_; }

 private:
  class ChunkJob;
  struct OpenCall {
    uint64_t id, rsp, target;
    bool entered;  // its target's entry was seen (or is known: a signal handler)
    bool tail;     // a tail call
  };
  struct PendingCalls {
    std::vector<CallRow> rows;
    uint32_t open = 0;
  };
  CallRow& pending_row(uint64_t id);
  void push_frame(std::vector<OpenCall>& stack, uint64_t time, uint32_t tid, uint64_t pc, uint64_t target,
                  uint64_t rsp, CallKind kind, uint32_t signal, bool entered);
  void pop_frame(std::vector<OpenCall>& stack, uint64_t time, CallEnd how);
  void entered(uint32_t tid, uint64_t time, uint64_t target, uint64_t rsp, uint64_t pc);
  void end_call(uint64_t id, uint64_t time, CallEnd how);
  void submit_calls(uint32_t chunk, PendingCalls& pending);

  Compressor& compressor_;
  Statement insert_call_chunk_, insert_call_target_;
  std::map<uint32_t, std::vector<OpenCall>> call_stacks_;
  std::map<uint32_t, PendingCalls> pending_calls_;
  uint64_t next_call_ = 0;
};

// Block entries (builder_execs.cc): exec_chunks and exec_blocks. A chunk
// of kExecsPerChunk entries is written once the entry after its last one
// (or the recording's end) says where that one ended.
class ExecsWriter {
 public:
  ExecsWriter(Database& db, Compressor& compressor);
  void block_def(const trace::BlockDefEvent& def);
  // One call per logged block entry: inline-cheap, a push onto the open chunk.
  void entry(uint64_t time, uint32_t tid, uint32_t block) { add(time, tid, block); }
  // The thread stopped running its block here (a signal's delivery, the exit).
  void boundary(uint64_t time, std::optional<uint32_t> tid) { add(time, tid.value_or(last_tid_ ? last_tid_ : 1), kExecBoundary); }
  // `every_entry`: the stream logged entries into blocks without sites too
  // (omni record --every-block); else such blocks are marked unlogged.
  void finish(bool every_entry);
  uint32_t chunks() const { return next_chunk_; }

 private:
  class ChunkJob;
  class FlushJob;
  void add(uint64_t time, uint32_t tid, uint32_t block);
  void submit(std::optional<uint64_t> time_end);
  void insert_block(uint32_t block, int64_t segment, const std::string& chunks);
  // On the builder's thread, as chunks are stored: the open segment's
  // (block, chunk) pairs, written as exec_blocks rows when it is complete.
  void chunk_stored(uint32_t chunk, const std::vector<uint32_t>& blocks);
  void flush_segment();

  Compressor& compressor_;
  Statement insert_chunk_, insert_block_;
  std::vector<ExecEntry> open_;
  std::vector<uint32_t> open_blocks_;  // distinct, in order of first entry
  std::vector<uint32_t> seen_in_;      // by block id: 1 + the last chunk with an entry of it
  std::vector<std::pair<uint32_t, uint32_t>> segment_pairs_;  // (block, chunk) of the open segment
  uint32_t next_chunk_ = 0;
  uint32_t last_tid_ = 0;
  std::vector<uint32_t> siteless_;  // blocks without sites, by definition order
};

// What the program asked of the kernel and wrote to its descriptors
// (builder_syscalls.cc): syscalls, output.
class SyscallsWriter {
 public:
  explicit SyscallsWriter(Database& db);
  void syscall(const trace::SyscallEvent& event);
  void output(uint64_t time, uint32_t tid, uint32_t fd, const uint8_t* data, size_t size);

 private:
  Database& db_;
  Statement insert_syscall_, update_syscall_result_, insert_output_;
  // Per thread, the row of its last call recorded without a result (exit,
  // execve): a failed execve's result comes later (LATE_RESULT).
  struct UnfinishedSyscall {
    int64_t row;
    uint64_t nr;
  };
  std::map<uint32_t, UnfinishedSyscall> unfinished_syscalls_;
  // The last call's gseq_enter (0: none): output records follow the call
  // that wrote them.
  uint64_t last_gseq_ = 0;
};

// The address space (builder_maps.cc): maps, and objects (the ELF files
// mapped, each with its bias and span), written at finish.
class MapsWriter {
 public:
  explicit MapsWriter(Database& db);
  void map(const trace::MapEvent& event, MapKind kind);
  void finish();

 private:
  struct Object {
    int64_t id;
    std::string path;
    std::string build_id;
    uint64_t bias, start, end, time_loaded;
    std::optional<uint64_t> time_unloaded;
  };
  void track_objects(const trace::MapEvent& event);

  Database& db_;
  Statement insert_map_;
  std::vector<Object> objects_;
  std::unordered_map<std::string, std::optional<elf::ElfInfo>> elf_info_;
};

// Threads (builder_threads.cc): threads, written at finish, and thread_runs.
class ThreadsWriter {
 public:
  explicit ThreadsWriter(Database& db);
  void create(uint64_t time, uint32_t parent, uint32_t child);
  void run(uint64_t time, uint32_t tid, uint32_t lwp);
  void exit(uint64_t time, uint32_t tid);
  void finish();

 private:
  struct Thread {
    std::optional<uint32_t> lwp, parent;
    uint64_t time_created = 0;
    std::optional<uint64_t> time_exited;
  };
  Database& db_;
  Statement insert_run_;
  std::map<uint32_t, Thread> threads_;
};

}  // namespace omni::index
