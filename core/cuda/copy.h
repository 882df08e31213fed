// Copies between host and device memory. Host↔device goes through a ring of pinned staging
// buffers per device, so the DMA engine does the transfer and a host→device copy returns without
// waiting for it; a device→host copy waits (the host is about to read the bytes). Copies between
// two devices are ordered after the source's queued work and before its next.
#pragma once

#include <cstddef>

#include "volt/core/device.h"

namespace volt::cuda {

// n bytes from (src, src_device) to (dst, dst_device); at least one side is a CUDA device.
// Ordered on the current stream of the CUDA side (the destination's for device→device).
void copy_bytes(void* dst, Device dst_device, const void* src, Device src_device, std::size_t n);

}  // namespace volt::cuda
