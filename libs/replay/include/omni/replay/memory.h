// Memory of a recording at any moment, rebuilt from the index.
#pragma once

#include <cstdint>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "omni/index/reader.h"

namespace omni::replay {

// Memory at a moment: the bytes of [addr, addr + size) at time `time` (after
// every write at or before it), and which of them were mapped then.
struct MemoryImage {
  uint64_t addr, size, time;
  std::vector<uint8_t> bytes;
  std::vector<bool> mapped;
  std::set<std::string> file_missing;  // mapped files that could not be read now, or
                                       // whose build-id is not the recorded one
  // Bytes whose contents the recording does not hold (a shared file mapping's
  // bytes beyond what was copied when it was mapped); their `bytes` are 0.
  // Empty when there are none.
  std::vector<bool> unknown;
  // The parts of the range in shared mappings (MAP_SHARED, SysV shm) at that
  // time: other processes may have changed them unseen.
  struct Shared {
    uint64_t addr, size;
    std::string path;  // empty for anonymous or SysV shared memory
  };
  std::vector<Shared> shared;
};
MemoryImage read_memory(index::IndexReader& reader, uint64_t addr, uint64_t size, uint64_t time);

// The same, for many reads: keeps the address space, the address index's
// pages and recently decoded chunks (grouped by granule) between reads.
// Not thread-safe.
class MemoryReader {
 public:
  explicit MemoryReader(index::IndexReader& reader);
  ~MemoryReader();
  MemoryImage read(uint64_t addr, uint64_t size, uint64_t time);
  // The reads that follow are at or before `time` (0: no promise): a chunk
  // is decoded only up to the later of that and the read's own time, and
  // again further if a read asks past it. Register replay up to T sets T.
  void set_horizon(uint64_t time);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace omni::replay
