// An allocator for the large, short-lived buffers a question fills (decoded
// chunks, decompressed frames, sort orders): on this kind of VM a page fault
// costs ~3 ms per MB of fresh memory, the larger part of decoding a chunk,
// and a transparent huge page takes one fault per 2 MiB. Blocks of at least
// kHugeBlock bytes are mapped 2 MiB-aligned and advised MADV_HUGEPAGE (the
// kernel may still give small pages: nothing depends on it); smaller ones
// come from operator new. Stateless and thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <new>
#include <utility>

namespace omni {

inline constexpr size_t kHugeBlock = size_t{1} << 20;

void* huge_allocate(size_t bytes);              // bytes >= kHugeBlock; throws std::bad_alloc
void huge_deallocate(void* p, size_t bytes);    // as allocated

// Gives the main heap `bytes` more at once and advises them MADV_HUGEPAGE, so
// that the small allocations of a question (index rows, replayed pages,
// decoded IR: thousands of fresh 4 KiB pages) take one fault per 2 MiB.
// glibc's own glibc.malloc.hugetlb=1 does the same but is read only at
// process start (an environment variable: re-executing cost more than it
// saved). Growth past `bytes` gets ordinary pages. Call once, early in main,
// before any thread starts, with M_TRIM_THRESHOLD above `bytes`; it sets
// malloc's M_TOP_PAD for the process.
void advise_huge_heap(size_t bytes);

template <class T>
struct HugePageAllocator {
  using value_type = T;
  HugePageAllocator() = default;
  template <class U>
  HugePageAllocator(const HugePageAllocator<U>&) {}
  T* allocate(size_t n) {
    if (n > SIZE_MAX / sizeof(T)) throw std::bad_alloc();
    size_t bytes = n * sizeof(T);
    if (bytes >= kHugeBlock) return static_cast<T*>(huge_allocate(bytes));
    return static_cast<T*>(::operator new(bytes, std::align_val_t{alignof(T)}));
  }
  // resize() leaves new elements default-initialized (bytes not zeroed: a
  // caller writes them next), and a copy is the element's: a container
  // with a custom allocator constructs element by element, and a
  // value-initializing resize or a byte-wise copy of a decoded chunk's
  // megabytes cost more than decoding it.
  template <class U>
  void construct(U* p) noexcept {
    ::new (static_cast<void*>(p)) U;
  }
  template <class U, class... Args>
  void construct(U* p, Args&&... args) {
    ::new (static_cast<void*>(p)) U(std::forward<Args>(args)...);
  }
  void deallocate(T* p, size_t n) {
    size_t bytes = n * sizeof(T);
    if (bytes >= kHugeBlock) huge_deallocate(p, bytes);
    else ::operator delete(p, std::align_val_t{alignof(T)});
  }
  template <class U>
  bool operator==(const HugePageAllocator<U>&) const {
    return true;
  }
};

}  // namespace omni
