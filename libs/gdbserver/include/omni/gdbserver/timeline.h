// Time travel over a recording's index, for a debugger: a current moment
// (instructions retired, the thread running then), the registers and memory
// there, and moving forwards or backwards to the next breakpoint hit or by
// one instruction, each a lookup (replay::Executions) or a replay from the
// nearest snapshot, never a run of the program. Nothing here changes the
// recording. Not thread-safe.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <vector>

#include "omni/query/session.h"
#include "omni/replay/executions.h"

namespace omni::gdbserver {

// Where a resumption stopped and why.
struct Stop {
  enum class Why {
    Breakpoint,  // a thread is at a breakpoint's address, about to run it
    Watch,       // just after a write to watched bytes (forwards), or just before it (backwards)
    Step,        // one instruction later (or earlier)
    Begin,       // backwards to the recording's first moment
    End,         // forwards to its last
  };
  Why why;
  uint64_t time;
  uint32_t tid;
  uint64_t watch_addr = 0;  // Watch: the first watched byte written
};

class Timeline {
 public:
  // At time 0: the first instruction not yet run. `session` must outlive it.
  explicit Timeline(query::Session& session);

  uint64_t time() const { return time_; }
  uint32_t tid() const { return tid_; }
  // The recording's last moment (its instruction count).
  uint64_t end() const { return end_; }
  // To `time` (clamped to [0, end]), with the thread running then.
  void seek(uint64_t time);

  // Thread `tid`'s registers at the current moment (cached until it moves).
  const replay::Registers& registers(uint32_t tid);
  // Memory at the current moment.
  replay::MemoryImage memory(uint64_t addr, uint64_t size);
  // The recorded threads alive at the current moment that have run,
  // ascending.
  std::vector<uint32_t> threads();

  void insert_breakpoint(uint64_t addr);
  void remove_breakpoint(uint64_t addr);
  // Write watchpoints: a write that changes a byte of [addr, addr + size)
  // stops; one that leaves them as they were does not (gdb's `watch` would
  // resume there anyway).
  void insert_watchpoint(uint64_t addr, uint64_t size);
  void remove_watchpoint(uint64_t addr, uint64_t size);
  // Continues, or single-steps thread `step_tid` (default: the current
  // one) by one of its instructions, forwards or backwards; throws Error
  // when the recording cannot tell where a breakpoint is next hit.
  Stop resume(bool forward, bool step, std::optional<uint32_t> step_tid = std::nullopt);

 private:
  replay::Executions& executions();
  // The first write after the current moment (forwards), or the last at or
  // before it (backwards), that changed a watched range: its time, thread
  // and the first watched byte it wrote. A walk of the address index's
  // chunks for the range from the current moment.
  struct WriteHit {
    uint64_t time;
    uint32_t tid;
    uint64_t addr;
  };
  std::optional<WriteHit> watched_write(bool forward);
  // One watched range's first write after now that changes a byte of it,
  // or its last at or before now that did: gdb's `watch` stops only where
  // the value changed and resumes at any other write, each one a round
  // trip (a stack slot rewritten with the same value 22,031 times took
  // reverse-continue past 100 s).
  std::optional<WriteHit> next_change(uint64_t addr, uint64_t size);
  std::optional<WriteHit> last_change(uint64_t addr, uint64_t size);
  // Times at which [addr, addr + size) was mapped anew or unmapped, in
  // order: its contents then change without a write.
  std::vector<uint64_t> forgets(uint64_t addr, uint64_t size);
  // The nearest breakpoint hit or watched write from the current moment,
  // without moving there.
  std::optional<Stop> nearest_stop(bool forward);
  // Moves to `stop` (its time, its thread) and returns it.
  Stop go(const Stop& stop);
  // Moves to the recording's end (forwards) or start: Stop End or Begin.
  Stop edge(bool forward);

  query::Session& session_;
  uint64_t time_ = 0, end_ = 0;
  uint32_t tid_ = 1;
  std::map<uint32_t, replay::Registers> registers_;  // at time_, by tid
  std::set<uint64_t> breakpoints_;
  std::set<std::pair<uint64_t, uint64_t>> watchpoints_;  // (addr, size)
  std::optional<std::vector<index::MapRow>> maps_;  // every address-space change, read once
  std::unique_ptr<replay::Executions> executions_;  // of breakpoints_; rebuilt when they change
};

}  // namespace omni::gdbserver
