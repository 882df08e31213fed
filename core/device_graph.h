// DeviceGraph: device work captured once and replayed as one launch, named without the backend,
// so that code built without CUDA (the Trainer, the main job) can graph a training step. On a
// CUDA device it is a volt::cuda::CUDAGraph (core/cuda/graph.h: what a replay keeps right, and
// how); the CPU has no graphs.
//
//   DeviceGraph graph(Device::cuda(0));
//   step();                          // a warm-up fills the allocator's cache
//   graph.capture([&] { step(); });  // queues nothing: records
//   for (...) graph.replay();        // each replay: the step, as one launch
#pragma once

#include <memory>

#include "volt/core/device.h"

namespace volt {

// What a backend's graph does for DeviceGraph.
class GraphBackend {
 public:
  virtual ~GraphBackend() = default;
  virtual void capture_begin() = 0;
  virtual void capture_end() = 0;
  virtual void replay() = 0;
  virtual void reset() = 0;
  virtual bool captured() const = 0;
};

// Whether work queued now on `device`'s current stream would be captured into a graph rather
// than run (false for the CPU). State made lazily (an optimizer's buffers, a metric's sum)
// refuses to be made then: a replay would make it again every step.
bool is_capturing(Device device);

class DeviceGraph {
 public:
  // Throws volt::Error unless `device` can capture graphs (see supported).
  explicit DeviceGraph(Device device);
  ~DeviceGraph();
  DeviceGraph(DeviceGraph&&) noexcept;
  DeviceGraph& operator=(DeviceGraph&&) noexcept;

  // A CUDA device of a program linked with volt's CUDA backend, with a usable GPU.
  static bool supported(Device device);

  // Records what work() queues on the device's current stream from this thread. If work or
  // the capture fails, the capture is abandoned and the error goes on.
  template <class F>
  void capture(F&& work) {
    impl_->capture_begin();
    try {
      work();
      impl_->capture_end();
    } catch (...) {
      impl_->reset();
      throw;
    }
  }
  void replay() { impl_->replay(); }
  void reset() { impl_->reset(); }
  bool captured() const { return impl_->captured(); }
  Device device() const { return device_; }

 private:
  Device device_;
  std::unique_ptr<GraphBackend> impl_;
};

}  // namespace volt
