#include "omni/base/huge_pages.h"

#include <malloc.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>

namespace omni {

namespace {
constexpr size_t kHugePage = size_t{2} << 20;
size_t rounded(size_t bytes) { return (bytes + kHugePage - 1) & ~(kHugePage - 1); }
}  // namespace

void* huge_allocate(size_t bytes) {
  if (bytes > SIZE_MAX - 2 * kHugePage) throw std::bad_alloc();
  size_t size = rounded(bytes);
  // Over-map by a huge page, then unmap what lies outside the aligned block.
  size_t span = size + kHugePage;
  void* p = mmap(nullptr, span, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) throw std::bad_alloc();
  auto start = reinterpret_cast<uintptr_t>(p);
  uintptr_t aligned = (start + kHugePage - 1) & ~(kHugePage - 1);
  if (aligned > start) munmap(p, aligned - start);
  if (uintptr_t end = start + span, block_end = aligned + size; end > block_end)
    munmap(reinterpret_cast<void*>(block_end), end - block_end);
  madvise(reinterpret_cast<void*>(aligned), size, MADV_HUGEPAGE);
  return reinterpret_cast<void*>(aligned);
}

void huge_deallocate(void* p, size_t bytes) { munmap(p, rounded(bytes)); }

void advise_huge_heap(size_t bytes) {
  // Each time malloc extends the heap it asks for M_TOP_PAD bytes more than
  // it needs: one probe allocation, larger than the free top a fresh heap
  // has and below the mmap threshold, makes it extend now, by `bytes`.
  // Freed, the probe rejoins the top (which the caller's M_TRIM_THRESHOLD,
  // above `bytes`, keeps from being returned at once).
  constexpr size_t kProbe = size_t{1} << 20;
  mallopt(M_TOP_PAD, static_cast<int>(bytes));
  auto before = reinterpret_cast<uintptr_t>(sbrk(0));
  void* volatile probe = std::malloc(kProbe);  // volatile: the pair is not optimized away
  auto after = reinterpret_cast<uintptr_t>(sbrk(0));
  std::free(probe);
  uintptr_t first = (before + kHugePage - 1) & ~(kHugePage - 1), last = after & ~(kHugePage - 1);
  if (before == static_cast<uintptr_t>(-1) || last <= first) return;  // not extended: ordinary pages
  madvise(reinterpret_cast<void*>(first), last - first, MADV_HUGEPAGE);
}

}  // namespace omni
