// sum / mean / max / argmax over dims, and softmax / log_softmax, against naive loops.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <limits>

#include "test_support.h"
#include "volt/autograd/ops.h"
#include "volt/core/generator.h"
#include "volt/core/tensor.h"

namespace volt {
namespace {

using testing::error_of;
using ::testing::HasSubstr;

// Reduces `v` (row-major, `shape`) over `dims` with `combine`, giving the keepdim layout.
std::vector<double> naive_reduce(const std::vector<double>& v, const Shape& shape, const std::vector<int64_t>& dims,
                                 double init, const std::function<double(double, double)>& combine) {
  Shape out = shape;
  for (int64_t d : dims)
    out[d] = 1;
  std::vector<double> r(static_cast<std::size_t>(numel(out)), init);
  std::vector<int64_t> idx(shape.size(), 0);
  for (std::size_t n = 0; n < v.size(); ++n) {
    int64_t flat = 0;
    for (std::size_t d = 0; d < shape.size(); ++d)
      flat = flat * out[d] + (out[d] == 1 ? 0 : idx[d]);
    r[flat] = combine(r[flat], v[n]);
    for (std::size_t d = shape.size(); d-- > 0;) {
      if (++idx[d] < shape[d]) break;
      idx[d] = 0;
    }
  }
  return r;
}

Shape reduced_shape(const Shape& shape, const std::vector<int64_t>& dims, bool keepdim) {
  Shape out;
  for (int64_t d = 0; d < static_cast<int64_t>(shape.size()); ++d) {
    const bool reduced = std::find(dims.begin(), dims.end(), d) != dims.end();
    if (!reduced)
      out.push_back(shape[d]);
    else if (keepdim)
      out.push_back(1);
  }
  return out;
}

void expect_close(const std::vector<double>& got, const std::vector<double>& want, double rel,
                  const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  for (std::size_t i = 0; i < got.size(); ++i)
    ASSERT_NEAR(got[i], want[i], rel * (1.0 + std::abs(want[i]))) << what << " element " << i;
}

// Relative error only: softmax outputs of long rows are small, and an absolute tolerance
// would accept anything.
void expect_relative(const std::vector<double>& got, const std::vector<double>& want, double rel,
                     const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  for (std::size_t i = 0; i < got.size(); ++i)
    ASSERT_NEAR(got[i], want[i], rel * std::abs(want[i])) << what << " element " << i;
}

TEST(Reduction, SumAndMeanOverDims) {
  Generator g(1);
  struct Case {
    Shape shape;
    std::vector<int64_t> dims;  // sorted, non-negative
  };
  const Case cases[] = {
      {{7}, {0}},          {{3, 4}, {0}},    {{3, 4}, {1}},    {{3, 4}, {0, 1}},    {{2, 3, 5}, {1}},
      {{2, 3, 5}, {0, 2}}, {{4, 1, 6}, {1}}, {{2, 0, 3}, {1}}, {{2, 0, 3}, {0, 2}}, {{1023}, {0}},
  };
  for (DType dtype : {DType::f32, DType::f64}) {
    for (const Case& c : cases) {
      Tensor x = rand(c.shape, dtype, &g) - 0.5;
      const auto v = x.to_vector<double>();
      const auto sums = naive_reduce(v, c.shape, c.dims, 0.0, std::plus<>());
      int64_t count = 1;
      for (int64_t d : c.dims)
        count *= c.shape[d];
      std::vector<double> means;
      for (double s : sums)
        means.push_back(s / static_cast<double>(count));
      for (bool keepdim : {false, true}) {
        const std::string what = shape_str(c.shape) + " over " + shape_str(c.dims) + (keepdim ? " keepdim" : "");
        Tensor s = x.sum(c.dims, keepdim);
        EXPECT_EQ(s.shape(), reduced_shape(c.shape, c.dims, keepdim)) << what;
        EXPECT_EQ(s.dtype(), dtype);
        expect_close(s.to_vector<double>(), sums, 1e-5, "sum " + what);
        if (count > 0) expect_close(x.mean(c.dims, keepdim).to_vector<double>(), means, 1e-5, "mean " + what);
      }
      // Negative dims name the same dims.
      std::vector<int64_t> negative;
      for (int64_t d : c.dims)
        negative.push_back(d - static_cast<int64_t>(c.shape.size()));
      EXPECT_EQ(x.sum(negative).to_vector<double>(), x.sum(c.dims).to_vector<double>());
    }
  }
}

TEST(Reduction, FullReductions) {
  for (int64_t n : {0, 1, 7, 1023, 65537}) {
    Tensor x = arange(static_cast<double>(n), DType::f64);
    const double want = static_cast<double>(n) * static_cast<double>(n - 1) / 2;
    EXPECT_EQ(x.sum().item<double>(), want) << n;
    EXPECT_EQ(x.sum().dim(), 0);
    if (n > 0) {
      EXPECT_DOUBLE_EQ(x.mean().item<double>(), want / static_cast<double>(n)) << n;
      EXPECT_EQ(x.max().item<double>(), static_cast<double>(n - 1));
    }
    // f32 accumulates in float, one element after another: exact while the partial sums fit
    // in 24 bits, then off by up to ~n/2 ulps (1.4e-5 relative for 65537).
    EXPECT_NEAR(x.to(DType::f32).sum().item<double>(), want, (n < 5000 ? 0.0 : 3e-5) * want) << n;
  }
  EXPECT_TRUE(std::isnan(zeros({0}).mean().item<float>()));  // 0 / 0
  Tensor nc = arange(12).view({3, 4}).t();                   // non-contiguous
  EXPECT_EQ(nc.sum({1}).to_vector<float>(), (std::vector<float>{12, 15, 18, 21}));
  EXPECT_EQ(nc.sum({0}, true).to_vector<float>(), (std::vector<float>{6, 22, 38}));
  EXPECT_EQ(scalar_tensor(3).sum().item<float>(), 3.0f);
}

TEST(Reduction, IntegerAndHalfSums) {
  Tensor i = tensor(std::vector<int32_t>{2000000000, 2000000000});
  EXPECT_EQ(i.sum().dtype(), DType::i64);  // widened, as PyTorch, so this does not overflow
  EXPECT_EQ(i.sum().item<int64_t>(), 4000000000);
  Tensor b = tensor(std::vector<bool>{true, false, true, true});
  EXPECT_EQ(b.sum().dtype(), DType::i64);
  EXPECT_EQ(b.sum().item<int64_t>(), 3);
  Tensor u = full({300}, 200, DType::u8);
  EXPECT_EQ(u.sum().item<int64_t>(), 60000);
  // 4096 ones sum to 4096 in f32 even though f16 cannot count past 2048 one at a time.
  Tensor h = ones({4096}, DType::f16);
  EXPECT_EQ(h.sum().dtype(), DType::f16);
  EXPECT_EQ(h.sum().item<double>(), 4096.0);
  EXPECT_EQ(ones({3, 5}, DType::bf16).sum({1}).to_vector<double>(), (std::vector<double>{5, 5, 5}));
  EXPECT_THAT(error_of([] { zeros({2}, DType::i64).mean(); }), HasSubstr("expected a floating tensor"));
}

TEST(Reduction, MaxAndArgmax) {
  Generator g(2);
  Tensor x = rand({4, 5, 3}, DType::f64, &g);
  const auto v = x.to_vector<double>();
  for (int64_t dim : {0, 1, 2}) {
    for (bool keepdim : {false, true}) {
      const MaxResult r = x.max(dim, keepdim);
      EXPECT_EQ(r.values.shape(), reduced_shape({4, 5, 3}, {dim}, keepdim));
      EXPECT_EQ(r.indices.shape(), r.values.shape());
      EXPECT_EQ(r.indices.dtype(), DType::i64);
      // Naive: the first position of the largest value along dim, over [outer, n, inner].
      const Shape shape = {4, 5, 3};
      int64_t outer = 1, inner = 1;
      for (int64_t d = 0; d < dim; ++d)
        outer *= shape[d];
      for (int64_t d = dim + 1; d < 3; ++d)
        inner *= shape[d];
      std::vector<double> want_values;
      std::vector<int64_t> want_indices;
      for (int64_t o = 0; o < outer; ++o) {
        for (int64_t i = 0; i < inner; ++i) {
          int64_t best = 0;
          for (int64_t j = 1; j < shape[dim]; ++j)
            if (v[(o * shape[dim] + j) * inner + i] > v[(o * shape[dim] + best) * inner + i]) best = j;
          want_indices.push_back(best);
          want_values.push_back(v[(o * shape[dim] + best) * inner + i]);
        }
      }
      EXPECT_EQ(r.values.to_vector<double>(), want_values);
      EXPECT_EQ(r.indices.to_vector<int64_t>(), want_indices);
      EXPECT_EQ(x.argmax(dim, keepdim).to_vector<int64_t>(), want_indices);
    }
  }
  Tensor m = tensor({1.0, 7.0, 3.0, 9.0, 2.0, 8.0}).view({2, 3});
  EXPECT_EQ(m.argmax(1).to_vector<int64_t>(), (std::vector<int64_t>{1, 0}));
  EXPECT_EQ(m.argmax(0).to_vector<int64_t>(), (std::vector<int64_t>{1, 0, 1}));
  EXPECT_EQ(m.max(-1).values.to_vector<float>(), (std::vector<float>{7, 9}));
  EXPECT_EQ(m.t().argmax(0).to_vector<int64_t>(), (std::vector<int64_t>{1, 0}));  // non-contiguous
  EXPECT_EQ(m.max().item<float>(), 9.0f);
}

TEST(Reduction, ArgmaxTakesTheFirstOfTies) {
  Tensor x = tensor({3.0, 1.0, 3.0, 3.0});
  EXPECT_EQ(x.argmax(0).item<int64_t>(), 0);
  Tensor m = tensor({5.0, 5.0, 2.0, 5.0, 5.0, 5.0}).view({2, 3});
  EXPECT_EQ(m.argmax(1).to_vector<int64_t>(), (std::vector<int64_t>{0, 0}));
  EXPECT_EQ(m.argmax(0).to_vector<int64_t>(), (std::vector<int64_t>{0, 0, 1}));
  Tensor ints = tensor(std::vector<int64_t>{-1, 4, 4, 0});
  EXPECT_EQ(ints.argmax(0).item<int64_t>(), 1);
  EXPECT_EQ(ints.max(0).values.item<int64_t>(), 4);
  for (int64_t n : {1, 7, 1023, 65537}) {
    Tensor z = zeros({n});
    EXPECT_EQ(z.argmax(0).item<int64_t>(), 0) << n;
    z.narrow(0, n - 1, 1).fill_(1);
    EXPECT_EQ(z.argmax(0).item<int64_t>(), n - 1) << n;
  }
}

TEST(Reduction, MaxPropagatesNaN) {
  Tensor x = tensor({1.0, NAN, 5.0, NAN});
  const MaxResult r = x.max(0);
  EXPECT_TRUE(std::isnan(r.values.item<float>()));
  EXPECT_EQ(r.indices.item<int64_t>(), 1);
}

TEST(Reduction, MaxErrors) {
  EXPECT_THAT(error_of([] { zeros({2, 0}).max(1); }), HasSubstr("empty dim"));
  EXPECT_THAT(error_of([] { zeros({2}, DType::boolean).max(0); }), HasSubstr("bool"));
  EXPECT_THAT(error_of([] { zeros({2, 3}).max(2); }), HasSubstr("dim 2 out of range"));
  EXPECT_THAT(error_of([] { zeros({2, 3}).sum({0, -2}); }), HasSubstr("appears twice"));
}

// Softmax by the formula exp(x - max) / sum, along `dim`, in double.
std::vector<double> naive_softmax(const std::vector<double>& v, const Shape& shape, int64_t dim) {
  const auto maxes = naive_reduce(v, shape, {dim}, -INFINITY, [](double a, double b) { return std::max(a, b); });
  Shape kept = shape;
  kept[dim] = 1;
  auto at = [&](std::size_t n) {  // index into the keepdim layout of flat input index n
    int64_t rest = static_cast<int64_t>(n), flat = 0, mul = 1;
    for (std::size_t d = shape.size(); d-- > 0;) {
      const int64_t i = rest % shape[d];
      rest /= shape[d];
      flat += (kept[d] == 1 ? 0 : i) * mul;
      mul *= kept[d];
    }
    return flat;
  };
  std::vector<double> e(v.size()), sums(maxes.size(), 0.0);
  for (std::size_t n = 0; n < v.size(); ++n) {
    e[n] = std::exp(v[n] - maxes[at(n)]);
    sums[at(n)] += e[n];
  }
  for (std::size_t n = 0; n < v.size(); ++n)
    e[n] /= sums[at(n)];
  return e;
}

TEST(Reduction, SoftmaxMatchesFormula) {
  Generator g(3);
  const Shape shapes[] = {{3, 5}, {2, 4, 3}, {1, 7}, {2, 1023}, {1, 65537}};
  for (const Shape& shape : shapes) {
    Tensor x = randn(shape, DType::f64, &g) * 3.0;
    const auto v = x.to_vector<double>();
    for (int64_t dim = 0; dim < static_cast<int64_t>(shape.size()); ++dim) {
      const auto want = naive_softmax(v, shape, dim);
      const std::string what = shape_str(shape) + " dim " + std::to_string(dim);
      Tensor s = x.softmax(dim);
      expect_relative(s.to_vector<double>(), want, 1e-12, "softmax " + what);
      std::vector<double> logs;
      for (double w : want)
        logs.push_back(std::log(w));
      expect_close(x.log_softmax(dim).to_vector<double>(), logs, 1e-12, "log_softmax " + what);
      // Along dim, the probabilities sum to one.
      for (double total : s.sum({dim}).to_vector<double>())
        ASSERT_NEAR(total, 1.0, 1e-12) << what;
    }
    // f32 and a negative dim.
    Tensor xf = x.to(DType::f32);
    // The row sum is accumulated in float, one term after another: long rows lose accuracy.
    const double tol = shape.back() > 5000 ? 2e-4 : 1e-5;
    expect_relative(xf.softmax(-1).to_vector<double>(), naive_softmax(xf.to_vector<double>(), shape, shape.size() - 1),
                    tol, "softmax f32 " + shape_str(shape));
    expect_relative(xf.log_softmax(-1).exp().to_vector<double>(), xf.softmax(-1).to_vector<double>(), 1e-5,
                    "exp(log_softmax) f32 " + shape_str(shape));
  }
}

TEST(Reduction, SoftmaxIsStableAndNonContiguous) {
  Tensor big = tensor({1000.0, 1000.0, -1000.0});
  EXPECT_EQ(big.softmax(0).to_vector<float>(), (std::vector<float>{0.5f, 0.5f, 0.0f}));
  Tensor lsm = tensor({1000.0, 0.0}).log_softmax(0);
  EXPECT_NEAR(lsm.to_vector<float>()[0], 0.0f, 1e-6);
  EXPECT_NEAR(lsm.to_vector<float>()[1], -1000.0f, 1e-3);
  Tensor with_inf = tensor({-INFINITY, 0.0, 0.0});
  EXPECT_EQ(with_inf.softmax(0).to_vector<float>(), (std::vector<float>{0.0f, 0.5f, 0.5f}));
  Tensor m = arange(6).view({2, 3}).to(DType::f64);
  EXPECT_EQ(m.t().softmax(1).to_vector<double>(), m.t().contiguous().softmax(1).to_vector<double>());
  Tensor h = tensor({1.0, 2.0, 3.0}, DType::f16).softmax(0);
  EXPECT_EQ(h.dtype(), DType::f16);
  EXPECT_NEAR(h.to_vector<double>()[2], 0.66524, 1e-3);
  EXPECT_THROW(zeros({3}, DType::i64).softmax(0), Error);
}

}  // namespace
}  // namespace volt
