// A thread's call stack at a moment, from the recorded calls and returns and
// the replayed registers: the state a question or a gdb server needs about a
// thread beyond its registers, without symbols (callers name the frames).
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "omni/index/reader.h"
#include "omni/replay/replay.h"

namespace omni::replay {

// One physical frame, innermost first in a stack.
struct StackFrame {
  uint64_t pc;                      // innermost: where the thread is; others: the call instruction
                                    // (or where a signal interrupted it); 0 for a signal frame
  std::optional<uint64_t> since;    // when the frame was entered (its call's time)
  std::optional<uint64_t> cfa;      // its canonical frame address (rsp before the call)
  std::optional<uint32_t> signal;   // set: the "<signal handler called>" frame of that signal
  // The frame made a tail call (the frame before it in the list): its stack
  // frame is gone. pc is its jump instruction, 0 when unknown (an indirect
  // jump), and then function_entry says which function it was.
  bool tail_call = false;
  std::optional<uint64_t> function_entry;
};

// Thread `tid`'s frames after instruction `time`. The innermost frame's pc
// is pc0 when the caller knows it (a write's pc), else replayed with
// `replayer` (which also drops frames a longjmp or exception left); without
// either, the innermost call's entry. A replay that fails throws: the entry
// of the innermost call is not where the thread is.
std::vector<StackFrame> stack_at(index::IndexReader& reader, uint64_t time, uint32_t tid, Replayer* replayer,
                                 std::optional<uint64_t> pc0 = std::nullopt);

}  // namespace omni::replay
