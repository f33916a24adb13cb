// The caching CPU allocator of allocator.cc.
#pragma once
#include <cstddef>

namespace stemscope {

struct CacheStats {
  bool installed;      // false when STEMSCOPE_ALLOCATOR=default kept libtorch's own allocator
  size_t cachedBytes;  // free blocks held for reuse
  size_t limitBytes;   // most bytes held; a free beyond it goes back to the system
  size_t hits;         // allocations served from the cache
  size_t misses;       // allocations of cacheable size that went to the system
};

// Makes the caching allocator libtorch's CPU allocator (called once, when the addon loads), unless the
// environment says STEMSCOPE_ALLOCATOR=default: then libtorch keeps its own allocator (plain
// posix_memalign/free), so glibc's heap checks and sanitizers see every tensor buffer. Throws on any
// other value. Returns whether the caching allocator was installed.
bool InstallCachingAllocator();
// Returns every cached block to the system allocator; the number of bytes released.
size_t ReleaseCachedBlocks();
CacheStats CachedBlockStats();
void SetCacheLimit(size_t bytes);

}  // namespace stemscope
