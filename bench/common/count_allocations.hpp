// Counts heap allocations: every global operator new (what C++ code, ours, protobuf's and gRPC's
// C++ layer, allocates) and every malloc, calloc and realloc (which also covers gRPC core, which
// allocates with malloc, and operator new itself). The counts are read by cpu_usage::now() in
// bench.hpp, so allocations per message are reported next to the CPU per message.
//
// Include in exactly ONE translation unit of a program (each bench program is one): it defines the
// replaceable global allocation functions, which a program may define only once. Benchmark support,
// not part of the library.
#pragma once

#include "bench.hpp"

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <new>

namespace danube_bench::counting {

// Counters spread over cache lines by thread, so that counting does not make every allocation of
// every thread contend for one line (it would slow down both sides of every ratio).
struct alignas(64) slot {
  std::atomic<std::uint64_t> news{0};
  std::atomic<std::uint64_t> mallocs{0};
};
inline constexpr std::size_t slots = 64;
inline std::array<slot, slots> counts;  // NOLINT(cppcoreguidelines-avoid-non-const-global-variables)
inline std::atomic<std::size_t> next_slot{0};

inline slot& mine() noexcept {
  // A trivially initialized thread_local: no allocation, no guard, safe inside malloc.
  thread_local std::size_t index = slots;
  if (index == slots) {
    index = next_slot.fetch_add(1, std::memory_order_relaxed) % slots;
  }
  return counts[index];
}

inline void* counted_new(std::size_t size) {
  mine().news.fetch_add(1, std::memory_order_relaxed);
  for (;;) {
    if (void* p = std::malloc(size == 0 ? 1 : size)) {  // NOLINT(cppcoreguidelines-no-malloc)
      return p;
    }
    if (const auto handler = std::get_new_handler()) {
      handler();
    } else {
      throw std::bad_alloc();
    }
  }
}

inline void* counted_aligned_new(std::size_t size, std::align_val_t align) {
  mine().news.fetch_add(1, std::memory_order_relaxed);
  const auto alignment = static_cast<std::size_t>(align);
  const auto rounded = (size + alignment - 1) / alignment * alignment;
  for (;;) {
    if (void* p = std::aligned_alloc(alignment, rounded == 0 ? alignment : rounded)) {
      return p;
    }
    if (const auto handler = std::get_new_handler()) {
      handler();
    } else {
      throw std::bad_alloc();
    }
  }
}

}  // namespace danube_bench::counting

// malloc, calloc and realloc of the whole process (gRPC core included) are counted by interposing
// glibc's; not under a sanitizer, which replaces them itself.
#if defined(__GLIBC__) && !defined(__SANITIZE_ADDRESS__) && !defined(__SANITIZE_THREAD__)
#define DANUBE_BENCH_COUNTS_MALLOC 1
extern "C" {
void* __libc_malloc(std::size_t size);                     // NOLINT(bugprone-reserved-identifier)
void* __libc_calloc(std::size_t count, std::size_t size);  // NOLINT(bugprone-reserved-identifier)
void* __libc_realloc(void* p, std::size_t size);           // NOLINT(bugprone-reserved-identifier)

void* malloc(std::size_t size) {  // NOLINT
  danube_bench::counting::mine().mallocs.fetch_add(1, std::memory_order_relaxed);
  return __libc_malloc(size);
}
void* calloc(std::size_t count, std::size_t size) {  // NOLINT
  danube_bench::counting::mine().mallocs.fetch_add(1, std::memory_order_relaxed);
  return __libc_calloc(count, size);
}
void* realloc(void* p, std::size_t size) {  // NOLINT
  danube_bench::counting::mine().mallocs.fetch_add(1, std::memory_order_relaxed);
  return __libc_realloc(p, size);
}
}
#else
#define DANUBE_BENCH_COUNTS_MALLOC 0
#endif

// NOLINTBEGIN(cppcoreguidelines-no-malloc,cppcoreguidelines-owning-memory)
void* operator new(std::size_t size) { return danube_bench::counting::counted_new(size); }
void* operator new[](std::size_t size) { return danube_bench::counting::counted_new(size); }
void* operator new(std::size_t size, const std::nothrow_t&) noexcept {
  try {
    return danube_bench::counting::counted_new(size);
  } catch (...) {
    return nullptr;
  }
}
void* operator new[](std::size_t size, const std::nothrow_t&) noexcept {
  try {
    return danube_bench::counting::counted_new(size);
  } catch (...) {
    return nullptr;
  }
}
void* operator new(std::size_t size, std::align_val_t align) {
  return danube_bench::counting::counted_aligned_new(size, align);
}
void* operator new[](std::size_t size, std::align_val_t align) {
  return danube_bench::counting::counted_aligned_new(size, align);
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
void operator delete(void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete(void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }
// NOLINTEND(cppcoreguidelines-no-malloc,cppcoreguidelines-owning-memory)

namespace danube_bench {

allocation_counts allocations_so_far() noexcept {
  allocation_counts out;
  for (const auto& s : counting::counts) {
    out.news += s.news.load(std::memory_order_relaxed);
    out.mallocs += s.mallocs.load(std::memory_order_relaxed);
  }
  if (DANUBE_BENCH_COUNTS_MALLOC == 0) {
    out.mallocs = out.news;  // only operator new is seen
  }
  return out;
}

}  // namespace danube_bench
