// DataLoader and TensorDataset on tiny synthetic data whose labels are the sample indices, so
// every batch says which samples it holds. Expected orders come from a second implementation
// of the documented shuffle written here, and from properties (each sample once per epoch,
// uniform over permutations), not from the loader's own output.
#include "volt/data/data_loader.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <iterator>
#include <map>
#include <numeric>
#include <set>
#include <vector>

#include "volt/autograd/ops.h"
#include "volt/core/error.h"
#include "volt/core/philox.h"

using volt::DType;
using volt::Shape;
using volt::Tensor;
using volt::data::Batch;
using volt::data::DataLoader;
using volt::data::DataLoaderOptions;
using volt::data::TensorDataset;

static_assert(std::input_iterator<DataLoader::Iterator>);
static_assert(std::sentinel_for<std::default_sentinel_t, DataLoader::Iterator>);

namespace {

// Pixel k of sample i: an odd multiple of the flat position, so n * 6 >= 256 covers all bytes.
uint8_t pixel(int64_t i, int64_t k) { return static_cast<uint8_t>(((i * 6 + k) * 149 + 3) % 256); }

// n samples of 2x3 u8 images; label of sample i is i (as i64).
TensorDataset indexed_dataset(int64_t n) {
  std::vector<uint8_t> img(static_cast<std::size_t>(n * 6));
  for (int64_t i = 0; i < n; ++i)
    for (int64_t k = 0; k < 6; ++k)
      img[static_cast<std::size_t>(i * 6 + k)] = pixel(i, k);
  std::vector<int64_t> labels(static_cast<std::size_t>(n));
  std::iota(labels.begin(), labels.end(), int64_t{0});
  return TensorDataset(volt::tensor(img, {n, 2, 3}), volt::tensor(labels, {n}));
}

// Sample indices of every batch of one pass over `loader`.
std::vector<std::vector<int64_t>> pass(DataLoader& loader) {
  std::vector<std::vector<int64_t>> out;
  for (const Batch& b : loader)
    out.push_back(b.labels.to_vector<int64_t>());
  return out;
}

std::vector<int64_t> flat(const std::vector<std::vector<int64_t>>& batches) {
  std::vector<int64_t> all;
  for (const auto& b : batches)
    all.insert(all.end(), b.begin(), b.end());
  return all;
}

std::vector<int64_t> iota(int64_t n) {
  std::vector<int64_t> v(static_cast<std::size_t>(n));
  std::iota(v.begin(), v.end(), int64_t{0});
  return v;
}

// The shuffle as data_loader.h documents it, written independently.
std::vector<int64_t> reference_permutation(int64_t n, uint64_t seed, uint64_t epoch) {
  std::vector<uint64_t> draws;
  uint64_t block = 0;
  auto draw = [&]() -> uint64_t {
    if (draws.empty()) {
      const volt::Philox4x32 r =
          volt::philox4x32_10({{uint32_t(block), uint32_t(block >> 32), uint32_t(epoch), uint32_t(epoch >> 32)}},
                              uint32_t(seed), uint32_t(seed >> 32));
      ++block;
      draws = {(uint64_t(r.v[2]) << 32) | r.v[3], (uint64_t(r.v[0]) << 32) | r.v[1]};  // popped from the back
    }
    const uint64_t d = draws.back();
    draws.pop_back();
    return d;
  };
  std::vector<int64_t> p = iota(n);
  for (int64_t i = n - 1; i >= 1; --i) {
    const uint64_t bound = uint64_t(i) + 1;
    const uint64_t reject_below = (~uint64_t{0} - bound + 1) % bound;  // 2^64 mod bound
    unsigned __int128 m;
    do
      m = static_cast<unsigned __int128>(draw()) * bound;
    while (uint64_t(m) < reject_below);
    std::swap(p[static_cast<std::size_t>(i)], p[static_cast<std::size_t>(uint64_t(m >> 64))]);
  }
  return p;
}

template <class F>
void expect_error(F&& f, const std::string& part) {
  try {
    f();
    ADD_FAILURE() << "no volt::Error thrown; expected one mentioning '" << part << "'";
  } catch (const volt::Error& e) {
    EXPECT_NE(std::string(e.what()).find(part), std::string::npos) << e.what();
  }
}

}  // namespace

