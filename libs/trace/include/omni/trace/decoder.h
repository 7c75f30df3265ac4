// Turns the raw event stream (stream.h) back into events. The index builder is
// an EventSink; a second recorder that emits the same stream feeds the same
// builder through this decoder.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <fmt/format.h>

namespace omni::trace {

struct StreamVersion;

struct WriteEvent {
  uint64_t time;
  uint32_t tid;  // unique per thread: 1 = main, then in creation order
  bool by_kernel;  // written by the kernel during a syscall
  uint64_t pc;
  uint64_t addr;
  uint32_t size;
  const uint8_t* data;  // valid only during the callback
};

struct MapEvent {
  uint64_t time;
  uint32_t event;  // OMNI_MAP_*
  uint64_t start;
  uint64_t length;
  uint32_t prot;  // bit 0 read, 1 write, 2 exec
  uint64_t offset;
  std::string path;  // empty for anonymous memory
};

struct SyscallEvent {
  uint64_t time;  // the syscall instruction's
  uint32_t tid;
  uint64_t nr;
  uint64_t args[6];
  int64_t result;   // -errno on failure
  bool has_result;  // false for calls that do not return (exit, exit_group, execve)
  // The result of the thread's last call without one (a failed execve, whose
  // record went out before it was made), not a call of its own.
  bool late_result = false;
  // Its place among every recorded process's events (stream.h,
  // OMNI_EXT_SEQ); 0: none (an older stream, or not taken).
  uint64_t seq_enter = 0, seq_exit = 0;
};

// A call, return or jump to a function, at the end of a superblock; or the
// entry into a function (then pc and target are the function's address, and
// time is that of the instruction that led there).
struct BranchEvent {
  uint64_t time;  // of the call / ret / jmp instruction
  uint32_t tid;
  uint64_t pc;      // of the call / ret / jmp instruction
  uint64_t rsp;     // after it: at a call, rsp points at the return address
  uint64_t target;  // where it went
};

// A signal handler's invocation (stream.h, OMNI_EXT_SIGNAL).
struct SignalEvent {
  uint64_t time;  // instructions retired before the delivery
  uint32_t tid;
  uint32_t signal;
  uint64_t pc, rsp;           // where the thread was interrupted
  uint64_t handler, handler_rsp;  // the handler, and rsp at its entry
};

// A superblock's definition: its VEX IR in stream.h's OMNI_IR encoding.
struct BlockDefEvent {
  uint32_t id;
  uint64_t addr;  // guest address of its entry
  uint64_t time;  // when it was translated
  const uint8_t* ir;  // valid only during the callback
  size_t ir_size;
  // Its sites: a block without any writes no BLOCK word, so its entries are
  // not in the stream (stream.h, OMNI_KIND_BLOCK).
  uint32_t sites = 0;
};

class EventSink {
 public:
  virtual ~EventSink() = default;
  virtual void on_write(const WriteEvent& event) = 0;
  virtual void on_map(const MapEvent& event) = 0;
  virtual void on_thread_create(uint64_t time, uint32_t parent, uint32_t child) = 0;
  virtual void on_thread_run(uint64_t time, uint32_t tid, uint32_t lwp) = 0;
  virtual void on_thread_exit(uint64_t time, uint32_t tid) = 0;
  virtual void on_exit(uint64_t time, int32_t code) = 0;
  virtual void on_syscall(const SyscallEvent&) {}
  // Bytes the program wrote to fd 1 or 2; valid only during the callback.
  virtual void on_output(uint64_t /*time*/, uint32_t /*tid*/, uint32_t /*fd*/,
                         const uint8_t* /*data*/, size_t /*size*/) {}
  // Memory contents present before the first instruction (see stream.h).
  virtual void on_initial(uint64_t /*addr*/, const uint8_t* /*data*/, size_t /*size*/) {}
  // Register replay: superblock IR, register snapshots and the values the IR
  // alone does not determine (see stream.h). Data valid during the callback.
  virtual void on_block_def(const BlockDefEvent&) {}
  // An entry into a block (a BLOCK word: a block with sites, or any block
  // in an every_block() stream): `time` is the count retired before its
  // first instruction.
  virtual void on_block(uint64_t /*time*/, uint32_t /*tid*/, uint32_t /*block*/) {}
  virtual void on_snapshot(uint64_t /*time*/, uint32_t /*tid*/, const uint8_t* /*state*/, size_t /*size*/) {}
  virtual void on_value(uint64_t /*time*/, uint32_t /*tid*/, const uint8_t* /*data*/, size_t /*size*/) {}
  virtual void on_call(const BranchEvent&) {}
  virtual void on_return(const BranchEvent&) {}
  // A direct jump to a function's entry (OMNI_SITE_JUMP), and the entry into
  // a function however it was reached (OMNI_SITE_ENTRY).
  virtual void on_jump(const BranchEvent&) {}
  virtual void on_entry(const BranchEvent&) {}
  virtual void on_signal(const SignalEvent&) {}
};

// Incremental decoder: feed() the stream in pieces of any size (records may
// span pieces). Throws Error on a malformed stream: besides the encoding, it
// checks what the stream itself can check (docs/index-format.md, "What the
// decoder checks") - times that go backwards or past the next full count,
// threads never created, sizes that do not fit - and names the record's byte
// offset in the stream. Not thread-safe.
class StreamDecoder {
 public:
  // `accepted_gaps` (StreamGap bits, stream_versions.h): what the sink can
  // state as unknown when an older stream lacks it. An older version with
  // any other gap is refused, naming the last omni commit that reads it.
  explicit StreamDecoder(EventSink& sink, uint32_t accepted_gaps = 0)
      : sink_(sink), accepted_gaps_(accepted_gaps) {}

