// A size-class caching CPU allocator for libtorch, installed as the CPU allocator when the addon
// loads (c10::SetCPUAllocator). Why: a training step frees and re-allocates the same large
// activation buffers every step. Through glibc, buffers above its (dynamic, ≤ 32 MiB) mmap threshold
// are mmapped and page-faulted anew each time, and the rest fragment the heap: a 1,352-step run of
// the `fast` model peaked at 12.8 GB RSS while its working set is ~2 GB. Here, freed buffers of
// 64 KiB or more are kept in per-size-class free lists and handed out again, so a training loop
// reaches a steady state (the memory of one step) after its first step and never touches the OS
// again. Cached bytes are capped (setCacheLimit), and releaseFreeMemory() returns them all.
#include <c10/core/Allocator.h>
#include <c10/core/CPUAllocator.h>
#include <c10/core/impl/alloc_cpu.h>

#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <string>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "allocator.h"

namespace stemscope {
namespace {

constexpr size_t kMinCached = 64 * 1024;

// Rounds up to one of four classes per power of two (≤ 25% waste), so buffers of nearly equal size
// (a last, smaller batch; validation batches) reuse each other's blocks.
size_t SizeClass(size_t n) {
  if (n < kMinCached) return n;
  size_t p = 1;
  while ((p << 1) <= n) p <<= 1;  // highest power of two ≤ n
  const size_t step = p >> 2;
  return (n + step - 1) / step * step;
}

class CachingCpuAllocator final : public c10::Allocator {
 public:
  c10::DataPtr allocate(size_t nbytes) const override {
    const size_t size = SizeClass(nbytes);
    // Small buffers go straight to the system (Free passes pointers it does not know through).
    if (size < kMinCached) return Wrap(c10::alloc_cpu(size));
    {
      std::lock_guard<std::mutex> lock(mutex_);
      auto it = free_.find(size);
      if (it != free_.end() && !it->second.empty()) {
        void* p = it->second.back();
        it->second.pop_back();
        cached_ -= size;
        hits_++;
        sizes_[p] = size;
        return Wrap(p);
      }
    }
    void* p = c10::alloc_cpu(size);  // outside the lock: may page-fault for a while
    std::lock_guard<std::mutex> lock(mutex_);
    misses_++;
    sizes_[p] = size;
    return Wrap(p);
  }

  c10::DeleterFnPtr raw_deleter() const override { return &Delete; }

  static void Delete(void* p) { Instance().Free(p); }

  static c10::DataPtr Wrap(void* p) { return {p, p, &Delete, c10::Device(c10::DeviceType::CPU)}; }

  void Free(void* p) {
    if (p == nullptr) return;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      auto it = sizes_.find(p);
      if (it != sizes_.end()) {
        const size_t size = it->second;
        sizes_.erase(it);
        if (cached_ + size <= limit_) {
          free_[size].push_back(p);
          cached_ += size;
          return;
        }
      }
    }
    c10::free_cpu(p);
  }

  size_t Release() {
    std::vector<void*> blocks;
    size_t released = 0;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      for (auto& [size, list] : free_) {
        released += size * list.size();
        blocks.insert(blocks.end(), list.begin(), list.end());
      }
      free_.clear();
      cached_ = 0;
    }
    for (void* p : blocks) c10::free_cpu(p);
    return released;
  }

  CacheStats Stats() {
    std::lock_guard<std::mutex> lock(mutex_);
    return {false, cached_, limit_, hits_, misses_};
  }

  void SetLimit(size_t bytes) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      limit_ = bytes;
    }
    if (Stats().cachedBytes > bytes) Release();
  }

  static CachingCpuAllocator& Instance() {
    // Never destroyed: tensors may be freed during process exit, after static destructors ran.
    static CachingCpuAllocator* instance = new CachingCpuAllocator();
    return *instance;
  }

 private:
  mutable std::mutex mutex_;
  mutable std::unordered_map<size_t, std::vector<void*>> free_;
  mutable std::unordered_map<void*, size_t> sizes_;
  mutable size_t cached_ = 0;
  mutable size_t hits_ = 0;
  mutable size_t misses_ = 0;
  size_t limit_ = size_t{8} << 30;
};

}  // namespace

// Whether InstallCachingAllocator installed it (for allocatorStats().caching).
static bool installed = false;

bool InstallCachingAllocator() {
  const char* choice = std::getenv("STEMSCOPE_ALLOCATOR");
  if (choice != nullptr && std::strcmp(choice, "default") == 0) return false;
  if (choice != nullptr && *choice != '\0' && std::strcmp(choice, "caching") != 0) {
    throw std::invalid_argument(std::string("STEMSCOPE_ALLOCATOR must be 'caching' or 'default', got '") + choice +
                                "'");
  }
  // Priority 1 beats the default allocator (priority 0) and loses to anything a user installs higher.
  c10::SetCPUAllocator(&CachingCpuAllocator::Instance(), 1);
  installed = true;
  return true;
}

size_t ReleaseCachedBlocks() { return CachingCpuAllocator::Instance().Release(); }

CacheStats CachedBlockStats() {
  CacheStats stats = CachingCpuAllocator::Instance().Stats();
  stats.installed = installed;
  return stats;
}

void SetCacheLimit(size_t bytes) { CachingCpuAllocator::Instance().SetLimit(bytes); }

}  // namespace stemscope
