// Allocators own device memory. The CPU allocator hands out 64-byte aligned blocks so that
// vector loads never straddle a cache line at the start of a tensor.
#pragma once

#include <cstddef>

#include "volt/core/device.h"

namespace volt {

class Allocator {
 public:
  virtual ~Allocator() = default;
  virtual void* allocate(std::size_t nbytes) = 0;
  virtual void deallocate(void* ptr, std::size_t nbytes) = 0;
  virtual Device device() const = 0;
};

inline constexpr std::size_t kCpuAlignment = 64;

Allocator* cpu_allocator();

}  // namespace volt
