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

struct CallRow {
  uint64_t id;        // call ordinal over the whole recording
  uint64_t time;      // of the call instruction
  uint64_t end_time;  // of the return that ended it; 0: still active at the end
  uint32_t tid;
  uint32_t depth;     // 0 for a thread's outermost recorded call
  uint64_t pc;        // of the call instruction
  uint64_t target;
  uint64_t rsp;       // at entry: points at the return address
  uint64_t parent;    // id + 1 of the calling frame's call; 0: none
};

// Raw (uncompressed) encoding of rows with consecutive ids, and back.
std::string encode_calls(const std::vector<CallRow>& rows);
std::vector<CallRow> decode_calls(const void* blob, size_t size, uint64_t first_id);

}  // namespace omni::index
