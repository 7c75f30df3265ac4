// The address index's layout, owned here: readers (replay's memory) use
// these and the IndexReader's typed accessors, never their own copies.
#pragma once

#include <cstdint>

namespace omni::index {

// Chunks per segment of the executions index (exec_blocks.segment).
inline constexpr uint32_t kChunksPerSegment = 1024;
// Chunks per segment of the address index (write_index.segment). A row lists
// a page's writers in its segment and carries each granule's last earlier
// writer, so a lookup reads one row whatever the segment count: small
// segments keep the rows of hot pages (a writer per granule and chunk) small.
inline constexpr uint32_t kWriteChunksPerSegment = 64;
// write_index.granules' first byte: every granule of the page written before
// the segment has its last writer in the row (the builder's memory of
// writers was not cut short).
inline constexpr uint8_t kWriteRowCarryComplete = 1;
// The address index records which chunks wrote each 8-byte granule, in rows
// of one 4 KiB page. Granules this fine keep a quiet variable that shares a
// cache line with a hot one from pulling in every chunk of the hot one.
inline constexpr unsigned kGranuleShift = 3;
inline constexpr unsigned kPageShift = 12;
inline constexpr uint64_t kGranuleBytes = uint64_t{1} << kGranuleShift;

inline uint64_t granule_of(uint64_t addr) { return addr >> kGranuleShift; }
inline uint64_t granule_address(uint64_t granule) { return granule << kGranuleShift; }
inline uint64_t page_of_granule(uint64_t granule) { return granule >> (kPageShift - kGranuleShift); }
inline uint32_t segment_of_chunk(uint32_t chunk) { return chunk / kChunksPerSegment; }
inline uint32_t write_segment_of_chunk(uint32_t chunk) { return chunk / kWriteChunksPerSegment; }

}  // namespace omni::index