TEST(DataLoader, BatchesHaveTheDocumentedShapesAndTypes) {
  DataLoader loader(indexed_dataset(10), {.batch_size = 4, .seed = 1});
  EXPECT_EQ(loader.size(), 3);
  EXPECT_EQ(loader.batch_size(), 4);
  EXPECT_EQ(loader.dataset_size(), 10);
  int64_t count = 0;
  for (const Batch& b : loader) {
    const int64_t expect_b = count < 2 ? 4 : 2;
    EXPECT_EQ(b.images.dtype(), DType::f32);
    EXPECT_EQ(b.images.shape(), (Shape{expect_b, 6}));
    EXPECT_EQ(b.labels.dtype(), DType::i64);
    EXPECT_EQ(b.labels.shape(), (Shape{expect_b}));
    ++count;
  }
  EXPECT_EQ(count, 3);

  DataLoader unflat(indexed_dataset(10), {.batch_size = 4, .flatten = false});
  EXPECT_EQ(unflat.begin()->images.shape(), (Shape{4, 2, 3}));
}

TEST(DataLoader, PixelsAreScaledExactlyAndMatchTheirLabel) {
  // 50 samples x 6 pixels hits every byte value.
  DataLoader loader(indexed_dataset(50), {.batch_size = 7, .seed = 3});
  std::set<int> seen_values;
  for (const Batch& b : loader) {
    const std::vector<int64_t> idx = b.labels.to_vector<int64_t>();
    const std::vector<float> px = b.images.to_vector<float>();
    for (std::size_t r = 0; r < idx.size(); ++r)
      for (int64_t k = 0; k < 6; ++k) {
        const uint8_t v = pixel(idx[r], k);
        seen_values.insert(v);
        const float got = px[r * 6 + static_cast<std::size_t>(k)];
        EXPECT_EQ(got, static_cast<float>(v) / 255.0f) << "sample " << idx[r] << " pixel " << k;
        EXPECT_GE(got, 0.0f);
        EXPECT_LE(got, 1.0f);
      }
  }
  EXPECT_EQ(seen_values.size(), 256u);
}

TEST(DataLoader, ConversionLoopIsExactForEveryByteAndLength) {
  for (std::size_t n : {0u, 1u, 7u, 256u, 1023u}) {
    std::vector<uint8_t> src(n);
    for (std::size_t i = 0; i < n; ++i)
      src[i] = static_cast<uint8_t>(255 - i % 256);
    std::vector<float> dst(n + 1, -7.0f);  // poisoned, one past the end as a guard
    volt::data::u8_to_unit_float(src.data(), dst.data(), n);
    for (std::size_t i = 0; i < n; ++i)
      EXPECT_EQ(dst[i], float(src[i]) / 255.0f) << i;
    EXPECT_EQ(dst[n], -7.0f);
  }
  const uint8_t ends[2] = {0, 255};
  float out[2];
  volt::data::u8_to_unit_float(ends, out, 2);
  EXPECT_EQ(out[0], 0.0f);
  EXPECT_EQ(out[1], 1.0f);
}

TEST(DataLoader, EverySampleOncePerEpoch) {
  for (bool shuffle : {true, false}) {
    DataLoader loader(indexed_dataset(23), {.batch_size = 5, .shuffle = shuffle, .seed = 9});
    for (int epoch = 0; epoch < 3; ++epoch) {
      std::vector<int64_t> all = flat(pass(loader));
      std::sort(all.begin(), all.end());
      EXPECT_EQ(all, iota(23)) << "shuffle " << shuffle << " epoch " << epoch;
    }
  }
}

TEST(DataLoader, WithoutShuffleOrderIsTheDatasetOrder) {
  DataLoader loader(indexed_dataset(11), {.batch_size = 3, .shuffle = false, .seed = 5});
  EXPECT_EQ(flat(pass(loader)), iota(11));
  EXPECT_EQ(flat(pass(loader)), iota(11));
}

