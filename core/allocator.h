// core/allocator.h — the caching allocator behind every tensor's storage.
// Why it exists: on the VMs tern targets a fresh 4 KB page costs ~10 µs to fault in (0.4 GB/s). A training
// step that frees its activations and mallocs them again would pay that on every step, 2–3× the step time.
// So a freed block is not returned to the OS: it waits in a free list keyed by size, and the next request of
// (nearly) that size takes it back. After the first step a training loop touches no new memory.
// Blocks of 2 MB or more are 2 MB aligned and marked MADV_HUGEPAGE, so even the first touch faults 512×
// less often.
#pragma once
#include <cstddef>

namespace tern {

struct MemoryBlock {
    void* ptr = nullptr;
    size_t bytes = 0;  // capacity actually reserved (≥ the request)
};

struct AllocatorStats {
    size_t bytes_in_use = 0;    // held by live tensors
    size_t bytes_cached = 0;    // freed, waiting for reuse
    size_t system_allocs = 0;   // times we asked the OS for memory (should stop growing in steady state)
    size_t cache_hits = 0;      // requests served from the free lists
};

// Returns a 64-byte aligned block of at least `bytes` bytes (contents undefined). Throws tern::Error if the
// system is out of memory.
MemoryBlock allocate(size_t bytes);
// Gives a block back to the cache (not to the OS).
void release(MemoryBlock block);
AllocatorStats allocator_stats();
// Returns every cached block to the OS (for tests and for programs that change phase).
void empty_cache();

}  // namespace tern
