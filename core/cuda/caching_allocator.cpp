#include "volt/core/cuda/caching_allocator.h"

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <unordered_map>
#include <utility>
#include <vector>

#include "volt/core/cuda/runtime.h"

namespace volt::cuda {
namespace {

constexpr std::size_t kSmallStep = 512;
constexpr std::size_t kSmallLimit = 1 << 20;
constexpr std::size_t kLargeStep = 2 << 20;

std::atomic<bool> poison{false};

// The pool of captures made with bare cudaStreamBeginCapture; graph_pool_handle() counts on.
constexpr MempoolId kBareCapturePool = 1;
std::atomic<MempoolId> next_pool{kBareCapturePool + 1};

bool capturing(cudaStream_t stream) {
  cudaStreamCaptureStatus status = cudaStreamCaptureStatusNone;
  VOLT_CUDA_CHECK(cudaStreamIsCapturing(stream, &status));
  return status != cudaStreamCaptureStatusNone;
}

// For frees, which run in destructors (at exit, perhaps after the runtime has unloaded): an
// error is taken as "not capturing" and cleared, never thrown.
bool capturing_noexcept(cudaStream_t stream) noexcept {
  cudaStreamCaptureStatus status = cudaStreamCaptureStatusNone;
  if (cudaStreamIsCapturing(stream, &status) != cudaSuccess) {
    cudaGetLastError();
    return false;
  }
  return status != cudaStreamCaptureStatusNone;
}

std::string mib(std::size_t bytes) { return std::to_string(static_cast<double>(bytes) / (1 << 20)) + " MiB"; }

class DeviceCache final : public Allocator {
 public:
  explicit DeviceCache(int device) : device_(device) {}

  void* allocate(std::size_t nbytes) override {
    if (nbytes == 0) return nullptr;
    const std::size_t size = round_size(nbytes);
    const cudaStream_t stream = current_stream(device_);
    std::lock_guard lock(mutex_);
    const MempoolId pool = capturing(stream) ? capture_pool(stream) : 0;
    void* ptr = pool != 0 ? take(pools_[pool].bins, stream, size) : nullptr;
    if (!ptr) ptr = take(free_, stream, size);
    if (!ptr) ptr = device_malloc(stream, size, nbytes);
    blocks_[ptr] = Block{stream, size, pool};
    stats_.allocated += size;
    stats_.peak_allocated = std::max(stats_.peak_allocated, stats_.allocated);
    ++stats_.allocations;
    if (poison.load(std::memory_order_relaxed)) VOLT_CUDA_CHECK(cudaMemsetAsync(ptr, 0xFF, size, stream));
    return ptr;
  }

  void deallocate(void* ptr, std::size_t) override {
    if (!ptr) return;
    std::lock_guard lock(mutex_);
    auto it = blocks_.find(ptr);
    if (it == blocks_.end()) return;  // not ours (cannot happen through Storage)
    const auto [stream, size, taken_by] = it->second;
    blocks_.erase(it);
    stats_.allocated -= size;
    // A block a capture took, or one freed while its stream is being captured (the graph used
    // it), is written by every replay: it stays in the capture's pool.
    MempoolId pool = taken_by;
    if (pool == 0 && capturing_noexcept(stream)) pool = capture_pool(stream);
    auto owner = pools_.find(pool);
    (owner != pools_.end() ? owner->second.bins : free_)[{stream, size}].push_back(ptr);
  }

  Device device() const override { return Device::cuda(device_); }

  AllocatorStats stats() {
    std::lock_guard lock(mutex_);
    return stats_;
  }
  void reset_peak() {
    std::lock_guard lock(mutex_);
    stats_.peak_allocated = stats_.allocated;
  }
  void release_cached() {
    std::lock_guard lock(mutex_);
    release_locked();
  }
  void begin_pool(cudaStream_t stream, MempoolId pool) {
    std::lock_guard lock(mutex_);
    VOLT_CHECK(pools_.count(pool) > 0, "cuda allocator: graph pool ", pool, " on cuda:", device_, " is not held");
    capture_pools_[stream] = pool;
  }
  void end_pool(cudaStream_t stream) {
    std::lock_guard lock(mutex_);
    capture_pools_.erase(stream);
  }
  void retain(MempoolId pool) {
    std::lock_guard lock(mutex_);
    ++pools_[pool].holders;
  }
  void release(MempoolId pool) {
    std::lock_guard lock(mutex_);
    auto it = pools_.find(pool);
    if (it == pools_.end() || --it->second.holders > 0) return;
    dissolve(it);
  }
  void release_bare_capture_pool() {
    std::lock_guard lock(mutex_);
    if (auto it = pools_.find(kBareCapturePool); it != pools_.end()) dissolve(it);
  }

 private:
  using Bins = std::map<std::pair<cudaStream_t, std::size_t>, std::vector<void*>>;
  struct Block {
    cudaStream_t stream;
    std::size_t size;
    MempoolId pool;  // 0: eager memory
  };
  struct Pool {
    Bins bins;        // its free blocks
    int holders = 0;  // the graphs that hold it
  };

  // The pool a request or free on a stream under capture belongs to (mutex_ held).
  MempoolId capture_pool(cudaStream_t stream) {
    auto it = capture_pools_.find(stream);
    const MempoolId pool = it != capture_pools_.end() ? it->second : kBareCapturePool;
    pools_.try_emplace(pool);
    return pool;
  }

