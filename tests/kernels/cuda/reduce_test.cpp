// The CUDA reductions against their CPU twins: sums over every kind of dim set (both the
// block-per-output and the thread-per-output kernel), transposed inputs, empty reductions;
// max over a dim with ties and NaNs (first index wins, NaN wins) in every dtype; its backward.
#include "volt/kernels/reduce.h"

#include <cmath>
#include <string>
#include <vector>

#include "cuda_test_support.h"
#include "volt/kernels/reduce.h"

namespace volt {
namespace {

using kernels::StridedLoop;
using testing::agreement_tolerance;
using testing::all_close;
using testing::same_bytes;
using testing::sample;

struct SumCase {
  Shape shape;            // the input's (logical) shape
  Shape strides;          // its strides into a contiguous buffer of numel(shape) elements
  std::vector<int> dims;  // reduced
};

std::string str(const SumCase& c) {
  std::string dims;
  for (int d : c.dims)
    dims += std::to_string(d) + " ";
  return shape_str(c.shape) + " strides " + shape_str(c.strides) + " over dims " + dims;
}

std::vector<SumCase> sum_cases() {
  std::vector<SumCase> cases;
  for (int64_t n : {0, 1, 7, 1023, 65537}) {
    cases.push_back({{n}, {1}, {0}});
    cases.push_back({{n, 3}, {3, 1}, {0}});  // thread per output: the kept dim is the fast one
    cases.push_back({{n, 3}, {3, 1}, {1}});
    cases.push_back({{3, n}, {n, 1}, {1}});  // block per output: the reduced dim is the fast one
    cases.push_back({{3, n}, {n, 1}, {0}});
    cases.push_back({{3, n}, {1, 3}, {1}});  // a transposed input
    cases.push_back({{3, n}, {1, 3}, {0}});
    cases.push_back({{4, n, 5}, {5 * n, 5, 1}, {0, 2}});
    cases.push_back({{4, n, 5}, {5 * n, 5, 1}, {1}});
  }
  cases.push_back({{2, 70000}, {70000, 1}, {0}});  // many outputs, short reduction
  cases.push_back({{5, 300, 7}, {2100, 7, 1}, {0, 1, 2}});
  return cases;
}

// The loop of a sum: operand 0 is the keepdim output (stride 0 on reduced dims).
StridedLoop sum_loop(const SumCase& c, Shape& out_shape, Shape& out_strides) {
  out_shape = c.shape;
  for (int d : c.dims)
    out_shape[d] = 1;
  out_strides = contiguous_strides(out_shape);
  return kernels::make_strided_loop(c.shape, {{out_shape, out_strides}, {c.shape, c.strides}});
}

TEST(CudaReduce, SumMatchesCpu) {
  VOLT_REQUIRE_CUDA();
  for (DType t : {DType::f32, DType::f64, DType::i32, DType::i64, DType::u8})
    for (const SumCase& c : sum_cases()) {
      Shape out_shape, out_strides;
      const StridedLoop loop = sum_loop(c, out_shape, out_strides);
      const int64_t n = numel(c.shape);
      // Integers: u8 sums wrap alike on both devices; i64 sums beyond 2^53 (but short of 2^63)
      // check that nothing goes through double.
      Tensor x = is_floating(t) ? sample(n, t, 21) : sample(n, t, 21, 0, 250, 1);
      if (t == DType::i64) x = mul(x.to(DType::f64), static_cast<double>(int64_t{1} << 36)).to(DType::i64);
      // The CPU sums f32 in float, the CUDA kernel in double (more accurate): the reference for
      // f32 is therefore the CPU's f64 sum of the same values, which f32 must match to rounding.
      const DType ref = t == DType::f32 ? DType::f64 : t;
      Tensor expected = zeros(out_shape, ref);
      kernels::cpu::sum(ref, expected.data_ptr(), x.to(ref).data_ptr(), loop, Stream{});
      Tensor actual = zeros(out_shape, t).to(Device::cuda(0));
      const Tensor xd = x.to(Device::cuda(0));
      kernels::cuda::sum(t, actual.data_ptr(), xd.data_ptr(), loop, stream());
      if (is_floating(t))
        EXPECT_TRUE(all_close(actual, expected, agreement_tolerance(t))) << dtype_name(t) << " " << str(c);
      else
        EXPECT_TRUE(same_bytes(actual, expected)) << dtype_name(t) << " " << str(c);
    }
}

TEST(CudaReduce, SumAddsToTheOutput) {
  VOLT_REQUIRE_CUDA();
  const StridedLoop loop = kernels::make_strided_loop({1023}, {{{1}, {1}}, {{1023}, {1}}});
  const Tensor x = sample(1023, DType::f64, 22);
  Tensor expected = full({1}, 10.0, DType::f64);
  kernels::cpu::sum(DType::f64, expected.data_ptr(), x.data_ptr(), loop, Stream{});
  Tensor actual = full({1}, 10.0, DType::f64).to(Device::cuda(0));
  const Tensor xd = x.to(Device::cuda(0));
  kernels::cuda::sum(DType::f64, actual.data_ptr(), xd.data_ptr(), loop, stream());
  EXPECT_TRUE(all_close(actual, expected, 1e-12));
}

TEST(CudaReduce, SumIsBitwiseReproducible) {
  VOLT_REQUIRE_CUDA();
  const StridedLoop loop = kernels::make_strided_loop({3, 65537}, {{{3, 1}, {1, 1}}, {{3, 65537}, {65537, 1}}});
  const Tensor x = sample(3 * 65537, DType::f32, 23).to(Device::cuda(0));
  Tensor first = zeros({3}, DType::f32).to(Device::cuda(0)), second = zeros({3}, DType::f32).to(Device::cuda(0));
  kernels::cuda::sum(DType::f32, first.data_ptr(), x.data_ptr(), loop, stream());
  kernels::cuda::sum(DType::f32, second.data_ptr(), x.data_ptr(), loop, stream());
  EXPECT_TRUE(same_bytes(second, first));
}

TEST(CudaReduce, SumRefusesHalfAndBoolLikeTheCpu) {
  VOLT_REQUIRE_CUDA();
  const StridedLoop loop = kernels::make_strided_loop({4}, {{{1}, {1}}, {{4}, {1}}});
  for (DType t : {DType::f16, DType::bf16, DType::boolean})
    EXPECT_THROW(kernels::cuda::sum(t, nullptr, nullptr, loop, stream()), Error) << dtype_name(t);
}

struct MaxCase {
  int64_t outer, n, inner;
};

std::vector<MaxCase> max_cases() {
  std::vector<MaxCase> cases;
  for (int64_t n : {1, 7, 1023, 65537})
    for (int64_t outer : {1, 3})
      for (int64_t inner : {1, 3})
        cases.push_back({outer, n, inner});
  cases.push_back({300, 7, 5});     // many short rows: a thread each
  cases.push_back({5000, 300, 1});  // many long contiguous rows: a block each
  cases.push_back({2, 300, 2500});  // many long strided rows: a thread each
  cases.push_back({0, 5, 3});
  return cases;
}

// Values on a coarse grid (ties everywhere) with NaNs scattered so that some rows hold one, some
// two and most none.
Tensor max_input(int64_t numel, DType t) {
  if (t == DType::boolean) return sample(numel, t, 24, 0, 2, 1);
  if (!is_floating(t)) return sample(numel, t, 24, 0, 6, 1);
  Tensor x = sample(numel, DType::f64, 24, -2, 2, 0.5);
  auto* p = x.data_ptr<double>();
  for (int64_t i = 5; i < numel; i += 977)
    p[i] = std::nan("");
  return x.to(t);
}

TEST(CudaReduce, MaxDimMatchesCpuExactly) {
  VOLT_REQUIRE_CUDA();
  for (DType t : {DType::f32, DType::f64, DType::f16, DType::bf16, DType::i32, DType::i64, DType::u8, DType::boolean})
    for (const MaxCase& c : max_cases()) {
      const int64_t outputs = c.outer * c.inner;
      const Tensor x = max_input(c.outer * c.n * c.inner, t);
      Tensor values = empty({outputs}, t), indices = empty({outputs}, DType::i64);
      kernels::cpu::max_dim(t, values.data_ptr(), indices.data_ptr<int64_t>(), x.data_ptr(), c.outer, c.n, c.inner,
                            Stream{});
      const Tensor xd = x.to(Device::cuda(0));
      Tensor dv = testing::cuda_empty({outputs}, t), di = testing::cuda_empty({outputs}, DType::i64);
      kernels::cuda::max_dim(t, dv.data_ptr(), di.data_ptr<int64_t>(), xd.data_ptr(), c.outer, c.n, c.inner, stream());
      const std::string what = std::string(dtype_name(t)) + " [" + std::to_string(c.outer) + ", " +
                               std::to_string(c.n) + ", " + std::to_string(c.inner) + "]";
      EXPECT_TRUE(same_bytes(di, indices)) << what;
      // A NaN's payload may differ between the devices' conversions; compare values as numbers.
      EXPECT_TRUE(all_close(dv, values, 0.0)) << what;
      // argmax: no values.
      Tensor ai = testing::cuda_empty({outputs}, DType::i64);
      kernels::cuda::max_dim(t, nullptr, ai.data_ptr<int64_t>(), xd.data_ptr(), c.outer, c.n, c.inner, stream());
      EXPECT_TRUE(same_bytes(ai, indices)) << what << " (argmax)";
    }
}

TEST(CudaReduce, MaxDimBackwardMatchesCpu) {
  VOLT_REQUIRE_CUDA();
  for (DType t : {DType::f32, DType::f64, DType::f16, DType::bf16})
    for (const MaxCase& c : max_cases()) {
      const int64_t outputs = c.outer * c.inner, numel = c.outer * c.n * c.inner;
      const Tensor x = max_input(numel, t);
      Tensor values = empty({outputs}, t), indices = empty({outputs}, DType::i64);
      kernels::cpu::max_dim(t, values.data_ptr(), indices.data_ptr<int64_t>(), x.data_ptr(), c.outer, c.n, c.inner,
                            Stream{});
      const Tensor g = sample(outputs, t, 25);
      Tensor expected = zeros({numel}, t);
      kernels::cpu::max_dim_backward(t, expected.data_ptr(), g.data_ptr(), indices.data_ptr<int64_t>(), c.outer, c.n,
                                     c.inner, Stream{});
      const Tensor gd = g.to(Device::cuda(0)), id = indices.to(Device::cuda(0));
      Tensor actual = zeros({numel}, t).to(Device::cuda(0));
      kernels::cuda::max_dim_backward(t, actual.data_ptr(), gd.data_ptr(), id.data_ptr<int64_t>(), c.outer, c.n,
                                      c.inner, stream());
      EXPECT_TRUE(same_bytes(actual, expected)) << dtype_name(t) << " n=" << c.n;
    }
}

}  // namespace
}  // namespace volt
