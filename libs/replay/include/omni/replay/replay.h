// Registers at any instruction: the thread's latest register snapshot, then
// the recorded superblocks' IR re-executed up to the moment asked for, with
// memory from the index and the recorded values the IR alone cannot tell.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "omni/index/reader.h"

namespace omni::replay {

struct Registers {
  uint64_t time;      // the moment asked for
  uint32_t tid;
  uint64_t snapshot;  // time of the snapshot replay started from
  uint64_t replayed;  // instructions re-executed from it
  // Why the thread's state stops short of `time`: it was blocked in a
  // syscall, or not running. Empty when it is exactly the state at `time`.
  std::string note;
  std::vector<uint8_t> state;  // Valgrind's VexGuestAMD64State

  uint64_t u64(size_t offset) const;
  uint64_t rip() const;
  uint64_t rsp() const;
  // rflags as the CPU would show it (from VEX's lazy flags thunk).
  uint64_t rflags() const;
};

// The 16 general-purpose registers, in the order of their names below.
extern const char* const kGprNames[16];
size_t gpr_offset(int index);
size_t xmm_offset(int index);  // 32-byte YMM slot; the XMM register is its low half
size_t fs_base_offset();

class Replayer {
 public:
  explicit Replayer(index::IndexReader& reader);
  ~Replayer();

  // Thread tid's registers after instruction `time` (default: the thread
  // running then). Throws Error when the recording cannot tell.
  Registers registers_at(uint64_t time, std::optional<uint32_t> tid = std::nullopt);

  // Self-check: replays from up to `max_pairs` snapshots to the same thread's
  // next snapshot, where nothing outside the IR happened between, and
  // compares the whole register state. Returns the pairs checked; throws
  // Error naming the first difference.
  uint64_t verify(uint64_t max_pairs);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace omni::replay
