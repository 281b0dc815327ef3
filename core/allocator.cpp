// core/allocator.cpp — see allocator.h. A best-fit free list (std::multimap keyed by block size) under a mutex.
#include "core/allocator.h"

#include <sys/mman.h>

#include <cstdlib>
#include <map>
#include <mutex>

#include "core/error.h"

namespace tern {
namespace {

constexpr size_t kHugePage = size_t(2) << 20;

// Round requests so that nearby sizes share blocks: 64 B granularity for small blocks, 4 KB for large ones.
size_t round_size(size_t bytes) {
    if (bytes == 0) bytes = 1;
    const size_t unit = bytes < 65536 ? 64 : 4096;
    return (bytes + unit - 1) / unit * unit;
}

struct CachingAllocator {
    std::mutex mutex;
    std::multimap<size_t, void*> free_blocks;  // size → block
    AllocatorStats stats;

    MemoryBlock allocate(size_t request) {
        const size_t bytes = round_size(request);
        {
            std::lock_guard<std::mutex> lock(mutex);
            // Best fit, but never hand out a block more than 25 % larger than asked (it would waste memory and
            // starve the request it was made for).
            auto it = free_blocks.lower_bound(bytes);
            if (it != free_blocks.end() && it->first <= bytes + bytes / 4) {
                MemoryBlock block{it->second, it->first};
                free_blocks.erase(it);
                stats.bytes_cached -= block.bytes;
                stats.bytes_in_use += block.bytes;
                stats.cache_hits++;
                return block;
            }
            stats.system_allocs++;
            stats.bytes_in_use += bytes;
        }
        const size_t alignment = bytes >= kHugePage ? kHugePage : 64;
        const size_t padded = (bytes + alignment - 1) / alignment * alignment;
        void* p = std::aligned_alloc(alignment, padded);
        if (!p) {
            // The cache may hold enough memory in blocks of the wrong size: give it back and retry once.
            empty();
            p = std::aligned_alloc(alignment, padded);
        }
        TERN_CHECK(p, "out of memory: could not allocate " << padded / (1 << 20) << " MB");
        if (alignment == kHugePage) madvise(p, padded, MADV_HUGEPAGE);
        return {p, bytes};
    }

    void release(MemoryBlock block) {
        if (!block.ptr) return;
        std::lock_guard<std::mutex> lock(mutex);
        free_blocks.emplace(block.bytes, block.ptr);
        stats.bytes_in_use -= block.bytes;
        stats.bytes_cached += block.bytes;
    }

    void empty() {
        std::lock_guard<std::mutex> lock(mutex);
        for (auto& kv : free_blocks) std::free(kv.second);
        free_blocks.clear();
        stats.bytes_cached = 0;
    }
};

CachingAllocator& the_allocator() {
    // Never destroyed: tensors in static objects may be released after main returns.
    static CachingAllocator* allocator = new CachingAllocator();
    return *allocator;
}

}  // namespace

MemoryBlock allocate(size_t bytes) { return the_allocator().allocate(bytes); }
void release(MemoryBlock block) { the_allocator().release(block); }
void empty_cache() { the_allocator().empty(); }
AllocatorStats allocator_stats() {
    auto& a = the_allocator();
    std::lock_guard<std::mutex> lock(a.mutex);
    return a.stats;
}

}  // namespace tern
