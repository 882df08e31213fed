#include "volt/data/tensor_dataset.h"

#include <cstring>

#include "volt/core/error.h"
#include "volt/core/thread_pool.h"

namespace volt::data {

void u8_to_unit_float(const uint8_t* __restrict src, float* __restrict dst, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i)
    dst[i] = static_cast<float>(src[i]) / 255.0f;
}

namespace {

// A contiguous copy of a CPU tensor, element by element in row-major order (data/ sits on core
// alone, so it walks the strides itself rather than calling an op).
Tensor contiguous_copy(const Tensor& t) {
  if (t.is_contiguous()) return t;
  Tensor out = empty(t.shape(), t.dtype());
  const std::size_t item = itemsize(t.dtype());
  const auto* src = static_cast<const uint8_t*>(t.data_ptr());
  auto* dst = static_cast<uint8_t*>(out.data_ptr());
  const int64_t n = t.numel(), nd = t.dim();
  Shape index(static_cast<std::size_t>(nd), 0);
  int64_t offset = 0;  // of element `index`, in elements
  for (int64_t k = 0; k < n; ++k) {
    std::memcpy(dst + static_cast<std::size_t>(k) * item, src + offset * static_cast<int64_t>(item), item);
    for (int64_t d = nd - 1; d >= 0; --d) {
      offset += t.stride(d);
      if (++index[d] < t.size(d)) break;
      offset -= t.stride(d) * t.size(d);
      index[d] = 0;
    }
  }
  return out;
}

template <class T>
void copy_labels(const Tensor& labels, std::span<const int64_t> indices, int64_t* out) {
  const T* src = labels.data_ptr<T>();
  for (std::size_t b = 0; b < indices.size(); ++b)
    out[b] = static_cast<int64_t>(src[indices[b]]);
}

}  // namespace

TensorDataset::TensorDataset(Tensor images, Tensor labels) {
  VOLT_CHECK(images.defined() && labels.defined(), "TensorDataset: images and labels must be defined tensors");
  VOLT_CHECK(images.dtype() == DType::u8 && images.device().is_cpu() && images.dim() >= 1,
             "TensorDataset: images must be a u8 CPU tensor [N, ...], got ", describe(images));
  const DType ld = labels.dtype();
  VOLT_CHECK((ld == DType::u8 || ld == DType::i32 || ld == DType::i64) && labels.device().is_cpu() && labels.dim() == 1,
             "TensorDataset: labels must be a u8, i32 or i64 CPU tensor [N], got ", describe(labels));
  VOLT_CHECK(images.size(0) == labels.size(0), "TensorDataset: ", images.size(0), " images but ", labels.size(0),
             " labels (images ", describe(images), ", labels ", describe(labels), ")");
  images_ = contiguous_copy(images.detach());
  labels_ = contiguous_copy(labels.detach());
  sample_numel_ = volt::numel(sample_shape());
}

Shape TensorDataset::sample_shape() const {
  if (!images_.defined()) return {};
  return Shape(images_.shape().begin() + 1, images_.shape().end());
}

TensorDataset TensorDataset::subset(std::span<const int64_t> indices) const {
  const int64_t n = size();
  for (int64_t i : indices)
    VOLT_CHECK(i >= 0 && i < n, "TensorDataset::subset: index ", i, " out of range for a dataset of ", n, " samples");
  Shape image_shape = sample_shape();
  image_shape.insert(image_shape.begin(), static_cast<int64_t>(indices.size()));
  Tensor images = empty(image_shape, DType::u8);
  Tensor labels = empty({static_cast<int64_t>(indices.size())}, labels_.dtype());
  const auto d = static_cast<std::size_t>(sample_numel_);
  const std::size_t label_bytes = itemsize(labels_.dtype());
  const auto* src = static_cast<const uint8_t*>(images_.data_ptr());
  const auto* label_src = static_cast<const uint8_t*>(labels_.data_ptr());
  auto* dst = static_cast<uint8_t*>(images.data_ptr());
  auto* label_dst = static_cast<uint8_t*>(labels.data_ptr());
  for (std::size_t k = 0; k < indices.size(); ++k) {
    const auto i = static_cast<std::size_t>(indices[k]);
    std::memcpy(dst + k * d, src + i * d, d);
    std::memcpy(label_dst + k * label_bytes, label_src + i * label_bytes, label_bytes);
  }
  return TensorDataset(std::move(images), std::move(labels));
}

Batch TensorDataset::get_batch(std::span<const int64_t> indices, bool flatten) const {
  const int64_t n = size();
  for (int64_t i : indices)
    VOLT_CHECK(i >= 0 && i < n, "TensorDataset::get_batch: index ", i, " out of range for a dataset of ", n,
               " samples");
  const auto b = static_cast<int64_t>(indices.size());
  Shape image_shape{b};
  if (flatten) {
    image_shape.push_back(sample_numel_);
  } else {
    const Shape s = sample_shape();
    image_shape.insert(image_shape.end(), s.begin(), s.end());
  }
  Batch batch{empty(image_shape, DType::f32), empty({b}, DType::i64)};

  const auto d = static_cast<std::size_t>(sample_numel_);
  const auto* src = static_cast<const uint8_t*>(images_.data_ptr());
  auto* dst = static_cast<float*>(batch.images.data_ptr());
  parallel_for(0, b, 16, [&](int64_t begin, int64_t end) {
    for (auto k = static_cast<std::size_t>(begin); k < static_cast<std::size_t>(end); ++k)
      u8_to_unit_float(src + static_cast<std::size_t>(indices[k]) * d, dst + k * d, d);
  });

  auto* out = static_cast<int64_t*>(batch.labels.data_ptr());
  switch (labels_.dtype()) {
    case DType::u8:
      copy_labels<uint8_t>(labels_, indices, out);
      break;
    case DType::i32:
      copy_labels<int32_t>(labels_, indices, out);
      break;
    default:
      copy_labels<int64_t>(labels_, indices, out);
      break;
  }
  return batch;
}

}  // namespace volt::data
