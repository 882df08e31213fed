// Sampler (PyTorch's torch.utils.data.Sampler): which samples of a dataset an epoch takes, and
// in what order. A DataLoader given one asks it once per epoch, with the loader's epoch, so
// loader.set_epoch(e) plays the part of PyTorch's sampler.set_epoch(e).
#pragma once

#include <cstdint>
#include <vector>

namespace volt::data {

class Sampler {
 public:
  virtual ~Sampler() = default;
  // Sample indices for `epoch`, each in [0, dataset_size()), as many as size().
  virtual std::vector<int64_t> indices(uint64_t epoch) const = 0;
  virtual int64_t size() const = 0;          // indices per epoch
  virtual int64_t dataset_size() const = 0;  // the dataset it was made for
};

}  // namespace volt::data
