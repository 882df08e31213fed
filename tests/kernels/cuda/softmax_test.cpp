// The CUDA softmax family against the CPU twins (both layouts: a block per row and a thread per
// row), and against cuDNN's softmax as an independent oracle; the fused cross-entropy forward
// and backward, with ignored rows, label smoothing, masked (-inf) logits and bad targets.
#include "volt/kernels/softmax.h"

#include <cmath>
#include <string>
#include <vector>

#include "cuda_test_support.h"
#include "cudnn_oracle.h"
#include "volt/kernels/softmax.h"

namespace volt {
namespace {

using testing::agreement_tolerance;
using testing::all_close;
using testing::sample;

const DType kFloating[] = {DType::f32, DType::f64, DType::f16, DType::bf16};

struct Rows {
  int64_t outer, n, inner;
};

std::string str(DType t, const Rows& r) {
  return std::string(dtype_name(t)) + " [" + std::to_string(r.outer) + ", " + std::to_string(r.n) + ", " +
         std::to_string(r.inner) + "]";
}

std::vector<Rows> softmax_cases() {
  std::vector<Rows> cases;
  for (int64_t n : {1, 7, 1023, 65537}) {
    cases.push_back({3, n, 1});
    cases.push_back({2, n, 3});
  }
  cases.push_back({4, 7, 1200});  // enough rows for a thread each
  cases.push_back({5000, 7, 1});  // many short contiguous rows
  cases.push_back({0, 5, 1});
  return cases;
}

// Logits in [-4, 4), shifted by 1000 in every other element's row block (large logits must not
// lose precision), with a -inf (a masked logit) in the first row when it has more than one.
Tensor logits(int64_t numel, int64_t n, DType t, uint64_t seed) {
  Tensor x = sample(numel, DType::f64, seed, -4, 4);
  auto* p = x.data_ptr<double>();
  for (int64_t i = 0; i < numel; ++i)
    if ((i / std::max<int64_t>(n, 1)) % 2 == 1) p[i] += 1000;
  if (numel > 1 && n > 1) p[0] = -INFINITY;
  return x.to(t);
}

TEST(CudaSoftmax, ForwardMatchesCpu) {
  VOLT_REQUIRE_CUDA();
  for (DType t : kFloating)
    for (const Rows& r : softmax_cases())
      for (bool log : {false, true}) {
        const int64_t numel = r.outer * r.n * r.inner;
        const Tensor x = logits(numel, r.n * r.inner, t, 31);
        Tensor expected = empty({numel}, t);
        kernels::cpu::softmax(t, expected.data_ptr(), x.data_ptr(), r.outer, r.n, r.inner, log, Stream{});
        const Tensor xd = x.to(Device::cuda(0));
        Tensor actual = testing::cuda_empty({numel}, t);
        kernels::cuda::softmax(t, actual.data_ptr(), xd.data_ptr(), r.outer, r.n, r.inner, log, stream());
        EXPECT_TRUE(all_close(actual, expected, agreement_tolerance(t))) << str(t, r) << (log ? " log" : "");
      }
}

TEST(CudaSoftmax, BackwardMatchesCpu) {
  VOLT_REQUIRE_CUDA();
  for (DType t : kFloating)
    for (const Rows& r : softmax_cases())
      for (bool log : {false, true}) {
        const int64_t numel = r.outer * r.n * r.inner;
        const Tensor x = sample(numel, t, 32, -4, 4);
        Tensor y = empty({numel}, t);
        kernels::cpu::softmax(t, y.data_ptr(), x.data_ptr(), r.outer, r.n, r.inner, log, Stream{});
        const Tensor g = sample(numel, t, 33);
        Tensor expected = empty({numel}, t);
        kernels::cpu::softmax_backward(t, expected.data_ptr(), g.data_ptr(), y.data_ptr(), r.outer, r.n, r.inner, log,
                                       Stream{});
        const Tensor yd = y.to(Device::cuda(0)), gd = g.to(Device::cuda(0));
        Tensor actual = testing::cuda_empty({numel}, t);
        kernels::cuda::softmax_backward(t, actual.data_ptr(), gd.data_ptr(), yd.data_ptr(), r.outer, r.n, r.inner, log,
                                        stream());
        EXPECT_TRUE(all_close(actual, expected, agreement_tolerance(t))) << str(t, r) << (log ? " log" : "");
      }
}

// cuDNN computes softmax independently of both volt kernels (f32 sums in float there).
TEST(CudaSoftmax, ForwardMatchesCudnn) {
  VOLT_REQUIRE_CUDA();
  testing::CudnnOracle cudnn;
  for (DType t : {DType::f32, DType::f64})
    for (int64_t rows : {1, 7, 1023})
      for (int64_t classes : {1, 7, 1023, 65537}) {
        if (rows * classes > 2'000'000) continue;
        const Tensor x = sample(rows * classes, t, 34, -8, 8).to(Device::cuda(0));
        for (bool log : {false, true}) {
          Tensor y = testing::cuda_empty({rows * classes}, t);
          kernels::cuda::softmax(t, y.data_ptr(), x.data_ptr(), rows, classes, 1, log, stream());
          EXPECT_TRUE(all_close(y, cudnn.softmax(x.view({rows, classes}), log).view({-1}), agreement_tolerance(t)))
              << str(t, {rows, classes, 1}) << (log ? " log" : "");
        }
      }
}

// Losses and log_sum are kept in the accumulation type: f64 for f64, f32 otherwise.
DType acc_dtype(DType t) { return t == DType::f64 ? DType::f64 : DType::f32; }

TEST(CudaCrossEntropy, ForwardAndBackwardMatchCpu) {
  VOLT_REQUIRE_CUDA();
  const std::vector<std::pair<int64_t, int64_t>> shapes = {{0, 5}, {1, 1}, {7, 7}, {1023, 7}, {7, 1023}, {3, 65537}};
  for (DType t : kFloating)
    for (auto [rows, classes] : shapes)
      for (double smoothing : {0.0, 0.1}) {
        const kernels::CrossEntropyArgs args{rows, classes, -100, smoothing};
        Tensor x = logits(rows * classes, classes, t, 35);
        // Every fourth row ignored; the rest aim at a random class.
        std::vector<int64_t> target_values(static_cast<std::size_t>(rows));
        const std::vector<double> picks =
            sample(rows, DType::f64, 36, 0, static_cast<double>(classes), 1).to_vector<double>();
        for (int64_t r = 0; r < rows; ++r)
          target_values[r] = r % 4 == 3 ? -100 : static_cast<int64_t>(picks[r]);
        const Tensor target = tensor(target_values, {rows});
        const DType a = acc_dtype(t);
        const Tensor grad_loss = sample(rows, a, 37);
        const Tensor grad_mean = sample(1, a, 39);

        Tensor loss = empty({rows}, a), log_sum = empty({rows}, a), grad = empty({rows * classes}, t);
        Tensor mean = empty({1}, a), count = empty({1}, a), grad_of_mean = empty({rows * classes}, t);
        kernels::cpu::cross_entropy_forward(t, loss.data_ptr(), log_sum.data_ptr(), x.data_ptr(),
                                            target.data_ptr<int64_t>(), args, Stream{});
        kernels::cpu::cross_entropy_mean(t, mean.data_ptr(), count.data_ptr(), loss.data_ptr(),
                                         target.data_ptr<int64_t>(), args, Stream{});
        kernels::cpu::cross_entropy_backward(t, grad.data_ptr(), grad_loss.data_ptr(), nullptr, x.data_ptr(),
                                             log_sum.data_ptr(), target.data_ptr<int64_t>(), args, Stream{});
        kernels::cpu::cross_entropy_backward(t, grad_of_mean.data_ptr(), grad_mean.data_ptr(), count.data_ptr(),
                                             x.data_ptr(), log_sum.data_ptr(), target.data_ptr<int64_t>(), args,
                                             Stream{});

        const Tensor xd = x.to(Device::cuda(0)), td = target.to(Device::cuda(0)), gd = grad_loss.to(Device::cuda(0));
        const Tensor gmd = grad_mean.to(Device::cuda(0));
        Tensor dloss = testing::cuda_empty({rows}, a), dlog_sum = testing::cuda_empty({rows}, a);
        Tensor dgrad = testing::cuda_empty({rows * classes}, t),
               dgrad_of_mean = testing::cuda_empty({rows * classes}, t);
        Tensor dmean = testing::cuda_empty({1}, a), dcount = testing::cuda_empty({1}, a);
        kernels::cuda::cross_entropy_forward(t, dloss.data_ptr(), dlog_sum.data_ptr(), xd.data_ptr(),
                                             td.data_ptr<int64_t>(), args, stream());
        kernels::cuda::cross_entropy_mean(t, dmean.data_ptr(), dcount.data_ptr(), dloss.data_ptr(),
                                          td.data_ptr<int64_t>(), args, stream());
        kernels::cuda::cross_entropy_backward(t, dgrad.data_ptr(), gd.data_ptr(), nullptr, xd.data_ptr(),
                                              dlog_sum.data_ptr(), td.data_ptr<int64_t>(), args, stream());
        kernels::cuda::cross_entropy_backward(t, dgrad_of_mean.data_ptr(), gmd.data_ptr(), dcount.data_ptr(),
                                              xd.data_ptr(), dlog_sum.data_ptr(), td.data_ptr<int64_t>(), args,
                                              stream());

        const std::string what = std::string(dtype_name(t)) + " [" + std::to_string(rows) + ", " +
                                 std::to_string(classes) + "] ε=" + std::to_string(smoothing);
        EXPECT_TRUE(all_close(dloss, loss, agreement_tolerance(t))) << what << " loss";
        EXPECT_TRUE(all_close(dlog_sum, log_sum, agreement_tolerance(t))) << what << " log_sum";
        EXPECT_TRUE(all_close(dgrad, grad, agreement_tolerance(t))) << what << " grad";
        EXPECT_TRUE(all_close(dmean, mean, agreement_tolerance(t))) << what << " mean";
        EXPECT_EQ(dcount.item<double>(), count.item<double>()) << what << " count";
        EXPECT_TRUE(all_close(dgrad_of_mean, grad_of_mean, agreement_tolerance(t))) << what << " grad of the mean";
      }
}

// A target outside [0, classes) that is not ignore_index: NaN loss and gradient for that row,
// nothing read out of bounds, the other rows unaffected.
TEST(CudaCrossEntropy, BadTargetGivesNanRow) {
  VOLT_REQUIRE_CUDA();
  const kernels::CrossEntropyArgs args{4, 5, -100, 0.0};
  const Tensor x = sample(20, DType::f32, 38);
  const Tensor target = tensor(std::vector<int64_t>{1, 7, -100, -1}, {4});
  const Tensor xd = x.to(Device::cuda(0)), td = target.to(Device::cuda(0));
  const Tensor gd = ones({4}).to(Device::cuda(0));
  Tensor loss = testing::cuda_empty({4}, DType::f32), log_sum = testing::cuda_empty({4}, DType::f32);
  Tensor grad = testing::cuda_empty({20}, DType::f32);
  kernels::cuda::cross_entropy_forward(DType::f32, loss.data_ptr(), log_sum.data_ptr(), xd.data_ptr(),
                                       td.data_ptr<int64_t>(), args, stream());
  kernels::cuda::cross_entropy_backward(DType::f32, grad.data_ptr(), gd.data_ptr(), nullptr, xd.data_ptr(),
                                        log_sum.data_ptr(), td.data_ptr<int64_t>(), args, stream());
  const std::vector<float> l = loss.to_vector<float>(), g = grad.to_vector<float>();
  EXPECT_TRUE(std::isfinite(l[0]));
  EXPECT_TRUE(std::isnan(l[1]));
  EXPECT_EQ(l[2], 0.0f);
  EXPECT_TRUE(std::isnan(l[3]));
  for (int c = 0; c < 5; ++c) {
    EXPECT_TRUE(std::isfinite(g[c])) << c;
    EXPECT_TRUE(std::isnan(g[5 + c])) << c;
    EXPECT_EQ(g[10 + c], 0.0f) << c;
    EXPECT_TRUE(std::isnan(g[15 + c])) << c;
  }
  // Row 0 as the CPU computes it.
  const kernels::CrossEntropyArgs one{1, 5, -100, 0.0};
  Tensor cpu_loss = empty({1}), cpu_log_sum = empty({1});
  const int64_t t0 = 1;
  kernels::cpu::cross_entropy_forward(DType::f32, cpu_loss.data_ptr(), cpu_log_sum.data_ptr(), x.data_ptr(), &t0, one,
                                      Stream{});
  EXPECT_NEAR(l[0], cpu_loss.item<float>(), 1e-5);
}

}  // namespace
}  // namespace volt