TEST(DataLoader, SameSeedSameBatchesDifferentSeedDifferentOrder) {
  DataLoader a(indexed_dataset(100), {.batch_size = 8, .seed = 42});
  DataLoader b(indexed_dataset(100), {.batch_size = 8, .seed = 42});
  DataLoader c(indexed_dataset(100), {.batch_size = 8, .seed = 43});
  auto ia = a.begin();
  auto ib = b.begin();
  for (; ia != a.end(); ++ia, ++ib) {
    ASSERT_NE(ib, b.end());
    EXPECT_EQ(ia->labels.to_vector<int64_t>(), ib->labels.to_vector<int64_t>());
    EXPECT_EQ(ia->images.to_vector<float>(), ib->images.to_vector<float>());
  }
  EXPECT_EQ(ib, b.end());
  const std::vector<int64_t> order_c = flat(pass(c));
  a.set_epoch(0);
  const std::vector<int64_t> order_a = flat(pass(a));
  EXPECT_NE(order_a, order_c);
  EXPECT_NE(order_a, iota(100));
}

TEST(DataLoader, OrderFollowsTheDocumentedShuffle) {
  for (uint64_t seed : {uint64_t{0}, uint64_t{1}, uint64_t{0x123456789abcdefull}})
    for (uint64_t epoch : {uint64_t{0}, uint64_t{1}, uint64_t{1} << 40}) {
      EXPECT_EQ(volt::data::epoch_permutation(1000, seed, epoch), reference_permutation(1000, seed, epoch))
          << "seed " << seed << " epoch " << epoch;
    }
  DataLoader loader(indexed_dataset(37), {.batch_size = 6, .seed = 77, .drop_last = true});
  loader.set_epoch(5);
  std::vector<int64_t> expected = reference_permutation(37, 77, 5);
  expected.resize(36);
  EXPECT_EQ(flat(pass(loader)), expected);
}

TEST(DataLoader, ShuffleIsUniformOverPermutations) {
  // 24 permutations of 4 items, 24000 seeds: about 1000 each, standard deviation about 31.
  // Fixed seeds, so the outcome is deterministic; the bounds are ~5 standard deviations.
  std::map<std::vector<int64_t>, int> count;
  for (uint64_t seed = 0; seed < 24000; ++seed)
    ++count[volt::data::epoch_permutation(4, seed, 0)];
  EXPECT_EQ(count.size(), 24u);
  for (const auto& [perm, c] : count) {
    EXPECT_GT(c, 850);
    EXPECT_LT(c, 1150);
  }
  // Over epochs of one seed too.
  count.clear();
  for (uint64_t epoch = 0; epoch < 24000; ++epoch)
    ++count[volt::data::epoch_permutation(4, 7, epoch)];
  EXPECT_EQ(count.size(), 24u);
  for (const auto& [perm, c] : count) {
    EXPECT_GT(c, 850);
    EXPECT_LT(c, 1150);
  }
}

TEST(DataLoader, EpochsAdvanceAndGiveDifferentOrders) {
  DataLoader loader(indexed_dataset(64), {.batch_size = 10, .seed = 2});
  EXPECT_EQ(loader.epoch(), 0u);
  const auto e0 = pass(loader);
  EXPECT_EQ(loader.epoch(), 1u);
  const auto e1 = pass(loader);
  EXPECT_EQ(loader.epoch(), 2u);
  EXPECT_NE(flat(e0), flat(e1));

  loader.set_epoch(0);
  EXPECT_EQ(pass(loader), e0);
  EXPECT_EQ(pass(loader), e1);

  // Stopping early leaves the epoch alone.
  loader.set_epoch(1);
  for (const Batch& b : loader) {
    EXPECT_EQ(b.labels.to_vector<int64_t>(), e1[0]);
    break;
  }
  EXPECT_EQ(loader.epoch(), 1u);
  EXPECT_EQ(pass(loader), e1);
}

