// Calls as the index keeps them (table call_chunks): one row per call, paired
// with its return by the stack pointer.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace omni::index {

// Calls per call chunk. Small, because a chunk is written only once every
// call in it has returned: chunks holding long-lived calls wait in memory.
inline constexpr uint32_t kCallsPerChunk = 8192;

// How a frame was entered.
enum class CallKind : uint8_t {
  Call = 0,     // a call instruction (through a PLT stub too: target is the function reached)
  Tail = 1,     // a jump to a function's entry from a frame at the same stack depth: the
                // jumping frame (the parent) is replaced, and returns when this one does
  Signal = 2,   // the kernel invoked a signal handler; pc is where the thread was interrupted
};

// How a frame ended.
enum class CallEnd : uint8_t {
  Open = 0,      // still active when the recording (or its thread) ended
  Returned = 1,  // a return instruction popped its return address
  Unwound = 2,   // the stack pointer passed it without a return (exception, longjmp)
  Replaced = 3,  // a tail call replaced it after kMaxTailChain tail calls in a row
};

// Tail calls in a row (each replacing the frame before at the same stack
// depth) kept as nested frames; beyond, a new one replaces the last
// (CallEnd::Replaced), so that a loop of tail calls stays bounded.
inline constexpr uint32_t kMaxTailChain = 64;

struct CallRow {
  uint64_t id;        // call ordinal over the whole recording
  uint64_t time;      // of the call (jump) instruction, or the signal's delivery
  uint64_t end_time;  // of the return that ended it, or when the stack was seen past it; 0: open
  uint32_t tid;
  uint32_t depth;     // 0 for a thread's outermost recorded call
  uint64_t pc;        // of the call instruction; for a signal, the interrupted pc; 0: unknown
  uint64_t target;
  uint64_t rsp;       // at entry: points at the return address
  uint64_t parent;    // id + 1 of the calling frame's call; 0: none
  CallKind kind = CallKind::Call;
  CallEnd ended = CallEnd::Open;
  uint32_t signal = 0;  // CallKind::Signal: the signal number
};

// Raw (uncompressed) encoding of rows with consecutive ids, and back.
std::string encode_calls(const std::vector<CallRow>& rows);
std::vector<CallRow> decode_calls(const void* blob, size_t size, uint64_t first_id);

}  // namespace omni::index
