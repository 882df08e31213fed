// CUDAGraph: work queued on a device's current stream, captured once and replayed as one
// launch (PyTorch's torch.cuda.CUDAGraph: capture_begin, capture_end, replay, reset, pool).
//
// What a replay needs to be right, and where volt keeps it:
// - Memory: every block the capture takes or frees belongs to the graph's pool in the caching
//   allocator (core/cuda/caching_allocator.h) until reset(), so the addresses the graph was
//   captured with stay its own (a request the cache cannot serve gets a cudaMalloc at once,
//   outside the graph). State made on first use (an optimizer's buffers, the loss scale)
//   refuses to be made inside a capture, where every replay would make it again: run the work
//   once eagerly first (a warm-up), then capture.
// - The stream: the capture records what this thread queues on the device's current stream,
//   and replays go on that stream. Other threads must not queue work on it meanwhile.
// - Random draws: a random op under capture draws from a device slot the graph keeps for each
//   generator, at its offset inside the graph (Generator::philox_args). Each replay reserves
//   the blocks one replay draws from every such generator on the host, as an eager run would,
//   and the graph's last node advances the slots by as much; the slots are rewritten before a
//   replay only when the host state moved otherwise (an eager draw, manual_seed, a restored
//   offset). So replay k draws what eager step k would, and a replayed step saves and resumes
//   like an eager one.
// - Host values: a graph replays kernel arguments as captured. State that changes from step to
//   step (the optimizer's step count and learning rate, the loss scale) lives in device memory.
//
// Capture on the thread that queues the work; a generator a graph draws from must outlive it.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>
#include <vector>

#include "volt/core/cuda/caching_allocator.h"
#include "volt/core/generator.h"

namespace volt::cuda {

class CUDAGraph : private volt::detail::PhiloxCapture {
 public:
  // The most generators one graph draws from.
  static constexpr int kMaxGenerators = 64;

  CUDAGraph() = default;
  ~CUDAGraph();
  CUDAGraph(const CUDAGraph&) = delete;
  CUDAGraph& operator=(const CUDAGraph&) = delete;

  // Starts capturing what this thread queues on `device`'s current stream. `pool`: a
  // graph_pool_handle() or another graph's pool() to share its memory (the graphs must then
  // replay in the order they were captured); 0, a pool of the graph's own.
  void capture_begin(int device = 0, MempoolId pool = 0);
  // Ends the capture and instantiates the graph. Throws if the capture was invalidated (a host
  // synchronisation, an unsupported call); the graph is reset then.
  void capture_end();
  // capture_begin, work(), capture_end; if work or the capture fails, the capture is abandoned
  // (the graph reset, the stream usable again) and the error goes on.
  template <class F>
  void capture(F&& work, int device = 0, MempoolId pool = 0) {
    capture_begin(device, pool);
    try {
      work();
      capture_end();
    } catch (...) {
      reset();
      throw;
    }
  }

  // Queues the whole graph on the stream it was captured on (the device's current stream then
  // and now: an error otherwise).
  void replay();
  // Abandons a capture in progress, destroys the graph and gives its pool back.
  void reset();

  bool captured() const { return exec_ != nullptr; }
  MempoolId pool() const { return pool_; }
  Device device() const override { return Device::cuda(device_ < 0 ? 0 : device_); }
  // Generators the graph draws from, and the Philox blocks one replay takes from each.
  int generators() const { return static_cast<int>(drawn_.size()); }
  uint64_t blocks_per_replay(const Generator& gen) const;

 private:
  struct Drawn {
    Generator* gen = nullptr;
    uint64_t blocks = 0;                    // drawn in one replay
    uint64_t slot_seed = 0, slot_base = 0;  // what the device slot holds before the next replay
    bool slot_known = false;
  };

  PhiloxArgs capture_draw(Generator& gen, uint64_t blocks) override;
  void abandon_capture() noexcept;

  int device_ = -1;
  cudaStream_t stream_ = nullptr;  // the capture's
  MempoolId pool_ = 0;
  bool capturing_ = false;
  volt::detail::PhiloxCapture* outer_ = nullptr;  // what the thread had before the capture
  cudaGraph_t graph_ = nullptr;
  cudaGraphExec_t exec_ = nullptr;
  uint64_t* slots_ = nullptr;  // device: {seed, base} per generator
  std::vector<Drawn> drawn_;
};

}  // namespace volt::cuda
