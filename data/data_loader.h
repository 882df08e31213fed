// DataLoader: batches of a TensorDataset, in a shuffled order that depends only on
// (seed, epoch), so the same seed gives the same batches on any machine and after a resume.
//
//   data::DataLoader loader(data::FashionMnist(data::Split::train),
//                           {.batch_size = 64, .seed = 1, .drop_last = true});
//   for (int epoch = 0; epoch < 10; ++epoch)
//     for (const data::Batch& b : loader) step(b.images, b.labels);  // [64, 784] f32, [64] i64
//
// Epochs: begin() takes the loader's current epoch; an iteration that reaches the end moves
// the loader to the next epoch. One that stops early (break) leaves it where it was; call
// set_epoch() to choose one explicitly (e.g. when resuming).
#pragma once

#include <cstddef>
#include <cstdint>
#include <iterator>
#include <memory>
#include <vector>

#include "volt/data/sampler.h"
#include "volt/data/tensor_dataset.h"

namespace volt::data {

struct DataLoaderOptions {
  int64_t batch_size = 64;
  bool shuffle = true;     // false: samples in dataset order every epoch
  uint64_t seed = 0;       // with `epoch`, fixes the order
  bool drop_last = false;  // drop a last batch smaller than batch_size
  bool flatten = true;     // images [B, prod(sample shape)]; false: [B, sample shape...]
};

// The sample order of epoch `epoch` for a dataset of n samples: Fisher-Yates (for i = n-1 down
// to 1, swap p[i] with p[j], j uniform in [0, i]) on the identity permutation. Its random words
// are Philox4x32-10 blocks keyed by `seed`, counter = (block index in words 0-1, epoch in words
// 2-3); block k gives the 64-bit draws (v0 << 32 | v1) and (v2 << 32 | v3), in that order. j is
// Lemire's unbiased multiply-shift on a 64-bit draw: high 64 bits of draw * (i + 1), redrawing
// while the low 64 bits are below 2^64 mod (i + 1).
std::vector<int64_t> epoch_permutation(int64_t n, uint64_t seed, uint64_t epoch);

// PyTorch's random_split: the dataset cut into parts of these lengths (summing to its size), in
// the order of epoch_permutation(size, seed, 0), so a seed fixes the split on every machine.
//   auto parts = data::random_split(train_set, {55000, 5000}, 42);  // train, held-out validation
std::vector<TensorDataset> random_split(const TensorDataset& dataset, const std::vector<int64_t>& lengths,
                                        uint64_t seed);

class DataLoader {
 public:
  class Iterator;

  // Throws if batch_size < 1, the dataset is empty, or drop_last leaves no batch.
  DataLoader(TensorDataset dataset, DataLoaderOptions options = {});
  // The sampler decides which samples each epoch takes and their order (options.shuffle and
  // options.seed are then not used); it must be made for a dataset of this size.
  DataLoader(TensorDataset dataset, DataLoaderOptions options, std::shared_ptr<const Sampler> sampler);

  int64_t size() const { return num_batches_; }  // batches per epoch
  int64_t batch_size() const { return options_.batch_size; }
  int64_t dataset_size() const { return dataset_.size(); }
  const TensorDataset& dataset() const { return dataset_; }
  const DataLoaderOptions& options() const { return options_; }

  uint64_t epoch() const { return epoch_; }
  void set_epoch(uint64_t epoch) { epoch_ = epoch; }
  // Sample indices of the current epoch, in the order batches take them.
  std::vector<int64_t> order() const;

  // Iterates the current epoch from batch `first_batch` (0 <= first_batch <= size()); skipped
  // batches cost nothing. The loader must outlive the iterator.
  Iterator begin(int64_t first_batch = 0);
  std::default_sentinel_t end() const { return {}; }

 private:
  friend class Iterator;
  TensorDataset dataset_;
  DataLoaderOptions options_;
  std::shared_ptr<const Sampler> sampler_;
  int64_t num_batches_ = 0;
  uint64_t epoch_ = 0;
};

class DataLoader::Iterator {
 public:
  using iterator_concept = std::input_iterator_tag;
  using iterator_category = std::input_iterator_tag;
  using value_type = Batch;
  using difference_type = std::ptrdiff_t;

  Iterator() = default;
  // By value (two tensor handles), so `*loader.begin()` cannot dangle.
  Batch operator*() const { return batch_; }
  const Batch* operator->() const { return &batch_; }
  Iterator& operator++();
  void operator++(int) { ++*this; }
  int64_t index() const { return index_; }  // batch index within the epoch
  uint64_t epoch() const { return epoch_; }

  friend bool operator==(const Iterator& it, std::default_sentinel_t) {
    return it.loader_ == nullptr || it.index_ >= it.loader_->size();
  }

 private:
  friend class DataLoader;
  Iterator(DataLoader* loader, int64_t index);
  void load();

  DataLoader* loader_ = nullptr;
  std::shared_ptr<const std::vector<int64_t>> order_;
  uint64_t epoch_ = 0;
  int64_t index_ = 0;
  Batch batch_;
};

}  // namespace volt::data
