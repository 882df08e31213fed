#include <algorithm>

#include "volt/core/cuda/graph.h"
#include "volt/core/cuda/runtime.h"

namespace volt::cuda {
namespace {

constexpr int kSlotWords = 2 * CUDAGraph::kMaxGenerators;
constexpr std::size_t kSlotBytes = kSlotWords * sizeof(uint64_t);

// Kernel arguments travel by value, so each launch carries its own numbers and a replay needs
// no host buffer that a later replay could overwrite before the copy ran.
struct SlotValues {
  uint64_t words[kSlotWords];  // {seed, base} per generator
  int count;                   // generators
};
struct SlotAdvance {
  uint64_t blocks[CUDAGraph::kMaxGenerators];
  int count;
};

__global__ void write_slots(uint64_t* slots, SlotValues values) {
  const int i = static_cast<int>(threadIdx.x);
  if (i < 2 * values.count) slots[i] = values.words[i];
}

// The graph's last node: the next replay starts where this one ended.
__global__ void advance_slots(uint64_t* slots, SlotAdvance advance) {
  const int i = static_cast<int>(threadIdx.x);
  if (i < advance.count) slots[2 * i + 1] += advance.blocks[i];
}

}  // namespace

CUDAGraph::~CUDAGraph() {
  try {
    reset();
  } catch (...) {  // a destructor must not throw; reset only fails when the driver is gone
  }
}

void CUDAGraph::capture_begin(int device, MempoolId pool) {
  VOLT_CHECK(!capturing_, "CUDAGraph::capture_begin: this graph is already capturing");
  VOLT_CHECK(!exec_, "CUDAGraph::capture_begin: this graph holds a capture already; reset() it first");
  check_device(device);
  DeviceGuard guard(device);
  const cudaStream_t stream = current_stream(device);
  cudaStreamCaptureStatus status = cudaStreamCaptureStatusNone;
  VOLT_CUDA_CHECK(cudaStreamIsCapturing(stream, &status));
  volt::detail::PhiloxCapture* outer = volt::detail::exchange_philox_capture(nullptr);
  volt::detail::exchange_philox_capture(outer);
  VOLT_CHECK(status == cudaStreamCaptureStatusNone && outer == nullptr,
             "CUDAGraph::capture_begin: another graph is capturing on this thread (or on cuda:", device,
             "'s current stream); end it first");
  device_ = device;
  stream_ = stream;
  // The slots come from the eager cache before the capture starts: the graph holds them until reset.
  slots_ = static_cast<uint64_t*>(caching_allocator(device)->allocate(kSlotBytes));
  pool_ = pool != 0 ? pool : graph_pool_handle();
  detail::retain_pool(device, pool_);
  detail::begin_allocate_to_pool(device, stream_, pool_);
  // Load the slot kernel now: a module loaded lazily inside a capture fails on older drivers.
  cudaFuncAttributes attributes{};
  VOLT_CUDA_CHECK(cudaFuncGetAttributes(&attributes, advance_slots));
  outer_ = volt::detail::exchange_philox_capture(this);
  capturing_ = true;
  const cudaError_t err = cudaStreamBeginCapture(stream_, cudaStreamCaptureModeThreadLocal);
  if (err != cudaSuccess) {
    cudaGetLastError();
    reset();
    VOLT_FAIL("CUDAGraph::capture_begin on cuda:", device,
              ": cudaStreamBeginCapture failed: ", cudaGetErrorString(err));
  }
}

PhiloxArgs CUDAGraph::capture_draw(Generator& gen, uint64_t blocks) {
  auto it = std::find_if(drawn_.begin(), drawn_.end(), [&](const Drawn& d) { return d.gen == &gen; });
  if (it == drawn_.end()) {
    VOLT_CHECK(static_cast<int>(drawn_.size()) < kMaxGenerators, "CUDAGraph: a captured graph draws from at most ",
               kMaxGenerators, " generators; this capture asked for one more");
    drawn_.push_back(Drawn{&gen});
    it = drawn_.end() - 1;
  }
  const auto slot = static_cast<std::size_t>(it - drawn_.begin());
  const PhiloxArgs args{0, it->blocks, slots_ + 2 * slot};
  it->blocks += blocks;
  return args;
}

void CUDAGraph::capture_end() {
  VOLT_CHECK(capturing_, "CUDAGraph::capture_end: capture_begin was not called");
  DeviceGuard guard(device_);
  if (!drawn_.empty()) {
    SlotAdvance advance{};
    advance.count = static_cast<int>(drawn_.size());
    for (std::size_t i = 0; i < drawn_.size(); ++i)
      advance.blocks[i] = drawn_[i].blocks;
    advance_slots<<<1, kMaxGenerators, 0, stream_>>>(slots_, advance);
    const cudaError_t launched = cudaGetLastError();
    if (launched != cudaSuccess) {
      reset();
      VOLT_FAIL("CUDAGraph::capture_end: the slot update failed to launch: ", cudaGetErrorString(launched));
    }
  }
  volt::detail::exchange_philox_capture(outer_);
  detail::end_allocate_to_pool(device_, stream_);
  capturing_ = false;
  const cudaError_t ended = cudaStreamEndCapture(stream_, &graph_);
  if (ended != cudaSuccess) {
    cudaGetLastError();
    reset();
    VOLT_FAIL("CUDAGraph::capture_end on cuda:", device_,
              ": the capture was invalidated (a host synchronisation or a call a capture cannot hold "
              "inside it?): ",
              cudaGetErrorName(ended), ": ", cudaGetErrorString(ended));
  }
  const cudaError_t made = cudaGraphInstantiate(&exec_, graph_, 0);
  if (made != cudaSuccess) {
    cudaGetLastError();
    exec_ = nullptr;
    reset();
    VOLT_FAIL("CUDAGraph::capture_end: cudaGraphInstantiate failed: ", cudaGetErrorString(made));
  }
  VOLT_CUDA_CHECK(cudaGraphUpload(exec_, stream_));
}

void CUDAGraph::replay() {
  VOLT_CHECK(exec_, "CUDAGraph::replay: nothing is captured (capture_begin ... capture_end, or capture(work))");
  DeviceGuard guard(device_);
  const cudaStream_t stream = current_stream(device_);
  // The graph's blocks are the capture stream's in the allocator: ordered after its work only.
  VOLT_CHECK(stream == stream_, "CUDAGraph::replay: cuda:", device_,
             "'s current stream is not the one the graph was captured on; replay on that stream");
  SlotValues values{};
  values.count = static_cast<int>(drawn_.size());
  bool rewrite = false;
  for (std::size_t i = 0; i < drawn_.size(); ++i) {
    Drawn& d = drawn_[i];
    const PhiloxArgs next = d.gen->draw(d.blocks);
    const uint64_t seed = next.seed, base = next.offset;
    rewrite = rewrite || !d.slot_known || d.slot_seed != seed || d.slot_base != base;
    values.words[2 * i] = seed;
    values.words[2 * i + 1] = base;
    d.slot_seed = seed;
    d.slot_base = base + d.blocks;  // where the graph's last node leaves the slot
    d.slot_known = false;           // until the launches below are queued
  }
  if (rewrite) {
    write_slots<<<1, kSlotWords, 0, stream>>>(slots_, values);
    VOLT_CUDA_CHECK_LAUNCH();
  }
  VOLT_CUDA_CHECK(cudaGraphLaunch(exec_, stream));
  for (Drawn& d : drawn_)
    d.slot_known = true;
}

void CUDAGraph::abandon_capture() noexcept {
  volt::detail::exchange_philox_capture(outer_);
  detail::end_allocate_to_pool(device_, stream_);
  cudaGraph_t partial = nullptr;
  if (cudaStreamEndCapture(stream_, &partial) != cudaSuccess) cudaGetLastError();
  if (partial) cudaGraphDestroy(partial);
  capturing_ = false;
}

void CUDAGraph::reset() {
  if (device_ < 0) return;
  DeviceGuard guard(device_);
  if (capturing_) abandon_capture();
  // Everything is let go before an error is reported, so that a second reset (the destructor's)
  // finds nothing to free twice.
  const cudaError_t exec_err = exec_ ? cudaGraphExecDestroy(exec_) : cudaSuccess;
  const cudaError_t graph_err = graph_ ? cudaGraphDestroy(graph_) : cudaSuccess;
  exec_ = nullptr;
  graph_ = nullptr;
  if (slots_) caching_allocator(device_)->deallocate(slots_, kSlotBytes);
  slots_ = nullptr;
  if (pool_ != 0) detail::release_pool(device_, pool_);
  pool_ = 0;
  drawn_.clear();
  outer_ = nullptr;
  device_ = -1;
  VOLT_CUDA_CHECK(exec_err);
  VOLT_CUDA_CHECK(graph_err);
}

uint64_t CUDAGraph::blocks_per_replay(const Generator& gen) const {
  for (const Drawn& d : drawn_)
    if (d.gen == &gen) return d.blocks;
  return 0;
}

}  // namespace volt::cuda