  void feed(const uint8_t* bytes, size_t size);
  // Bytes of a record cut short at the end of the stream (0 when complete).
  size_t leftover() const { return carry_.size(); }

  uint64_t time() const { return time_; }
  uint64_t writes() const { return writes_; }
  bool saw_exit() const { return saw_exit_; }
  // The stream's version (stream_versions.h) once its preamble is decoded;
  // null before.
  const StreamVersion* version() const { return version_; }
  // Whether the stream has a BLOCK word for every block entry, not only for
  // blocks with sites (its preamble's OMNI_STREAM_FLAG_EVERY_BLOCK).
  bool every_block() const { return every_block_; }

 private:
  struct Site {
    uint64_t pc;
    uint32_t offset;
    uint32_t size;
    uint32_t kind;  // OMNI_SITE_*
  };
  struct Block {
    bool defined = false;
    std::vector<Site> sites;
  };

  // Decodes whole records from [p, end); returns where it stopped.
  const uint8_t* decode(const uint8_t* p, const uint8_t* end);
  void extended(uint32_t type, const uint8_t* payload, uint32_t length);
  // An EXT record's length against its type's fixed size and the recorder's
  // limits (stream.h), before its payload is awaited.
  void check_length(uint32_t type, uint32_t length) const;
  // A record carrying the recorder's full instruction count at the moment it
  // was written (TIME, THREAD_RUN, THREAD_CREATE, THREAD_EXIT, SNAPSHOT,
  // EXIT): no earlier such count nor block entry may be later.
  void check_count(uint64_t t, const char* what);
  // Valgrind's thread id of a thread the stream has made known (1, the main
  // thread, or one a THREAD_CREATE named).
  uint32_t known_thread(uint32_t vg_tid, const char* what);
  template <typename... Args>
  [[noreturn]] void corrupt(fmt::format_string<Args...> format, Args&&... args) const;

  EventSink& sink_;
  uint32_t accepted_gaps_;
  // A SEQ record's numbers, for the SYSCALL record that must follow it.
  std::optional<std::pair<uint64_t, uint64_t>> pending_seq_;
  const StreamVersion* version_ = nullptr;
  std::vector<uint8_t> carry_;
  std::vector<Block> blocks_;
  bool preamble_done_ = false;
  const Block* block_ = nullptr;
  size_t next_site_ = 0;
  uint64_t block_entry_ = 0;
  // Stream offsets: of the first byte decode() was handed, and of the record
  // being decoded (for error messages).
  uint64_t base_ = 0;
  uint64_t at_ = 0;
  // Latest full count seen (check_count), and the stream offset of the BLOCK
  // word that set block_entry_ (its high bits are inferred, so only a later
  // full count can confirm them).
  uint64_t count_ = 0;
  uint64_t block_at_ = 0;
  std::vector<bool> known_threads_;  // by Valgrind thread id
  // Valgrind reuses a thread id once its thread has exited; events carry
  // omni's thread number instead, unique over the recording (1 = main,
  // then 2, 3... in creation order). Indexed by Valgrind's thread id.
  uint32_t thread_number(uint32_t vg_tid);
  std::vector<uint32_t> thread_numbers_;
  uint32_t threads_created_ = 0;
  uint64_t time_ = 0;
  uint32_t tid_ = 1;
  uint64_t writes_ = 0;
  bool saw_exit_ = false;
  bool every_block_ = false;
  uint64_t last_block_time_ = 0;  // what an every-block stream's BLOCK times are deltas from
};

}  // namespace omni::trace
