// The self-check: re-executes the recording from every register snapshot to
// the thread's next one and compares what replay reaches with what was
// recorded: the complete guest state at the next snapshot, and every memory
// write made on the way (address, bytes, time, pc) with the write events of
// the index, in both directions (a write replay makes that the recording
// lacks, or one the recording has that replay never makes, diverges too).
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace omni::replay {

struct VerifyOptions {
  std::string trace_dir;
  uint64_t sample = 0;   // check this many intervals, evenly spread (0: all)
  unsigned workers = 0;  // threads (0: one per core)
};

// Called on the calling thread, a few times a second at most.
struct VerifyProgress {
  uint64_t intervals_done, intervals_total, instructions;
};

struct Divergence {
  enum class Kind {
    Register,  // the guest state at the next snapshot: `what` names the register
    Write,     // a write replay made differs from the recorded one at that time
    Missing,   // the recording has a write replay did not make
    Extra,     // replay made a write the recording does not have
    Replay,    // replay could not go on: `what` is the reason
  };
  Kind kind;
  uint64_t time;      // the instruction (for Register: the snapshot's time)
  uint32_t tid;
  uint64_t pc;        // its address (for Register: the recorded rip)
  uint64_t from;      // the snapshot replay started at
  std::string what;   // "rax", "xmm3", "write to 0x404040 (8 bytes)", ...
  std::string expected, got;  // as recorded, as replayed ("0x..." or hex bytes); may be empty
};

struct VerifyResult {
  uint64_t intervals_total = 0;   // snapshot intervals in the recording
  uint64_t intervals = 0;         // checked (all of them, or the sample)
  uint64_t states = 0;            // of which the end state was compared with a snapshot
  uint64_t signal_states = 0;     // of which the end state was not, a signal having changed it
  uint64_t instructions = 0;      // re-executed
  uint64_t writes = 0;            // recorded writes compared with what replay computed
  // Writes of helpers (dirty calls: cpuid, xsave, ...) whose bytes replay
  // takes from the recording: only their time, address, size and pc are a
  // check, so they are not counted in `writes`.
  uint64_t helper_writes = 0;
  uint32_t threads = 0;           // threads of the recording
  unsigned workers = 0;
  std::optional<Divergence> divergence;  // the earliest in time, when any
};

// Throws Error when the index cannot be read; a divergence is a result, not
// an exception.
VerifyResult verify(const VerifyOptions& options,
                    const std::function<void(const VerifyProgress&)>& progress = {});

// Name of the VexGuestAMD64State field at byte `offset` ("rax", "ymm3",
// "fpreg[2]", ...), and where that field starts and how long it is.
struct GuestField {
  std::string name;
  size_t offset, size;
};
GuestField guest_field(size_t offset);

}  // namespace omni::replay
