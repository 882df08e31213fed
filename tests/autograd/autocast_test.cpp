// Autocast: which ops run in half and which in f32, against the same ops in f32 (rel. 1e-2), on
// the CPU and, where one is usable, a GPU; the cast cache; gradients back in f32; the guard's
// nesting and refusals.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <string>
#include <vector>

#include "test_support.h"
#include "volt/volt.h"

namespace volt {
namespace {

using volt::testing::expect_error;

// Largest |a - b| relative to the largest |b|.
double rel_error(const Tensor& a, const Tensor& b) {
  const auto x = a.to_vector<double>(), y = b.to_vector<double>();
  double diff = 0, scale = 1e-30;
  for (std::size_t i = 0; i < x.size(); ++i) {
    diff = std::max(diff, std::abs(x[i] - y[i]));
    scale = std::max(scale, std::abs(y[i]));
  }
  return diff / scale;
}

// x [6, 8] activations, w [5, 8] a parameter.
struct AutocastOp {
  std::string name;
  bool lower;  // runs in the autocast dtype (else in f32)
  std::function<Tensor(const Tensor& x, const Tensor& w)> fn;
};

Tensor labels_on(Device d) { return tensor(std::vector<int64_t>{0, 3, 1, 2, 4, 0}).to(d); }

std::vector<AutocastOp> autocast_ops() {
  return {
      {"linear", true, [](const Tensor& x, const Tensor& w) { return linear(x, w); }},
      {"matmul", true, [](const Tensor& x, const Tensor& w) { return matmul(x, w.t()); }},
      {"mm", true, [](const Tensor& x, const Tensor& w) { return mm(x, w.t()); }},
      {"bmm", true, [](const Tensor& x, const Tensor& w) { return bmm(x.unsqueeze(0), w.t().unsqueeze(0)); }},
      {"softmax", false, [](const Tensor& x, const Tensor&) { return softmax(x, 1); }},
      {"log_softmax", false, [](const Tensor& x, const Tensor&) { return log_softmax(x, 1); }},
      {"cross_entropy", false,
       [](const Tensor& x, const Tensor& w) { return cross_entropy(linear(x, w), labels_on(x.device())); }},
      {"nll_loss", false,
       [](const Tensor& x, const Tensor& w) { return nll_loss(log_softmax(linear(x, w), 1), labels_on(x.device())); }},
      {"mse_loss", false,
       [](const Tensor& x, const Tensor& w) {
         return mse_loss(linear(x, w), zeros({6, 5}));
       }},
      {"l1_loss", false,
       [](const Tensor& x, const Tensor& w) {
         return l1_loss(linear(x, w), ones({6, 5}));
       }},
      {"bce_with_logits", false,
       [](const Tensor& x, const Tensor& w) {
         return binary_cross_entropy_with_logits(linear(x, w), full({6, 5}, 0.25));
       }},
      {"layer_norm", false, [](const Tensor& x, const Tensor&) { return layer_norm(x, {8}); }},
      {"sum", false, [](const Tensor& x, const Tensor&) { return sum(x, 1); }},
      {"norm", false, [](const Tensor& x, const Tensor&) { return norm(x); }},
      {"logsumexp", false, [](const Tensor& x, const Tensor&) { return logsumexp(x, 1); }},
      {"exp", false, [](const Tensor& x, const Tensor&) { return exp(x); }},
      {"log", false, [](const Tensor& x, const Tensor&) { return log(abs(x) + 1.0); }},
      {"softplus", false, [](const Tensor& x, const Tensor&) { return softplus(x); }},
  };
}

std::vector<Device> devices() {
  std::vector<Device> d{Device::cpu()};
  if (cuda::is_available()) d.push_back(Device::cuda(0));
  return d;
}

TEST(Autocast, EveryOpRunsInItsPrecisionAndMatchesF32) {
  for (const Device device : devices())
    for (const DType half : {DType::bf16, DType::f16})
      for (const AutocastOp& op : autocast_ops()) {
        manual_seed(1);
        const Tensor x = randn({6, 8}).to(device);
        Tensor w = randn({5, 8}).to(device).requires_grad_(true);
        const Tensor reference = op.fn(x, w);
        if (reference.requires_grad()) sum(reference).backward();
        const Tensor reference_grad = w.grad();
        w.set_grad(Tensor());
        Tensor got;
        {
          AutocastGuard autocast(device.type, half);
          // Inputs in the other precision too: a half activation meets the f32 list.
          got = op.fn(op.lower ? x : x.to(half), w);
        }
        const std::string what = op.name + " " + dtype_name(half) + " on " + device.str();
        EXPECT_EQ(got.dtype(), op.lower ? half : DType::f32) << what;
        EXPECT_LE(rel_error(got, reference), 1e-2) << what;
        if (reference_grad.defined()) {
          sum(got).backward();
          ASSERT_TRUE(w.grad().defined()) << what;
          EXPECT_EQ(w.grad().dtype(), DType::f32) << what;  // back to the f32 parameter
          EXPECT_LE(rel_error(w.grad(), reference_grad), 2e-2) << what;
        }
      }
}

TEST(Autocast, OtherOpsKeepTheDtypeTheyAreGivenAndMixByPromotion) {
  AutocastGuard autocast(DeviceType::cpu);
  EXPECT_EQ(get_autocast_dtype(DeviceType::cpu), DType::bf16);  // PyTorch's CPU default
  const Tensor h = linear(randn({4, 3}), randn({2, 3}));
  EXPECT_EQ(h.dtype(), DType::bf16);
  EXPECT_EQ(relu(h).dtype(), DType::bf16);
  EXPECT_EQ(dropout(h, 0.5, true).dtype(), DType::bf16);
  EXPECT_EQ(add(h, randn({2})).dtype(), DType::f32);                                            // bf16 with f32: f32
  EXPECT_EQ(linear(randn({4, 3}, DType::f64), randn({2, 3}, DType::f64)).dtype(), DType::f64);  // f64 passes
}

TEST(Autocast, CastsAParameterOncePerRegion) {
  Tensor w = randn({3, 3}).requires_grad_(true);
  const Tensor x = randn({2, 3});
  Tensor first, second;
  {
    AutocastGuard autocast(DeviceType::cpu);
    first = autocast::to_lower(w);
    EXPECT_EQ(first.impl(), autocast::to_lower(w).impl());                  // cached
    EXPECT_NE(autocast::to_lower(x).impl(), autocast::to_lower(x).impl());  // activations are not
    sum(add(linear(x, w), linear(x, w))).backward();
  }
  EXPECT_EQ(w.grad().dtype(), DType::f32);
  {
    AutocastGuard autocast(DeviceType::cpu);
    second = autocast::to_lower(w);
  }
  EXPECT_NE(first.impl(), second.impl());  // the cache is cleared when the region ends
}

TEST(Autocast, NestsRestoresAndRefuses) {
  EXPECT_FALSE(is_autocast_enabled(DeviceType::cpu));
  {
    AutocastGuard on(DeviceType::cpu, DType::f16);
    EXPECT_TRUE(is_autocast_enabled(DeviceType::cpu));
    {
      AutocastGuard off(DeviceType::cpu, std::nullopt, false);
      EXPECT_FALSE(is_autocast_enabled(DeviceType::cpu));
      EXPECT_EQ(linear(randn({1, 2}), randn({1, 2})).dtype(), DType::f32);
    }
    EXPECT_TRUE(is_autocast_enabled(DeviceType::cpu));
    EXPECT_EQ(get_autocast_dtype(DeviceType::cpu), DType::f16);
    expect_error([] { binary_cross_entropy(full({2}, 0.5), full({2}, 1.0)); },
                 {"binary_cross_entropy is unsafe to autocast", "binary_cross_entropy_with_logits"});
  }
  EXPECT_FALSE(is_autocast_enabled(DeviceType::cpu));
  expect_error([] { AutocastGuard bad(DeviceType::cpu, DType::f32); }, {"autocast: the dtype must be f16 or bf16"});
  if (!cuda::is_available())
    expect_error([] { AutocastGuard gpu(DeviceType::cuda); }, {"autocast: cannot autocast on cuda"});
}

}  // namespace
}  // namespace volt
