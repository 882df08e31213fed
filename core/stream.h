// Stream: the queue a kernel's work goes on. On the CPU work runs at once, in program order,
// and the handle is null; on a CUDA device the handle is the cudaStream_t the work is queued on,
// so work on one stream runs in the order it was launched.
#pragma once

#include "volt/core/device.h"

namespace volt {

struct Stream {
  Device device = Device::cpu();
  void* handle = nullptr;
};

}  // namespace volt
