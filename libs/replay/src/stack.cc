// Call stacks from the index's calls (each with its caller's id) and the
// replayed registers of the innermost frame.
#include "omni/replay/stack.h"

namespace omni::replay {

namespace {

// Calls of thread `tid` active after instruction `time`, innermost first.
std::vector<index::CallRow> active_calls(index::IndexReader& reader, uint32_t tid, uint64_t time) {
  const auto& chunks = reader.call_chunks();
  // The thread's latest call at or before `time`.
  std::optional<index::CallRow> latest;
  for (auto it = chunks.rbegin(); it != chunks.rend() && !latest; ++it) {
    if (it->time_first > time) continue;
    auto rows = reader.calls_of_chunk(it->id);
    for (auto r = rows->rbegin(); r != rows->rend(); ++r)
      if (r->tid == tid && r->time <= time) {
        latest = *r;
        break;
      }
  }
  // Every call active then is it or one of its callers: a call made while
  // an active frame was running is in that frame's subtree.
  std::vector<index::CallRow> out;
  for (std::optional<index::CallRow> c = latest; c; c = reader.caller_of(*c))
    if (c->end_time == 0 || c->end_time > time) out.push_back(*c);
  return out;
}

}  // namespace

std::vector<StackFrame> stack_at(index::IndexReader& reader, uint64_t time, uint32_t tid, Replayer* replayer,
                                 std::optional<uint64_t> pc0) {
  std::vector<index::CallRow> calls = active_calls(reader, tid, time);
  std::vector<StackFrame> frames;
  uint64_t pc = calls.empty() ? 0 : calls.front().target;
  if (pc0) {
    pc = *pc0;
  } else if (replayer) {
    Registers regs = replayer->registers_at(time, tid);
    pc = regs.rip();
    // A frame the stack pointer has already passed (a longjmp or an
    // exception left it) is over, though the index ends it only at the
    // thread's next call or return.
    while (!calls.empty() && calls.front().rsp < regs.rsp()) calls.erase(calls.begin());
  }
  for (size_t i = 0; i <= calls.size(); ++i) {
    StackFrame frame;
    frame.pc = i == 0 ? pc : calls[i - 1].pc;
    if (i < calls.size()) {
      frame.since = calls[i].time;
      frame.cfa = calls[i].rsp + 8;
    }
    if (i > 0 && calls[i - 1].kind == index::CallKind::Tail) {
      // Replaced by the tail call: its stack frame is gone (its locals
      // with it), but not the fact that it ran and jumped.
      frame.tail_call = true;
      frame.cfa.reset();
      if (frame.pc == 0 && i < calls.size()) frame.function_entry = calls[i].target;
    }
    if (i > 0 && calls[i - 1].kind == index::CallKind::Signal) {
      StackFrame handler_caller;
      handler_caller.pc = 0;
      handler_caller.since = calls[i - 1].time;
      handler_caller.signal = calls[i - 1].signal;
      frames.push_back(handler_caller);
    }
    if (i == 0 && pc == 0) continue;
    frames.push_back(frame);
  }
  return frames;
}

}  // namespace omni::replay
