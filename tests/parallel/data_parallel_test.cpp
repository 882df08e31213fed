// DataParallel over CPU replicas: the same forward and parameter gradients as the plain module
// (the plain module is the reference: nothing here comes from DataParallel's own code), uneven
// and small batches, three replicas, dropout that is the same run after run, the caller's grad
// mode and autocast in the replicas, and the errors.
#include "volt/parallel/data_parallel.h"

#include <gtest/gtest.h>

#include <mutex>
#include <set>
#include <string>
#include <thread>

#include "test_support.h"
#include "volt/volt.h"

namespace volt::parallel {
namespace {

using volt::testing::expect_error;

const Device kCpu = Device::cpu();

// The classic network, 784 → 100, ReLU, dropout, 100 → 10; the same weights for the same seed.
std::shared_ptr<nn::Sequential> classic_net(uint64_t seed, double dropout = 0.0) {
  Generator gen(seed);
  return std::make_shared<nn::Sequential>(std::initializer_list<std::shared_ptr<nn::Module>>{
      std::make_shared<nn::Linear>(784, 100, true, &gen), std::make_shared<nn::ReLU>(),
      std::make_shared<nn::Dropout>(dropout), std::make_shared<nn::Linear>(100, 10, true, &gen)});
}

struct Batch {
  Tensor images, labels;
};

Batch batch_of(int64_t n, uint64_t seed = 7) {
  Generator gen(seed);
  Tensor images = randn({n, 784}, DType::f32, &gen);
  Tensor labels = randint(0, 10, {n}, DType::i64, &gen);
  return {images, labels};
}

// The output and every parameter's gradient after one forward and backward of cross-entropy.
struct Step {
  Tensor output;
  std::vector<Tensor> grads;
};

Step step(nn::Module& model, nn::Module& owner, const Batch& b) {
  owner.zero_grad();
  Step s;
  s.output = model(b.images);
  cross_entropy(s.output, b.labels).backward();
  for (const Tensor& p : owner.parameters()) {
    EXPECT_TRUE(p.grad().defined());
    s.grads.push_back(p.grad().defined() ? p.grad() : zeros(p.shape()));
  }
  return s;
}

void expect_close(const Tensor& a, const Tensor& b, double tolerance, const std::string& what) {
  ASSERT_EQ(a.shape(), b.shape()) << what;
  const auto x = a.to(DType::f64).contiguous().to_vector<double>();
  const auto y = b.to(DType::f64).contiguous().to_vector<double>();
  for (std::size_t i = 0; i < x.size(); ++i)
    ASSERT_NEAR(x[i], y[i], tolerance) << what << " element " << i;
}

void expect_equal(const Tensor& a, const Tensor& b, const std::string& what) { expect_close(a, b, 0.0, what); }

// DataParallel over `devices` CPU replicas against the plain module, for a batch of `n`.
void expect_matches_plain_module(int64_t devices, int64_t n) {
  SCOPED_TRACE("devices " + std::to_string(devices) + ", batch " + std::to_string(n));
  auto plain = classic_net(1);
  auto wrapped = classic_net(1);
  DataParallel dp(wrapped, std::vector<Device>(static_cast<std::size_t>(devices), kCpu));
  const Batch b = batch_of(n);
  const Step want = step(*plain, *plain, b);
  const Step got = step(dp, *wrapped, b);
  expect_close(got.output, want.output, 1e-6, "output");
  ASSERT_EQ(got.grads.size(), want.grads.size());
  const auto names = plain->named_parameters();
  for (std::size_t i = 0; i < want.grads.size(); ++i)
    expect_close(got.grads[i], want.grads[i], 1e-6, "gradient of " + names[i].first);
}

TEST(DataParallel, TwoCpuReplicasMatchThePlainModule) { expect_matches_plain_module(2, 64); }

TEST(DataParallel, BatchNotDivisibleByTheReplicaCount) {
  expect_matches_plain_module(2, 7);
  expect_matches_plain_module(4, 5);  // chunks of 2: three replicas run (2, 2, 1)
}

TEST(DataParallel, BatchSmallerThanTheReplicaCount) {
  expect_matches_plain_module(3, 2);
  expect_matches_plain_module(2, 1);
}

TEST(DataParallel, ThreeReplicas) { expect_matches_plain_module(3, 30); }

TEST(DataParallel, OneDeviceIsThePlainModule) { expect_matches_plain_module(1, 16); }

TEST(DataParallel, GradientsSumOverStepsLikeThePlainModule) {
  auto plain = classic_net(3);
  auto wrapped = classic_net(3);
  DataParallel dp(wrapped, {kCpu, kCpu});
  const Batch b1 = batch_of(10, 1), b2 = batch_of(10, 2);
  for (const Batch* b : {&b1, &b2}) {  // no zero_grad between: the second adds to the first
    cross_entropy((*plain)(b->images), b->labels).backward();
    cross_entropy(dp(b->images), b->labels).backward();
  }
  const auto want = plain->parameters(), got = wrapped->parameters();
  for (std::size_t i = 0; i < want.size(); ++i)
    expect_close(got[i].grad(), want[i].grad(), 1e-6, "parameter " + std::to_string(i));
}

TEST(DataParallel, DropoutWithAFixedSeedIsTheSameRunAfterRun) {
  auto run_once = [](uint64_t seed) {
    auto net = classic_net(5, 0.5);
    Generator gen(seed);
    DataParallel dp(net, {kCpu, kCpu, kCpu}, std::nullopt, &gen);
    Step last;
    for (int i = 0; i < 3; ++i)
      last = step(dp, *net, batch_of(12));
    return last;
  };
  const Step first = run_once(42);
  for (int run = 0; run < 3; ++run) {
    const Step again = run_once(42);
    expect_equal(again.output, first.output, "output");
    for (std::size_t i = 0; i < first.grads.size(); ++i)
      expect_equal(again.grads[i], first.grads[i], "gradient " + std::to_string(i));
  }
  // Dropout is on: another seed drops other units.
  const Step other = run_once(43);
  EXPECT_NE(other.output.to_vector<float>(), first.output.to_vector<float>());
}

TEST(DataParallel, ReplicasDrawDifferentDropoutMasks) {
  // Every sample the same: without dropout every row of the output would be equal.
  auto net = classic_net(6, 0.5);
  Generator gen(0);
  DataParallel dp(net, {kCpu, kCpu}, std::nullopt, &gen);
  const Tensor x = randn({1, 784}).expand({4, 784}).contiguous();
  const std::vector<float> out = dp(x).to_vector<float>();
  const std::vector<float> replica0_row0(out.begin(), out.begin() + 10),
      replica1_row0(out.begin() + 20, out.begin() + 30);
  EXPECT_NE(replica0_row0, replica1_row0);
}

// A module that notes which thread ran it.
struct ThreadRecorder : nn::Module {
  std::shared_ptr<std::mutex> mutex = std::make_shared<std::mutex>();
  std::shared_ptr<std::set<std::thread::id>> threads = std::make_shared<std::set<std::thread::id>>();
  Tensor forward(const Tensor& x) override {
    const std::lock_guard lock(*mutex);
    threads->insert(std::this_thread::get_id());
    return x * 2.0;
  }
  std::shared_ptr<nn::Module> clone(const TensorMap& map = {}) const override { return clone_as(*this, map); }
};

TEST(DataParallel, EachReplicaRunsOnAThreadOfItsOwn) {
  auto recorder = std::make_shared<ThreadRecorder>();
  DataParallel dp(recorder, {kCpu, kCpu, kCpu});
  const Tensor out = dp(arange(6.0).reshape({6, 1}));
  EXPECT_EQ(out.to_vector<float>(), (std::vector<float>{0, 2, 4, 6, 8, 10}));
  EXPECT_EQ(recorder->threads->size(), 3u);
}

// Records the grad mode and autocast state its forward saw.
struct StateRecorder : nn::Module {
  std::shared_ptr<std::mutex> mutex = std::make_shared<std::mutex>();
  std::shared_ptr<std::vector<std::pair<bool, bool>>> seen = std::make_shared<std::vector<std::pair<bool, bool>>>();
  Tensor forward(const Tensor& x) override {
    const std::lock_guard lock(*mutex);
    seen->emplace_back(is_grad_enabled(), is_autocast_enabled(DeviceType::cpu));
    return x;
  }
  std::shared_ptr<nn::Module> clone(const TensorMap& map = {}) const override { return clone_as(*this, map); }
};

TEST(DataParallel, ReplicasRunUnderTheCallersGradModeAndAutocast) {
  auto recorder = std::make_shared<StateRecorder>();
  DataParallel dp(recorder, {kCpu, kCpu});
  const Tensor x = ones({4, 3});
  {
    const NoGradGuard no_grad;
    dp(x);
  }
  {
    const AutocastGuard autocast(DeviceType::cpu, DType::bf16);
    dp(x);
  }
  using Seen = std::vector<std::pair<bool, bool>>;
  EXPECT_EQ(*recorder->seen, (Seen{{false, false}, {false, false}, {true, true}, {true, true}}));

  // And the layers follow it: a linear under CPU autocast computes in bf16.
  auto net = classic_net(2);
  DataParallel dp_net(net, {kCpu, kCpu});
  const AutocastGuard autocast(DeviceType::cpu, DType::bf16);
  const Tensor out = dp_net(batch_of(4).images);
  EXPECT_EQ(out.dtype(), (*net)(batch_of(4).images).dtype());
  EXPECT_EQ(out.dtype(), DType::bf16);
}

TEST(DataParallel, OutputDoesNotRequireGradUnderNoGrad) {
  auto net = classic_net(2);
  DataParallel dp(net, {kCpu, kCpu});
  const NoGradGuard no_grad;
  EXPECT_FALSE(dp(batch_of(6).images).requires_grad());
}

TEST(DataParallel, IsAModuleHoldingTheOriginalAsModule) {
  auto net = classic_net(2);
  DataParallel dp(net, {kCpu, kCpu});
  EXPECT_EQ(&dp.module(), net.get());
  std::vector<std::string> names;
  for (const auto& [name, t] : dp.named_parameters())
    names.push_back(name);
  EXPECT_EQ(names, (std::vector<std::string>{"module.0.weight", "module.0.bias", "module.3.weight", "module.3.bias"}));
  const auto ours = dp.parameters(), theirs = net->parameters();
  for (std::size_t i = 0; i < ours.size(); ++i)
    EXPECT_TRUE(ours[i].is_same(theirs[i]));
  dp.eval();
  EXPECT_FALSE(net->is_training());
}

// Sums its slice: a 0-dim output per replica, gathered as one element each (as PyTorch's gather).
struct SumAll : nn::Module {
  Tensor forward(const Tensor& x) override { return x.sum(); }
  std::shared_ptr<nn::Module> clone(const TensorMap& map = {}) const override { return clone_as(*this, map); }
};

TEST(DataParallel, ScalarOutputsGatherIntoAVector) {
  DataParallel dp(std::make_shared<SumAll>(), {kCpu, kCpu});
  const Tensor out = dp(arange(5.0));  // slices [0, 1, 2] and [3, 4]
  EXPECT_EQ(out.shape(), (Shape{2}));
  EXPECT_EQ(out.to_vector<float>(), (std::vector<float>{3, 7}));
}

TEST(DataParallel, GradientFlowsBackToTheInput) {
  auto net = classic_net(4);
  DataParallel dp(net, {kCpu, kCpu, kCpu});
  Tensor x = batch_of(5).images.requires_grad_();
  Tensor x_plain = x.detach().clone().requires_grad_();
  dp(x).sum().backward();
  (*net)(x_plain).sum().backward();
  expect_close(x.grad(), x_plain.grad(), 1e-6, "input gradient");
}

struct NotCloneable : nn::Module {
  Tensor forward(const Tensor& x) override { return x; }
};

// Fails on a slice of fewer than three samples.
struct FailsOnSmallSlices : nn::Module {
  Tensor forward(const Tensor& x) override {
    VOLT_CHECK(x.size(0) >= 3, "FailsOnSmallSlices: only ", x.size(0), " samples");
    return x;
  }
  std::shared_ptr<nn::Module> clone(const TensorMap& map = {}) const override { return clone_as(*this, map); }
};

TEST(DataParallel, ErrorsAreClear) {
  auto net = classic_net(0);
  expect_error([&] { DataParallel dp(net, {}); }, {"DataParallel", "device_ids is empty"});
  expect_error([&] { DataParallel dp(nullptr, {kCpu}); }, {"DataParallel", "null"});
  DataParallel dp(net, {kCpu, kCpu});
  expect_error([&] { dp(full({}, 1.0)); }, {"DataParallel", "no batch dim"});
  expect_error([&] { dp(Tensor()); }, {"DataParallel", "undefined"});

  DataParallel not_cloneable(std::make_shared<NotCloneable>(), {kCpu, kCpu});
  expect_error([&] { not_cloneable(ones({4, 2})); }, {"NotCloneable", "clone"});

  DataParallel failing(std::make_shared<FailsOnSmallSlices>(), {kCpu, kCpu});
  EXPECT_EQ(failing(ones({6, 2})).size(0), 6);  // slices of 3 and 3
  expect_error([&] { failing(ones({5, 2})); }, {"replica 1", "on cpu", "only 2 samples"});
}

}  // namespace
}  // namespace volt::parallel