TEST(DataLoader, BeginAtABatchResumesMidEpoch) {
  DataLoader loader(indexed_dataset(30), {.batch_size = 4, .seed = 8});
  loader.set_epoch(3);
  const auto full = pass(loader);
  loader.set_epoch(3);
  std::vector<std::vector<int64_t>> tail;
  for (auto it = loader.begin(5); it != loader.end(); ++it) {
    EXPECT_EQ(it.epoch(), 3u);
    tail.push_back(it->labels.to_vector<int64_t>());
  }
  EXPECT_EQ(tail, std::vector<std::vector<int64_t>>(full.begin() + 5, full.end()));
  EXPECT_EQ(loader.epoch(), 4u);
  EXPECT_EQ(loader.begin(loader.size()), loader.end());
  expect_error([&] { loader.begin(loader.size() + 1); }, "first batch 9 out of range [0, 8]");
  expect_error([&] { loader.begin(-1); }, "out of range");
}

TEST(DataLoader, DropLastBatchCounts) {
  struct Case {
    int64_t n, b;
    bool drop_last;
    int64_t batches, last;
  };
  for (const Case& c :
       {Case{10, 3, false, 4, 1}, Case{10, 3, true, 3, 3}, Case{9, 3, false, 3, 3}, Case{9, 3, true, 3, 3},
        Case{5, 8, false, 1, 5}, Case{1, 1, true, 1, 1}, Case{64, 64, true, 1, 64}}) {
    DataLoader loader(indexed_dataset(c.n), {.batch_size = c.b, .seed = 4, .drop_last = c.drop_last});
    EXPECT_EQ(loader.size(), c.batches) << c.n << "/" << c.b << " drop_last " << c.drop_last;
    const auto batches = pass(loader);
    ASSERT_EQ(static_cast<int64_t>(batches.size()), c.batches);
    for (std::size_t i = 0; i + 1 < batches.size(); ++i)
      EXPECT_EQ(static_cast<int64_t>(batches[i].size()), c.b);
    EXPECT_EQ(static_cast<int64_t>(batches.back().size()), c.last);
    // With drop_last the dropped samples are distinct and the rest appear once.
    std::vector<int64_t> all = flat(batches);
    std::sort(all.begin(), all.end());
    EXPECT_EQ(std::adjacent_find(all.begin(), all.end()), all.end());
    EXPECT_EQ(static_cast<int64_t>(all.size()), c.drop_last ? c.n / c.b * c.b : c.n);
  }
}

TEST(DataLoader, LabelsOfAnyIntegerTypeBecomeI64) {
  const Tensor images = volt::tensor(std::vector<uint8_t>{0, 51, 255}, {3, 1});
  for (DType dt : {DType::u8, DType::i32, DType::i64}) {
    const Tensor labels = volt::tensor(std::vector<int64_t>{7, 0, 200}).to(dt);
    DataLoader loader(TensorDataset(images, labels), {.batch_size = 3, .shuffle = false});
    const Batch b = *loader.begin();
    EXPECT_EQ(b.labels.dtype(), DType::i64);
    EXPECT_EQ(b.labels.to_vector<int64_t>(), (std::vector<int64_t>{7, 0, 200}));
    EXPECT_EQ(b.images.to_vector<float>(), (std::vector<float>{0.0f, 0.2f, 1.0f}));
  }
}

TEST(DataLoader, BadArgumentsGiveClearErrors) {
  expect_error([] { DataLoader(indexed_dataset(4), {.batch_size = 0}); }, "batch_size must be at least 1, got 0");
  expect_error([] { DataLoader(indexed_dataset(4), {.batch_size = -3}); }, "got -3");
  expect_error([] { DataLoader(indexed_dataset(4), {.batch_size = 5, .drop_last = true}); },
               "drop_last with batch_size 5 larger than the dataset (4 samples)");
  expect_error([] { DataLoader(TensorDataset(), {}); }, "dataset is empty");
  expect_error([] { DataLoader(indexed_dataset(0), {}); }, "dataset is empty");
}

