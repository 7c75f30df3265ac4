// When code ran: the executions of code addresses (a breakpoint's hits),
// from the index's block entries (exec_chunks, exec_blocks) and the IR of
// the translations holding the addresses, without replaying registers. An
// execution of address A is an entry into a superblock that holds an
// instruction at A in which the thread reached A: neither a side exit nor a
// fault left the block before it. What that takes, per entry: the entry's
// time T, the next entry's time E (one thread runs at a time, so the block
// retired at most E - T instructions) and the block's IR (where its side
// exits are). Answers stream in time order (or newest first); a lookup of
// the next or previous execution after a time reads the chunks around it
// only. Not thread-safe (it reads through one IndexReader).
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <unordered_map>
#include <vector>

#include "omni/index/reader.h"

namespace omni::replay {

// Every instruction address of every translation the index holds,
// ascending, without duplicates: the code the recording ran (a translation
// it left early through a side exit or a fault included). A translation
// whose IR does not decode (damage replay reports where it reaches it)
// adds none.
std::vector<uint64_t> translated_instructions(index::IndexReader& reader);

struct Execution {
  // Instructions retired before it: the thread is at `pc`, about to run it
  // (Replayer::registers_at(time, tid) has rip == pc), as gdb stops at a
  // breakpoint.
  uint64_t time;
  uint32_t tid;
  uint64_t pc;
  size_t location;  // index of pc in the addresses asked for
};

class Executions {
 public:
  // The executions of any of `pcs` (instruction addresses).
  Executions(index::IndexReader& reader, std::vector<uint64_t> pcs);

  // Every execution with time in [from, to], oldest first (of thread `tid`
  // only, when given), until `f` returns false. Throws Error (after the
  // answers before it) where the recording cannot tell: at an execution
  // time at or after unknown_from(), or when an entry may or may not have
  // reached an address (a side exit before it, with the time the block had).
  void forward(uint64_t from, uint64_t to, std::optional<uint32_t> tid, const std::function<bool(const Execution&)>& f);
  // The same, newest first. Throws before any answer when `to` is at or after
  // unknown_from().
  void backward(uint64_t from, uint64_t to, std::optional<uint32_t> tid,
                const std::function<bool(const Execution&)>& f);
  // The first execution at or after `time`; the last before `time`.
  std::optional<Execution> next(uint64_t time, std::optional<uint32_t> tid);
  std::optional<Execution> previous(uint64_t time, std::optional<uint32_t> tid);

  // The first moment from which executions may be missing: the translation
  // time of the first superblock holding one of the addresses whose entries
  // the stream does not log (a block without stores, calls or returns; the
  // recorder writes no BLOCK word for it). nullopt: nothing is missing.
  std::optional<uint64_t> unknown_from() const { return unknown_from_; }
  // The number of translations holding any of the addresses (0: the code
  // never ran, or is not at an instruction boundary).
  size_t translations() const { return translations_; }

 private:
  struct Hit {
    uint32_t ordinal;   // 1-based instruction of the block
    bool exit_before;   // a side exit (not a fault) in an instruction before it
    uint64_t pc;
    size_t location;
  };
  // Executions of one entry (`next`: the time of the entry after it, or
  // none), in time order.
  // `next_block`: the next entry's block when known (in the same chunk).
  void entry_hits(const index::ExecEntry& entry, std::optional<uint64_t> next, std::optional<uint32_t> next_block,
                  std::vector<Execution>& out);
  // The chunk's executions in [from, to], in time order.
  std::vector<Execution> chunk_hits(uint32_t chunk, uint64_t from, uint64_t to, std::optional<uint32_t> tid);
  [[noreturn]] void unknown_error(uint64_t time) const;

  index::IndexReader& reader_;
  std::vector<uint64_t> pcs_;
  // The index holds every block entry (stream version 7 on): no block is
  // unlogged, and a side exit is seen.
  bool every_entry_;
  std::unordered_map<uint32_t, std::vector<Hit>> hits_;  // by block id
  std::vector<uint32_t> chunks_;                         // holding any of those blocks, ascending
  std::optional<uint64_t> unknown_from_;
  uint64_t unknown_block_addr_ = 0;
  size_t translations_ = 0;
};

}  // namespace omni::replay
