#include "volt/data/data_loader.h"

#include <algorithm>
#include <numeric>
#include <span>
#include <utility>

#include "volt/core/error.h"
#include "volt/core/philox.h"

namespace volt::data {
namespace {

// 64-bit words from the Philox stream of (seed, epoch); see epoch_permutation.
class PhiloxDraws {
 public:
  PhiloxDraws(uint64_t seed, uint64_t epoch) : seed_(seed), epoch_(epoch) {}

  uint64_t next() {
    if (half_ == 0) {
      block_ = philox4x32_10(Philox4x32{{static_cast<uint32_t>(counter_), static_cast<uint32_t>(counter_ >> 32),
                                         static_cast<uint32_t>(epoch_), static_cast<uint32_t>(epoch_ >> 32)}},
                             static_cast<uint32_t>(seed_), static_cast<uint32_t>(seed_ >> 32));
      ++counter_;
    }
    const uint64_t r = (uint64_t{block_.v[2 * half_]} << 32) | block_.v[2 * half_ + 1];
    half_ ^= 1;
    return r;
  }

  // Uniform in [0, bound), bound >= 1, without modulo bias (Lemire 2019, "Fast random integer
  // generation in an interval").
  uint64_t below(uint64_t bound) {
    unsigned __int128 m = static_cast<unsigned __int128>(next()) * bound;
    if (static_cast<uint64_t>(m) < bound) {
      const uint64_t threshold = (0 - bound) % bound;  // 2^64 mod bound
      while (static_cast<uint64_t>(m) < threshold)
        m = static_cast<unsigned __int128>(next()) * bound;
    }
    return static_cast<uint64_t>(m >> 64);
  }

 private:
  uint64_t seed_, epoch_;
  uint64_t counter_ = 0;
  int half_ = 0;
  Philox4x32 block_{};
};

}  // namespace

std::vector<int64_t> epoch_permutation(int64_t n, uint64_t seed, uint64_t epoch) {
  VOLT_CHECK(n >= 0, "epoch_permutation: negative size ", n);
  std::vector<int64_t> p(static_cast<std::size_t>(n));
  std::iota(p.begin(), p.end(), int64_t{0});
  PhiloxDraws draws(seed, epoch);
  for (int64_t i = n - 1; i >= 1; --i) {
    const auto j = static_cast<int64_t>(draws.below(static_cast<uint64_t>(i) + 1));
    std::swap(p[i], p[j]);
  }
  return p;
}

std::vector<TensorDataset> random_split(const TensorDataset& dataset, const std::vector<int64_t>& lengths,
                                        uint64_t seed) {
  int64_t total = 0;
  for (int64_t length : lengths) {
    VOLT_CHECK(length >= 0, "random_split: a length must be 0 or more, got ", length);
    total += length;
  }
  VOLT_CHECK(total == dataset.size(), "random_split: the lengths sum to ", total, ", but the dataset holds ",
             dataset.size(), " samples");
  const std::vector<int64_t> order = epoch_permutation(dataset.size(), seed, 0);
  std::vector<TensorDataset> parts;
  int64_t start = 0;
  for (int64_t length : lengths) {
    parts.push_back(dataset.subset(
        std::span<const int64_t>(order).subspan(static_cast<std::size_t>(start), static_cast<std::size_t>(length))));
    start += length;
  }
  return parts;
}

DataLoader::DataLoader(TensorDataset dataset, DataLoaderOptions options)
    : DataLoader(std::move(dataset), options, nullptr) {}

DataLoader::DataLoader(TensorDataset dataset, DataLoaderOptions options, std::shared_ptr<const Sampler> sampler)
    : dataset_(std::move(dataset)), options_(options), sampler_(std::move(sampler)) {
  VOLT_CHECK(!sampler_ || sampler_->dataset_size() == dataset_.size(), "DataLoader: the sampler was made for ",
             sampler_ ? sampler_->dataset_size() : 0, " samples, the dataset has ", dataset_.size());
  const int64_t n = sampler_ ? sampler_->size() : dataset_.size();
  const int64_t b = options_.batch_size;
  VOLT_CHECK(b >= 1, "DataLoader: batch_size must be at least 1, got ", b);
  VOLT_CHECK(n >= 1, sampler_ ? "DataLoader: the sampler takes no samples" : "DataLoader: the dataset is empty");
  num_batches_ = options_.drop_last ? n / b : n / b + (n % b != 0);  // no n + b - 1: b may be near INT64_MAX
  VOLT_CHECK(num_batches_ >= 1, "DataLoader: drop_last with batch_size ", b, " larger than the dataset (", n,
             " samples) leaves no batch");
}

std::vector<int64_t> DataLoader::order() const {
  if (sampler_) {
    std::vector<int64_t> p = sampler_->indices(epoch_);
    VOLT_CHECK(static_cast<int64_t>(p.size()) == sampler_->size(), "DataLoader: the sampler gave ", p.size(),
               " indices for epoch ", epoch_, ", it said ", sampler_->size());
    for (int64_t i : p)
      VOLT_CHECK(i >= 0 && i < dataset_.size(), "DataLoader: the sampler gave index ", i, " for a dataset of ",
                 dataset_.size(), " samples");
    return p;
  }
  if (options_.shuffle) return epoch_permutation(dataset_.size(), options_.seed, epoch_);
  std::vector<int64_t> p(static_cast<std::size_t>(dataset_.size()));
  std::iota(p.begin(), p.end(), int64_t{0});
  return p;
}

DataLoader::Iterator DataLoader::begin(int64_t first_batch) {
  VOLT_CHECK(first_batch >= 0 && first_batch <= num_batches_, "DataLoader::begin: first batch ", first_batch,
             " out of range [0, ", num_batches_, "]");
  return Iterator(this, first_batch);
}

DataLoader::Iterator::Iterator(DataLoader* loader, int64_t index)
    : loader_(loader),
      order_(std::make_shared<const std::vector<int64_t>>(loader->order())),
      epoch_(loader->epoch_),
      index_(index) {
  load();
}

void DataLoader::Iterator::load() {
  if (index_ >= loader_->num_batches_) {
    batch_ = Batch{};
    return;
  }
  const int64_t b = loader_->options_.batch_size;
  const int64_t start = index_ * b;
  const int64_t count = std::min(b, static_cast<int64_t>(order_->size()) - start);
  batch_ = loader_->dataset_.get_batch(
      std::span<const int64_t>(order_->data() + start, static_cast<std::size_t>(count)), loader_->options_.flatten);
}

DataLoader::Iterator& DataLoader::Iterator::operator++() {
  VOLT_CHECK(loader_ != nullptr && index_ < loader_->num_batches_, "DataLoader::Iterator: incremented past the end");
  ++index_;
  load();
  // Finishing the epoch moves the loader on, unless someone already moved it (set_epoch, or a
  // copy of this iterator that finished first).
  if (index_ == loader_->num_batches_ && loader_->epoch_ == epoch_) loader_->epoch_ = epoch_ + 1;
  return *this;
}

}  // namespace volt::data