TEST(TensorDataset, RejectsMismatchedInputs) {
  const Tensor images = volt::zeros({4, 2}, DType::u8);
  expect_error([&] { TensorDataset(images, volt::zeros({3}, DType::i64)); }, "4 images but 3 labels");
  expect_error(
      [&] {
        TensorDataset(volt::zeros({4, 2}), volt::zeros({4}, DType::i64));
      },
      "images must be a u8 CPU tensor");
  expect_error([&] { TensorDataset(images, volt::zeros({4, 1}, DType::i64)); }, "labels must be");
  expect_error([&] { TensorDataset(images, volt::zeros({4})); }, "labels must be");
  expect_error([&] { TensorDataset(Tensor(), volt::zeros({4}, DType::i64)); }, "must be defined");
  const TensorDataset ds = indexed_dataset(3);
  const std::vector<int64_t> bad = {0, 3};
  expect_error([&] { ds.get_batch(bad); }, "index 3 out of range for a dataset of 3 samples");
}

TEST(TensorDataset, NonContiguousImagesAreGatheredCorrectly) {
  // [3, 2] transposed from [2, 3]: sample i is column i of the original.
  const Tensor base = volt::tensor(std::vector<uint8_t>{1, 2, 3, 4, 5, 6}, {2, 3});
  const TensorDataset ds(base.t(), volt::tensor(std::vector<int64_t>{0, 1, 2}));
  const std::vector<int64_t> idx = {2, 0};
  const Batch b = ds.get_batch(idx);
  EXPECT_EQ(b.images.to_vector<float>(), (std::vector<float>{3 / 255.f, 6 / 255.f, 1 / 255.f, 4 / 255.f}));
  EXPECT_EQ(b.labels.to_vector<int64_t>(), (std::vector<int64_t>{2, 0}));
}

TEST(TensorDataset, SubsetHoldsTheChosenSamplesInOrder) {
  const TensorDataset ds = indexed_dataset(5);
  const std::vector<int64_t> idx = {4, 1, 1};
  const TensorDataset sub = ds.subset(idx);
  ASSERT_EQ(sub.size(), 3);
  EXPECT_EQ(sub.sample_shape(), (Shape{2, 3}));
  EXPECT_EQ(sub.labels().to_vector<int64_t>(), idx);
  const std::vector<uint8_t> pixels = sub.images().to_vector<uint8_t>();
  for (int64_t k = 0; k < 3; ++k)
    for (int64_t p = 0; p < 6; ++p)
      EXPECT_EQ(pixels[static_cast<std::size_t>(k * 6 + p)], pixel(idx[static_cast<std::size_t>(k)], p));
  const std::vector<int64_t> bad = {5};
  expect_error([&] { (void)ds.subset(bad); }, "index 5 out of range for a dataset of 5 samples");
}

TEST(RandomSplit, PartsFollowTheSeededPermutationAndCoverEverySampleOnce) {
  const TensorDataset ds = indexed_dataset(50);
  const std::vector<TensorDataset> parts = volt::data::random_split(ds, {30, 0, 20}, 7);
  ASSERT_EQ(parts.size(), 3u);
  EXPECT_EQ(parts[0].size(), 30);
  EXPECT_EQ(parts[1].size(), 0);
  EXPECT_EQ(parts[2].size(), 20);
  const std::vector<int64_t> want = reference_permutation(50, 7, 0);
  std::vector<int64_t> got = parts[0].labels().to_vector<int64_t>();
  const std::vector<int64_t> rest = parts[2].labels().to_vector<int64_t>();
  got.insert(got.end(), rest.begin(), rest.end());
  EXPECT_EQ(got, want);
  // Another seed, another split; the same seed, the same one.
  EXPECT_NE(volt::data::random_split(ds, {30, 20}, 8)[0].labels().to_vector<int64_t>(),
            parts[0].labels().to_vector<int64_t>());
  EXPECT_EQ(volt::data::random_split(ds, {30, 20}, 7)[1].labels().to_vector<int64_t>(), rest);
  expect_error([&] { volt::data::random_split(ds, {30, 30}, 7); }, "the lengths sum to 60, but the dataset holds 50");
  expect_error([&] { volt::data::random_split(ds, {60, -10}, 7); }, "a length must be 0 or more, got -10");
}
