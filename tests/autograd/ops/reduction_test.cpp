// Reduction semantics beyond the numbers (those are rows of op_table_test.cpp): f32 accumulation
// order, integer widening, argmax and its ties, NaN in max, softmax's stability, and the errors.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "test_support.h"
#include "volt/autograd/ops.h"
#include "volt/core/generator.h"
#include "volt/core/tensor.h"

namespace volt {
namespace {

using testing::error_of;
using ::testing::HasSubstr;

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

// f32 sums accumulate in float, one element after another: exact while the partial sums fit in
// 24 bits, then off by up to ~n/2 ulps (1.4e-5 relative for 65537).
TEST(Reduction, F32SumsAccumulateInOrder) {
  for (int64_t n : {0, 1, 7, 1023, 65537}) {
    const double want = static_cast<double>(n) * static_cast<double>(n - 1) / 2;
    EXPECT_NEAR(arange(static_cast<double>(n)).sum().item<double>(), want, (n < 5000 ? 0.0 : 3e-5) * want) << n;
  }
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
      EXPECT_EQ(std::get<1>(r).shape(), reduced_shape({4, 5, 3}, {dim}, keepdim));
      EXPECT_EQ(std::get<1>(r).dtype(), DType::i64);
      // Naive: the first position of the largest value along dim, over [outer, n, inner].
      const Shape shape = {4, 5, 3};
      int64_t outer = 1, inner = 1;
      for (int64_t d = 0; d < dim; ++d)
        outer *= shape[d];
      for (int64_t d = dim + 1; d < 3; ++d)
        inner *= shape[d];
      std::vector<int64_t> want_indices;
      for (int64_t o = 0; o < outer; ++o) {
        for (int64_t i = 0; i < inner; ++i) {
          int64_t best = 0;
          for (int64_t j = 1; j < shape[dim]; ++j)
            if (v[(o * shape[dim] + j) * inner + i] > v[(o * shape[dim] + best) * inner + i]) best = j;
          want_indices.push_back(best);
        }
      }
      EXPECT_EQ(std::get<1>(r).to_vector<int64_t>(), want_indices);
      EXPECT_EQ(x.argmax(dim, keepdim).to_vector<int64_t>(), want_indices);
    }
  }
  Tensor m = tensor({1.0, 7.0, 3.0, 9.0, 2.0, 8.0}).view({2, 3});
  EXPECT_EQ(m.argmax(1).to_vector<int64_t>(), (std::vector<int64_t>{1, 0}));
  EXPECT_EQ(m.argmax(0).to_vector<int64_t>(), (std::vector<int64_t>{1, 0, 1}));
  EXPECT_EQ(m.t().argmax(0).to_vector<int64_t>(), (std::vector<int64_t>{1, 0}));  // non-contiguous
}

TEST(Reduction, ArgmaxTakesTheFirstOfTies) {
  Tensor x = tensor({3.0, 1.0, 3.0, 3.0});
  EXPECT_EQ(x.argmax(0).item<int64_t>(), 0);
  Tensor m = tensor({5.0, 5.0, 2.0, 5.0, 5.0, 5.0}).view({2, 3});
  EXPECT_EQ(m.argmax(1).to_vector<int64_t>(), (std::vector<int64_t>{0, 0}));
  EXPECT_EQ(m.argmax(0).to_vector<int64_t>(), (std::vector<int64_t>{0, 0, 1}));
  Tensor ints = tensor(std::vector<int64_t>{-1, 4, 4, 0});
  EXPECT_EQ(ints.argmax(0).item<int64_t>(), 1);
  EXPECT_EQ(std::get<0>(ints.max(0)).item<int64_t>(), 4);
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
  EXPECT_TRUE(std::isnan(std::get<0>(r).item<float>()));
  EXPECT_EQ(std::get<1>(r).item<int64_t>(), 1);
}

TEST(Reduction, MaxErrors) {
  EXPECT_THAT(error_of([] { zeros({2, 0}).max(1); }), HasSubstr("empty dim"));
  EXPECT_THAT(error_of([] { zeros({2}, DType::boolean).max(0); }), HasSubstr("bool"));
  EXPECT_THAT(error_of([] { zeros({2, 3}).max(2); }), HasSubstr("dim 2 out of range"));
  EXPECT_THAT(error_of([] { zeros({2, 3}).sum({0, -2}); }), HasSubstr("appears twice"));
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
