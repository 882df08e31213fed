// matmul (torch.matmul semantics) and linear against a naive triple loop, on contiguous and
// strided inputs; cat and stack against hand-built layouts.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <functional>

#include "test_support.h"
#include "volt/autograd/ops.h"
#include "volt/core/generator.h"
#include "volt/core/tensor.h"

namespace volt {
namespace {

using testing::error_of;
using ::testing::HasSubstr;

struct Expected {
  Shape shape;
  std::vector<double> values, scale;  // scale: Σ|a·b| per element, to bound rounding error
};

// torch.matmul by definition: 1-D operands are promoted ([k] -> [1, k] on the left, [k, 1] on
// the right) and the promoted dim removed again; batch dims broadcast.
Expected naive_matmul(const Tensor& a, const Tensor& b) {
  const auto va = a.to_vector<double>(), vb = b.to_vector<double>();
  Shape sa = a.shape(), sb = b.shape();
  if (sa.size() == 1) sa.insert(sa.begin(), 1);
  if (sb.size() == 1) sb.push_back(1);
  const int64_t m = sa[sa.size() - 2], k = sa.back(), n = sb.back();
  const Shape ba(sa.begin(), sa.end() - 2), bb(sb.begin(), sb.end() - 2);
  const Shape batch = testing::naive_broadcast_shape(ba, bb);
  const std::size_t nb = batch.size();
  auto batch_index = [&](const Shape& own, const std::vector<int64_t>& idx) {
    int64_t flat = 0;
    for (std::size_t d = 0; d < own.size(); ++d)
      flat = flat * own[d] + (own[d] == 1 ? 0 : idx[d + nb - own.size()]);
    return flat;
  };
  Expected e;
  std::vector<int64_t> idx(nb, 0);
  for (int64_t t = 0; t < numel(batch); ++t) {
    const double* pa = va.data() + batch_index(ba, idx) * m * k;
    const double* pb = vb.data() + batch_index(bb, idx) * k * n;
    for (int64_t i = 0; i < m; ++i)
      for (int64_t j = 0; j < n; ++j) {
        double s = 0, abs_sum = 0;
        for (int64_t p = 0; p < k; ++p) {
          s += pa[i * k + p] * pb[p * n + j];
          abs_sum += std::abs(pa[i * k + p] * pb[p * n + j]);
        }
        e.values.push_back(s);
        e.scale.push_back(abs_sum);
      }
    for (std::size_t d = nb; d-- > 0;) {
      if (++idx[d] < batch[d]) break;
      idx[d] = 0;
    }
  }
  e.shape = batch;
  if (a.dim() > 1) e.shape.push_back(m);
  if (b.dim() > 1) e.shape.push_back(n);
  return e;
}

void check_matmul(const Tensor& a, const Tensor& b, const std::string& what) {
  const Expected e = naive_matmul(a, b);
  const Tensor c = matmul(a, b);
  ASSERT_EQ(c.shape(), e.shape) << what;
  EXPECT_EQ(c.dtype(), a.dtype());
  const double rel = a.dtype() == DType::f64 ? 1e-13 : 1e-5;
  const auto got = c.to_vector<double>();
  ASSERT_EQ(got.size(), e.values.size()) << what;
  for (std::size_t i = 0; i < got.size(); ++i)
    ASSERT_NEAR(got[i], e.values[i], rel * e.scale[i] + 1e-30) << what << " element " << i;
}

Tensor uniform(const Shape& shape, DType dtype, Generator& g) { return rand(shape, dtype, &g) * 2.0 - 1.0; }

TEST(Matmul, VectorAndMatrixCases) {
  Generator g(1);
  for (DType dt : {DType::f32, DType::f64}) {
    check_matmul(uniform({7}, dt, g), uniform({7}, dt, g), "dot");
    check_matmul(uniform({1023}, dt, g), uniform({1023}, dt, g), "long dot");
    check_matmul(uniform({5}, dt, g), uniform({5, 3}, dt, g), "vector-matrix");
    check_matmul(uniform({4, 5}, dt, g), uniform({5}, dt, g), "matrix-vector");
    for (auto [m, k, n] : std::vector<std::array<int64_t, 3>>{
             {1, 1, 1}, {7, 3, 5}, {1, 7, 1}, {65, 33, 17}, {1023, 7, 3}, {2, 1023, 2}, {3, 0, 4}, {0, 4, 2}}) {
      check_matmul(uniform({m, k}, dt, g), uniform({k, n}, dt, g),
                   "mm " + std::to_string(m) + "x" + std::to_string(k) + "x" + std::to_string(n));
    }
  }
  EXPECT_EQ(matmul(ones({3}), ones({3})).dim(), 0);
  // An empty inner dim is a sum of nothing: zeros, not garbage.
  EXPECT_EQ(matmul(ones({2, 0}), ones({0, 3})).to_vector<float>(), std::vector<float>(6, 0.0f));
}

TEST(Matmul, TransposedAndStridedInputs) {
  Generator g(2);
  for (DType dt : {DType::f32, DType::f64}) {
    Tensor a = uniform({6, 4}, dt, g), b = uniform({5, 6}, dt, g);
    check_matmul(a.t(), b.t(), "aᵀ·bᵀ");  // both column-major
    check_matmul(a.t(), uniform({6, 3}, dt, g), "aᵀ·b");
    check_matmul(uniform({3, 5}, dt, g), b, "a·b");
    Tensor wide = uniform({4, 12}, dt, g);
    check_matmul(wide.slice(1, 0, 12, 2), uniform({6, 2}, dt, g), "every other column");  // needs a copy
    check_matmul(wide.narrow(1, 3, 5), uniform({5, 2}, dt, g), "narrowed columns");       // ld > cols
    check_matmul(uniform({3, 4}, dt, g), wide.t().narrow(0, 2, 4), "narrowed rows of a transpose");
    Tensor v = uniform({10}, dt, g).slice(0, 0, 10, 2);  // strided vector
    check_matmul(uniform({3, 5}, dt, g), v, "matrix·strided vector");
    check_matmul(v, uniform({2, 5}, dt, g).t(), "strided vector·column-major matrix");
  }
}

TEST(Matmul, BatchedAndBroadcast) {
  Generator g(3);
  for (DType dt : {DType::f32, DType::f64}) {
    check_matmul(uniform({4, 3, 5}, dt, g), uniform({4, 5, 2}, dt, g), "bmm");
    check_matmul(uniform({4, 3, 5}, dt, g), uniform({5, 2}, dt, g), "batch·matrix");
    check_matmul(uniform({3, 5}, dt, g), uniform({4, 5, 2}, dt, g), "matrix·batch");
    check_matmul(uniform({2, 1, 3, 5}, dt, g), uniform({4, 5, 2}, dt, g), "broadcast batch");
    check_matmul(uniform({5}, dt, g), uniform({2, 3, 5, 4}, dt, g), "vector·batch");
    check_matmul(uniform({2, 3, 4, 5}, dt, g), uniform({5}, dt, g), "batch·vector");
    check_matmul(uniform({0, 3, 5}, dt, g), uniform({5, 2}, dt, g), "empty batch");
    // Non-contiguous batches: a permuted batch dim and a transposed last pair.
    Tensor p = uniform({3, 4, 5}, dt, g).permute({1, 0, 2});  // [4, 3, 5], batch stride 5
    Tensor q = uniform({4, 2, 5}, dt, g).transpose(1, 2);     // [4, 5, 2]
    check_matmul(p, q, "permuted batches");
    check_matmul(uniform({2, 3, 5}, dt, g).expand({4, 2, 3, 5}), q.narrow(0, 0, 2), "expanded batch");
  }
}

TEST(Matmul, HalfTypesRoundTheFloatResult) {
  // 1 + 2^-11 rounds to 1 in f16, so the product of [1, 2^-11] and [1, 1] is 1 after rounding once.
  Tensor a = tensor({1.0, 0x1.0p-11}, DType::f16).view({1, 2});
  Tensor b = ones({2, 1}, DType::f16);
  EXPECT_EQ(matmul(a, b).dtype(), DType::f16);
  EXPECT_EQ(matmul(a, b).item<double>(), 1.0);
  Generator g(4);
  Tensor x = uniform({7, 9}, DType::f32, g), y = uniform({9, 3}, DType::f32, g);
  const auto ref = matmul(x.to(DType::bf16).to(DType::f32), y.to(DType::bf16).to(DType::f32)).to(DType::bf16);
  EXPECT_EQ(matmul(x.to(DType::bf16), y.to(DType::bf16)).to_vector<double>(), ref.to_vector<double>());
}

TEST(Matmul, Errors) {
  const std::string msg = error_of([] { matmul(zeros({2, 3}), zeros({4, 5})); });
  EXPECT_THAT(msg, HasSubstr("[2, 3] and [4, 5] cannot be multiplied (3 vs 4)"));
  EXPECT_THAT(error_of([] { matmul(zeros({3}), zeros({4})); }), HasSubstr("3 vs 4"));
  EXPECT_THAT(error_of([] { matmul(zeros({2, 2, 3}), zeros({3, 3, 1})); }), HasSubstr("cannot be broadcast"));
  EXPECT_THAT(error_of([] { matmul(scalar_tensor(1), zeros({1})); }), HasSubstr("at least 1 dim"));
  EXPECT_THAT(error_of([] { matmul(zeros({2, 2}), zeros({2, 2}, DType::f64)); }), HasSubstr("dtypes differ"));
  EXPECT_THAT(error_of([] {
                matmul(zeros({2, 2}, DType::i64), zeros({2, 2}, DType::i64));
              }),
              HasSubstr("expected a floating tensor"));
}

TEST(Linear, MatchesXWtPlusB) {
  Generator g(5);
  Tensor x = uniform({2, 3, 4}, DType::f64, g), w = uniform({5, 4}, DType::f64, g), bias = uniform({5}, DType::f64, g);
  const auto vx = x.to_vector<double>(), vw = w.to_vector<double>(), vb = bias.to_vector<double>();
  const Tensor y = linear(x, w, bias);
  ASSERT_EQ(y.shape(), (Shape{2, 3, 5}));
  const auto vy = y.to_vector<double>();
  for (int r = 0; r < 6; ++r)
    for (int o = 0; o < 5; ++o) {
      double s = vb[o];
      for (int i = 0; i < 4; ++i)
        s += vx[r * 4 + i] * vw[o * 4 + i];
      EXPECT_NEAR(vy[r * 5 + o], s, 1e-13) << r << ", " << o;
    }
  EXPECT_EQ(linear(x, w).to_vector<double>(), matmul(x, w.t()).to_vector<double>());
  EXPECT_THAT(error_of([&] { linear(x, uniform({5, 3}, DType::f64, g)); }), HasSubstr("last dim must be 3"));
}

TEST(Cat, ConcatenatesAlongAnyDim) {
  Tensor a = arange(6).view({2, 3});
  Tensor b = arange(6, 10).view({2, 2});
  Tensor c = cat({a, b}, 1);
  EXPECT_EQ(c.shape(), (Shape{2, 5}));
  EXPECT_EQ(c.to_vector<float>(), (std::vector<float>{0, 1, 2, 6, 7, 3, 4, 5, 8, 9}));
  EXPECT_EQ(cat({a, b, zeros({2, 0})}, -1).to_vector<float>(), c.to_vector<float>());
  Tensor r = cat({a, arange(3).view({1, 3}), a.narrow(0, 1, 1)});
  EXPECT_EQ(r.shape(), (Shape{4, 3}));
  EXPECT_EQ(r.to_vector<float>(), (std::vector<float>{0, 1, 2, 3, 4, 5, 0, 1, 2, 3, 4, 5}));
  // Non-contiguous pieces.
  Tensor t = cat({a.t(), b.t()}, 0);  // [3, 2] and [2, 2]
  EXPECT_EQ(t.to_vector<float>(), (std::vector<float>{0, 3, 1, 4, 2, 5, 6, 8, 7, 9}));
  for (int64_t n : {1, 7, 1023}) {
    Tensor x = arange(static_cast<double>(n)), y = arange(static_cast<double>(n), 2.0 * n);
    EXPECT_EQ(cat({x, y}).to_vector<float>(), arange(2.0 * n).to_vector<float>()) << n;
  }
  // Gradients split back to the pieces.
  Tensor p = ones({2, 2}, TensorOptions().requires_grad()), q = ones({2, 1}, TensorOptions().requires_grad());
  (cat({p, q}, 1) * tensor({1.0, 2.0, 3.0})).sum().backward();
  EXPECT_EQ(p.grad().to_vector<float>(), (std::vector<float>{1, 2, 1, 2}));
  EXPECT_EQ(q.grad().to_vector<float>(), (std::vector<float>{3, 3}));
}

TEST(Cat, Stack) {
  Tensor a = tensor({1.0, 2.0, 3.0}), b = tensor({4.0, 5.0, 6.0});
  EXPECT_EQ(stack({a, b}).shape(), (Shape{2, 3}));
  EXPECT_EQ(stack({a, b}).to_vector<float>(), (std::vector<float>{1, 2, 3, 4, 5, 6}));
  EXPECT_EQ(stack({a, b}, 1).shape(), (Shape{3, 2}));
  EXPECT_EQ(stack({a, b}, -1).to_vector<float>(), (std::vector<float>{1, 4, 2, 5, 3, 6}));
  EXPECT_EQ(stack({scalar_tensor(1), scalar_tensor(2)}).to_vector<float>(), (std::vector<float>{1, 2}));
  EXPECT_EQ(stack({a}).shape(), (Shape{1, 3}));
}

TEST(Cat, Errors) {
  const std::string msg = error_of([] { cat({zeros({2, 3}), zeros({3, 2})}, 1); });
  EXPECT_THAT(msg, HasSubstr("f32[3, 2]"));
  EXPECT_THAT(msg, HasSubstr("f32[2, 3]"));
  EXPECT_THAT(msg, HasSubstr("outside dim 1"));
  EXPECT_THAT(error_of([] { cat({zeros({2}), zeros({2}, DType::f64)}); }), HasSubstr("dtypes differ"));
  EXPECT_THAT(error_of([] { cat({}); }), HasSubstr("non-empty"));
  EXPECT_THAT(error_of([] { cat({scalar_tensor(1)}); }), HasSubstr("zero-dim"));
  EXPECT_THAT(error_of([] { stack({zeros({2}), zeros({3})}); }), HasSubstr("must have the same shape"));
  EXPECT_THROW(cat({zeros({2, 2}), zeros({2})}), Error);
}

}  // namespace
}  // namespace volt
