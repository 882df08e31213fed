// TensorDataset: N samples held in memory, u8 images [N, ...] and integer labels [N]. Batches
// are converted on the way out (u8 -> f32 in [0, 1], labels -> i64), so the resident copy stays
// one byte per pixel.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "volt/core/tensor.h"

namespace volt::data {

struct Batch {
  Tensor images;  // f32, [B, prod(sample shape)] or [B, sample shape...]; values in [0, 1]
  Tensor labels;  // i64, [B]
};

// dst[i] = src[i] / 255.f for i < n: the value PyTorch's ToTensor gives. Division rather than a
// multiply by 1/255.f, which differs in the last bit for 126 of the 256 inputs; it vectorises
// all the same (IEEE division needs no -ffast-math).
void u8_to_unit_float(const uint8_t* src, float* dst, std::size_t n);

class TensorDataset {
 public:
  TensorDataset() = default;
  // images: u8 on the CPU, at least 1-D, dim 0 = samples. labels: u8, i32 or i64 on the CPU,
  // shape [N]. Non-contiguous inputs are copied to contiguous ones.
  TensorDataset(Tensor images, Tensor labels);

  int64_t size() const { return images_.defined() ? images_.size(0) : 0; }
  const Tensor& images() const { return images_; }
  const Tensor& labels() const { return labels_; }
  Shape sample_shape() const;  // images' shape without dim 0
  int64_t sample_numel() const { return sample_numel_; }

  // Gathers the samples at `indices` (each in [0, size())) into a new batch: images f32
  // [B, sample_numel()] when `flatten`, else [B, sample shape...]; labels i64 [B].
  Batch get_batch(std::span<const int64_t> indices, bool flatten = true) const;
  // The samples at `indices` (each in [0, size()), repeats allowed), in that order, as a dataset
  // of its own (PyTorch's Subset, but holding a copy: u8 stays one byte per pixel).
  TensorDataset subset(std::span<const int64_t> indices) const;

 private:
  Tensor images_;
  Tensor labels_;
  int64_t sample_numel_ = 0;
};

}  // namespace volt::data
