// Storage: a ref-counted block of device memory that views share. It also carries the
// version counter that autograd uses to detect in-place changes of saved tensors: every view
// of the memory sees the same count.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>

#include "volt/core/allocator.h"

namespace volt {

class StorageImpl {
 public:
  // Owned memory from `allocator`.
  StorageImpl(std::size_t nbytes, Allocator* allocator);
  // Borrowed memory; `release` (may be empty) runs when the last view dies.
  StorageImpl(void* data, std::size_t nbytes, Device device, std::function<void(void*)> release);
  ~StorageImpl();
  StorageImpl(const StorageImpl&) = delete;
  StorageImpl& operator=(const StorageImpl&) = delete;

  void* data() const { return data_; }
  std::size_t nbytes() const { return nbytes_; }
  Device device() const { return device_; }
  uint64_t version() const { return version_; }
  void bump_version() { ++version_; }

 private:
  void* data_ = nullptr;
  std::size_t nbytes_ = 0;
  Device device_;
  Allocator* allocator_ = nullptr;  // null for borrowed memory
  std::function<void(void*)> release_;
  uint64_t version_ = 0;
};

using Storage = std::shared_ptr<StorageImpl>;

}  // namespace volt
