// DistributedSampler (PyTorch's torch.utils.data.distributed.DistributedSampler): each of
// num_replicas ranks takes a disjoint shard of every epoch. The epoch's order is the
// DataLoader's shuffle of (seed, epoch) (data::epoch_permutation), the same on every rank; rank
// r takes every num_replicas-th index of it from position r. Without drop_last the order is
// padded with its own first indices up to a multiple of num_replicas (a few samples then appear
// twice), with it the tail is dropped, so that every rank takes the same number of steps.
//
//   auto sampler = std::make_shared<parallel::DistributedSampler>(dataset.size(), world, rank);
//   data::DataLoader loader(dataset, {.batch_size = 64}, sampler);
//   loader.set_epoch(epoch);  // as PyTorch's sampler.set_epoch(epoch)
#pragma once

#include <cstdint>
#include <vector>

#include "volt/data/sampler.h"

namespace volt::parallel {

class DistributedSampler : public data::Sampler {
 public:
  DistributedSampler(int64_t dataset_size, int64_t num_replicas, int64_t rank, bool shuffle = true, uint64_t seed = 0,
                     bool drop_last = false);

  std::vector<int64_t> indices(uint64_t epoch) const override;
  int64_t size() const override { return num_samples_; }
  int64_t dataset_size() const override { return dataset_size_; }
  int64_t num_replicas() const { return num_replicas_; }
  int64_t rank() const { return rank_; }

 private:
  int64_t dataset_size_, num_replicas_, rank_;
  bool shuffle_;
  uint64_t seed_;
  bool drop_last_;
  int64_t num_samples_;  // per rank and epoch
};

}  // namespace volt::parallel
