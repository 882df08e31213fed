#include "volt/parallel/distributed_sampler.h"

#include <numeric>

#include "volt/core/error.h"
#include "volt/data/data_loader.h"

namespace volt::parallel {

DistributedSampler::DistributedSampler(int64_t dataset_size, int64_t num_replicas, int64_t rank, bool shuffle,
                                       uint64_t seed, bool drop_last)
    : dataset_size_(dataset_size),
      num_replicas_(num_replicas),
      rank_(rank),
      shuffle_(shuffle),
      seed_(seed),
      drop_last_(drop_last) {
  VOLT_CHECK(dataset_size >= 0, "DistributedSampler: negative dataset size ", dataset_size);
  VOLT_CHECK(num_replicas >= 1, "DistributedSampler: num_replicas must be at least 1, got ", num_replicas);
  VOLT_CHECK(rank >= 0 && rank < num_replicas, "DistributedSampler: rank ", rank, " is out of range [0, ", num_replicas,
             ")");
  // Per rank: the dataset's share rounded down (drop_last) or up (padding), as PyTorch's.
  num_samples_ =
      drop_last ? dataset_size / num_replicas : dataset_size / num_replicas + (dataset_size % num_replicas != 0);
}

std::vector<int64_t> DistributedSampler::indices(uint64_t epoch) const {
  std::vector<int64_t> order;
  if (shuffle_) {
    order = data::epoch_permutation(dataset_size_, seed_, epoch);
  } else {
    order.resize(static_cast<std::size_t>(dataset_size_));
    std::iota(order.begin(), order.end(), int64_t{0});
  }
  const auto total = static_cast<std::size_t>(num_samples_ * num_replicas_);
  // Padding repeats the order from its start, as often as it takes (a dataset smaller than the
  // number of ranks is repeated whole).
  for (std::size_t i = 0; order.size() < total && dataset_size_ > 0; ++i)
    order.push_back(order[i]);
  order.resize(total);
  std::vector<int64_t> mine;
  mine.reserve(static_cast<std::size_t>(num_samples_));
  for (std::size_t i = static_cast<std::size_t>(rank_); i < total; i += static_cast<std::size_t>(num_replicas_))
    mine.push_back(order[i]);
  return mine;
}

}  // namespace volt::parallel
