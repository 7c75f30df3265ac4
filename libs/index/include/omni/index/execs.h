// Block entries as the index keeps them (table exec_chunks): every entry
// into a superblock the stream logs, in time order, so that "when did the
// code at address A run" is a lookup of the blocks holding A (exec_blocks)
// and a walk of their chunks, not a replay.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace omni::index {

// Entries per exec chunk.
inline constexpr uint32_t kExecsPerChunk = 65536;

// The block id of an entry that is no block's: a moment the running thread
// was stopped or sent elsewhere (a signal's delivery, the program's exit),
// which ends the block entered before it as a block entry does.
inline constexpr uint32_t kExecBoundary = 0;

// exec_blocks' segment of a block whose entries the stream does not hold: a
// superblock without sites writes no BLOCK word (stream.h).
inline constexpr int64_t kUnloggedBlock = -1;

struct ExecEntry {
  uint64_t time;   // instructions retired before the block's first one
  uint32_t tid;
  uint32_t block;  // BLOCK_DEF id (blocks.id), or kExecBoundary
};

// Raw (uncompressed) encoding of a chunk's entries, and back (`what` names
// the chunk in errors).
std::string encode_execs(const std::vector<ExecEntry>& entries);
std::vector<ExecEntry> decode_execs(const void* blob, size_t size, uint64_t time_first);

}  // namespace omni::index
