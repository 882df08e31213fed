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
    const bool in_capture = capturing(stream);
    void* ptr = in_capture ? take(graph_pool_, stream, size) : nullptr;
    if (!ptr) ptr = take(free_, stream, size);
    if (!ptr) ptr = device_malloc(stream, size, nbytes);
    blocks_[ptr] = {stream, size};
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
    const auto [stream, size] = it->second;
    blocks_.erase(it);
    stats_.allocated -= size;
    // A block freed while its stream is being captured is still written by every replay of the
    // graph: only later captures may take it, until release_graph_memory().
    (capturing_noexcept(stream) ? graph_pool_ : free_)[{stream, size}].push_back(ptr);
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
  void release_graph_pool() {
    std::lock_guard lock(mutex_);
    for (auto& [key, ptrs] : graph_pool_)
      free_[key].insert(free_[key].end(), ptrs.begin(), ptrs.end());
    graph_pool_.clear();
  }

 private:
  using Bins = std::map<std::pair<cudaStream_t, std::size_t>, std::vector<void*>>;

  static void* take(Bins& bins, cudaStream_t stream, std::size_t size) {
    auto it = bins.find({stream, size});
    if (it == bins.end() || it->second.empty()) return nullptr;
    void* ptr = it->second.back();
    it->second.pop_back();
    return ptr;
  }

  void* device_malloc(cudaStream_t stream, std::size_t size, std::size_t requested) {
    VOLT_CHECK(!capturing(stream), "cuda allocator: a request for ", requested, " bytes on cuda:", device_,
               " missed the cache during graph capture; run the step once before capturing");
    DeviceGuard guard(device_);
    void* ptr = nullptr;
    cudaError_t err = cudaMalloc(&ptr, size);
    if (err == cudaErrorMemoryAllocation) {
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
  std::unordered_map<void*, std::pair<cudaStream_t, std::size_t>> blocks_;  // handed out
  Bins free_;                                                               // cached, free for any use on their stream
  Bins graph_pool_;                                                         // freed during a capture: for captures only
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
    cache(d).release_graph_pool();
}

void set_poison_allocations(bool on) { poison.store(on, std::memory_order_relaxed); }

}  // namespace volt::cuda