  // No graph uses the pool any more: its free blocks become ordinary cached ones, its blocks in
  // use ordinary ones once freed (mutex_ held).
  void dissolve(std::map<MempoolId, Pool>::iterator it) {
    for (auto& [key, ptrs] : it->second.bins)
      free_[key].insert(free_[key].end(), ptrs.begin(), ptrs.end());
    for (auto& [ptr, block] : blocks_)
      if (block.pool == it->first) block.pool = 0;
    pools_.erase(it);
  }

  static void* take(Bins& bins, cudaStream_t stream, std::size_t size) {
    auto it = bins.find({stream, size});
    if (it == bins.end() || it->second.empty()) return nullptr;
    void* ptr = it->second.back();
    it->second.pop_back();
    return ptr;
  }

  void* device_malloc(cudaStream_t stream, std::size_t size, std::size_t requested) {
    DeviceGuard guard(device_);
    void* ptr = nullptr;
    cudaError_t err = cudaSuccess;
    const bool in_capture = capturing(stream);
    if (in_capture) {
      // During a capture: cudaMalloc runs now, outside the graph, and the block joins the
      // capture's pool (allocate tags it). The capture's mode forbids the call on this thread,
      // so it is relaxed for the call (as PyTorch's allocator does); no retry after emptying the
      // cache, which would synchronise the device.
      cudaStreamCaptureMode mode = cudaStreamCaptureModeRelaxed;
      VOLT_CUDA_CHECK(cudaThreadExchangeStreamCaptureMode(&mode));
      err = cudaMalloc(&ptr, size);
      VOLT_CUDA_CHECK(cudaThreadExchangeStreamCaptureMode(&mode));
    } else {
      err = cudaMalloc(&ptr, size);
    }
    if (err == cudaErrorMemoryAllocation && !in_capture) {
      cudaGetLastError();
      release_locked();  // give the cache back and try once more
      err = cudaMalloc(&ptr, size);
    }
    if (err == cudaErrorMemoryAllocation) {
      cudaGetLastError();
      std::size_t free_bytes = 0, total_bytes = 0;
      cudaMemGetInfo(&free_bytes, &total_bytes);
      VOLT_FAIL("cuda:", device_, " out of memory: requested ", requested, " bytes (", mib(size),
                " rounded); volt has ", mib(stats_.allocated), " allocated, ", mib(stats_.reserved), " reserved, peak ",
                mib(stats_.peak_allocated), "; the device has ", mib(free_bytes), " free of ", mib(total_bytes));
    }
    VOLT_CUDA_CHECK(err);
    stats_.reserved += size;
    ++stats_.device_mallocs;
    return ptr;
  }

  void release_locked() {
    DeviceGuard guard(device_);
    VOLT_CUDA_CHECK(cudaDeviceSynchronize());  // cached blocks may still be in use by queued work
    for (auto& [key, ptrs] : free_) {
      for (void* p : ptrs) {
        VOLT_CUDA_CHECK(cudaFree(p));
        stats_.reserved -= key.second;
      }
    }
    free_.clear();
  }

  int device_;
  std::mutex mutex_;
  std::unordered_map<void*, Block> blocks_;                    // handed out
  Bins free_;                                                  // cached, free for any use on their stream
  std::map<MempoolId, Pool> pools_;                            // graph memory: for captures into the pool only
  std::unordered_map<cudaStream_t, MempoolId> capture_pools_;  // streams a CUDAGraph captures now
  AllocatorStats stats_;
};

DeviceCache& cache(int device) {
  check_device(device);
  // Never destroyed: tensors that outlive main (statics) still give their memory back here.
  static auto* mutex = new std::mutex;
  static auto* caches = new std::map<int, std::unique_ptr<DeviceCache>>;
  std::lock_guard lock(*mutex);
  auto& c = (*caches)[device];
  if (!c) c = std::make_unique<DeviceCache>(device);
  return *c;
}

}  // namespace

std::size_t round_size(std::size_t nbytes) {
  const std::size_t step = nbytes <= kSmallLimit ? kSmallStep : kLargeStep;
  return (nbytes + step - 1) / step * step;
}

Allocator* caching_allocator(int device) { return &cache(device); }
AllocatorStats allocator_stats(int device) { return cache(device).stats(); }
void reset_peak_stats(int device) { cache(device).reset_peak(); }

void empty_cache() {
  for (int d = 0; d < detail::driver_device_count(); ++d)
    cache(d).release_cached();
}

void release_graph_memory() {
  for (int d = 0; d < detail::driver_device_count(); ++d)
    cache(d).release_bare_capture_pool();
}

MempoolId graph_pool_handle() { return next_pool.fetch_add(1); }

void detail::begin_allocate_to_pool(int device, cudaStream_t stream, MempoolId pool) {
  cache(device).begin_pool(stream, pool);
}
void detail::end_allocate_to_pool(int device, cudaStream_t stream) { cache(device).end_pool(stream); }
void detail::retain_pool(int device, MempoolId pool) { cache(device).retain(pool); }
void detail::release_pool(int device, MempoolId pool) { cache(device).release(pool); }

void set_poison_allocations(bool on) { poison.store(on, std::memory_order_relaxed); }

}  // namespace volt::cuda
