// DeviceBatches: a DataLoader's dataset kept on a device (u8 images, i64 labels: uploaded once)
// and its batches gathered there, so a step on a GPU copies nothing from the host. Each epoch
// takes the loader's sample order (its shuffle, or its sampler's) to the device once; batch b is
// then index_select of those rows, converted as the loader converts them (f32 = u8 / 255, the
// value PyTorch's ToTensor gives), so the batches are bit for bit the loader's.
//
//   data::DataLoader loader(train_set, {.batch_size = 64, .seed = 1});
//   train::DeviceBatches on_gpu(loader, Device::cuda(0));
//   on_gpu.start_epoch(loader);                      // after loader.set_epoch(e)
//   for (int64_t b = 0; b < loader.size(); ++b) step(on_gpu.batch(b));
//
// The Trainer uses one for the train loader when TrainerOptions::data_on_device is set.
#pragma once

#include <cstdint>

#include "volt/core/device.h"
#include "volt/core/tensor.h"
#include "volt/data/data_loader.h"

namespace volt::train {

class DeviceBatches {
 public:
  DeviceBatches(const data::DataLoader& loader, Device device);

  // The loader's sample order for its current epoch, to the device.
  void start_epoch(const data::DataLoader& loader);
  // Batch b (0 <= b < the loader's size()) of the epoch started last, on the device.
  data::Batch batch(int64_t b) const;

  Device device() const { return device_; }

 private:
  Device device_;
  Tensor images_, labels_;  // [N, ...] u8 and [N] i64, on device_
  Tensor order_;            // i64 [N'] on device_, the epoch's sample order
  Tensor full_scale_;       // 255 as an f32 scalar on device_
  int64_t batch_size_ = 0, num_batches_ = 0;
  bool flatten_ = true;
};

}  // namespace volt::train
