// The address index's layout, owned here: readers (replay's memory) use
// these and the IndexReader's typed accessors, never their own copies.
#pragma once

#include <cstdint>

namespace omni::index {

// Chunks per segment of the address index (write_index.segment).
inline constexpr uint32_t kChunksPerSegment = 1024;
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

}  // namespace omni::index
