#include "volt/train/device_batches.h"

#include <algorithm>
#include <vector>

#include "volt/autograd/grad_mode.h"
#include "volt/autograd/ops.h"

namespace volt::train {

DeviceBatches::DeviceBatches(const data::DataLoader& loader, Device device)
    : device_(device),
      batch_size_(loader.batch_size()),
      num_batches_(loader.size()),
      flatten_(loader.options().flatten) {
  NoGradGuard no_grad;
  const data::TensorDataset& set = loader.dataset();
  images_ = set.images().to(device);
  labels_ = set.labels().to(DType::i64).to(device);
  full_scale_ = full({}, 255.0, TensorOptions(DType::f32).device(device));
}

void DeviceBatches::start_epoch(const data::DataLoader& loader) {
  VOLT_CHECK(
      loader.batch_size() == batch_size_ && loader.size() == num_batches_ && loader.dataset_size() == images_.size(0),
      "DeviceBatches: start_epoch with another loader than the one it was made for");
  const std::vector<int64_t> order = loader.order();
  order_ = tensor(order, {static_cast<int64_t>(order.size())}).to(device_);
}

data::Batch DeviceBatches::batch(int64_t b) const {
  VOLT_CHECK(order_.defined(), "DeviceBatches: batch() before start_epoch()");
  VOLT_CHECK(b >= 0 && b < num_batches_, "DeviceBatches: batch ", b, " out of range [0, ", num_batches_, ")");
  NoGradGuard no_grad;
  const int64_t start = b * batch_size_;
  const int64_t count = std::min(batch_size_, order_.size(0) - start);
  const Tensor rows = order_.narrow(0, start, count);
  // A division, not a multiply by 1/255, which differs in the last bit for 126 of the 256 values.
  Tensor images = div(index_select(images_, 0, rows).to(DType::f32), full_scale_);
  if (flatten_) images = images.reshape({count, -1});
  return {images, index_select(labels_, 0, rows)};
}

}  // namespace volt::train
