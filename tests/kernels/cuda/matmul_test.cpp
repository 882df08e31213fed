// kernels::cuda::gemm and linear against the CPU: every operand layout, odd sizes, padded
// leading dimensions, alpha/beta, f32 (full and TF32), f64, f16, bf16; the fused linear with each
// epilogue, and its ReLU mask against the CPU relu backward. Inputs are built on the CPU and
// copied over, so only the kernels under test run on the GPU.
#include "volt/kernels/matmul.h"

#include <cmath>
#include <limits>

#include "cuda_test_support.h"
#include "test_support.h"
#include "volt/kernels/matmul.h"

namespace volt {
namespace {

using kernels::LinearEpilogue;
using kernels::MatrixOperand;

Tensor on_gpu(const Tensor& t) { return t.contiguous().to(Device::cuda(0)); }
Tensor on_cpu(const Tensor& t) { return t.to(Device::cpu()); }

Tensor random(const Shape& shape, DType dtype, uint64_t seed) {
  Generator gen(seed);
  return randn(shape, {}, &gen).to(dtype);
}

// |actual - expected| <= tol · max(1, max |expected|) elementwise: a tolerance relative to the
// output's scale, since a sum of k products carries an absolute error that grows with the
// magnitude of its terms, not of its (possibly cancelling) result. NaN matches only NaN.
::testing::AssertionResult close_to_scale(const Tensor& actual, const Tensor& expected, double tol) {
  if (actual.shape() != expected.shape())
    return ::testing::AssertionFailure() << "shapes differ: " << shape_str(actual.shape()) << " vs "
                                         << shape_str(expected.shape());
  const std::vector<double> a = actual.to_vector<double>(), e = expected.to_vector<double>();
  double scale = 1;
  for (double v : e)
    if (std::isfinite(v)) scale = std::max(scale, std::abs(v));
  for (std::size_t i = 0; i < a.size(); ++i) {
    const bool both_nan = std::isnan(a[i]) && std::isnan(e[i]);
    if (!both_nan && !(std::abs(a[i] - e[i]) <= tol * scale))
      return ::testing::AssertionFailure()
             << "element " << i << ": " << a[i] << " vs " << e[i] << " (tol " << tol << " × scale " << scale << ")";
  }
  return ::testing::AssertionSuccess();
}

// ---- gemm ----------------------------------------------------------------------------------

struct GemmCase {
  int64_t m, n, k;
};

// The CPU computes what the GPU does, from the same stored operands (half ones widened to f32,
// exactly, since the CPU gemm takes f32 and f64).
void check_gemm(DType dtype, GemmCase c, bool a_col, bool b_col, int64_t pad, double alpha, double beta, bool tf32,
                double tol) {
  SCOPED_TRACE(::testing::Message() << dtype_name(dtype) << " m=" << c.m << " n=" << c.n << " k=" << c.k << " A "
                                    << (a_col ? "col" : "row") << "-major, B " << (b_col ? "col" : "row")
                                    << "-major, pad " << pad << ", alpha " << alpha << ", beta " << beta
                                    << (tf32 ? ", tf32" : ""));
  // A [m, k] stored row-major as [m, k + pad], or column-major as [k, m + pad] (row j = column j).
  const Tensor a = random(a_col ? Shape{c.k, c.m + pad} : Shape{c.m, c.k + pad}, dtype, 1);
  const Tensor b = random(b_col ? Shape{c.n, c.k + pad} : Shape{c.k, c.n + pad}, dtype, 2);
  const int64_t lda = a_col ? c.m + pad : c.k + pad, ldb = b_col ? c.k + pad : c.n + pad, ldc = c.n + pad;
  // beta == 0 must not read C: NaN there would show.
  const Tensor c0 =
      beta == 0 ? full({c.m, ldc}, std::numeric_limits<double>::quiet_NaN(), dtype) : random({c.m, ldc}, dtype, 3);

  const Tensor a_dev = on_gpu(a), b_dev = on_gpu(b), c_dev = on_gpu(c0);
  kernels::cuda::gemm(dtype, c.m, c.n, c.k, alpha, MatrixOperand{a_dev.data_ptr(), lda, a_col},
                      MatrixOperand{b_dev.data_ptr(), ldb, b_col}, beta, c_dev.data_ptr(), ldc, tf32, stream());

  const DType ref_type = dtype == DType::f64 ? DType::f64 : DType::f32;
  const Tensor a_ref = a.to(ref_type).contiguous(), b_ref = b.to(ref_type).contiguous();
  Tensor c_ref = c0.to(ref_type).clone();
  kernels::cpu::gemm(ref_type, c.m, c.n, c.k, alpha, MatrixOperand{a_ref.data_ptr(), lda, a_col},
                     MatrixOperand{b_ref.data_ptr(), ldb, b_col}, beta, c_ref.data_ptr(), ldc, false, Stream{});
  if (c.m == 0) return;
  const Tensor got = on_cpu(c_dev).to(ref_type);
  EXPECT_TRUE(close_to_scale(got.narrow(1, 0, c.n), c_ref.narrow(1, 0, c.n), tol));
  // The padding past column n is not C's: it keeps its values.
  if (pad > 0) {
    EXPECT_TRUE(testing::all_close(got.narrow(1, c.n, pad), c0.to(ref_type).narrow(1, c.n, pad), 0));
  }
}

const std::vector<GemmCase> kGemmCases = {{1, 1, 1}, {7, 5, 3}, {1, 7, 9},      {33, 1, 17},  {5, 6, 0},
                                          {0, 4, 3}, {4, 0, 3}, {64, 48, 1023}, {1023, 7, 33}};

void check_all_layouts(DType dtype, bool tf32, double tol) {
  for (const GemmCase& c : kGemmCases)
    for (bool a_col : {false, true})
      for (bool b_col : {false, true})
        for (int64_t pad : {0, 3}) {
          check_gemm(dtype, c, a_col, b_col, pad, 1.0, 0.0, tf32, tol);
          check_gemm(dtype, c, a_col, b_col, pad, -0.5, 2.0, tf32, tol);
        }
}

TEST(CudaGemm, F32MatchesCpuOnEveryLayout) {
  VOLT_REQUIRE_CUDA();
  check_all_layouts(DType::f32, false, 1e-5);
}

TEST(CudaGemm, F32WithTf32StaysClose) {
  VOLT_REQUIRE_CUDA();
  check_all_layouts(DType::f32, true, 5e-3);  // inputs rounded to a 10-bit mantissa
}

TEST(CudaGemm, F64MatchesCpuOnEveryLayout) {
  VOLT_REQUIRE_CUDA();
  check_all_layouts(DType::f64, false, 1e-12);
}

TEST(CudaGemm, HalfTypesAccumulateInFloat) {
  VOLT_REQUIRE_CUDA();
  check_all_layouts(DType::f16, false, 1e-2);
  check_all_layouts(DType::bf16, false, 1e-2);
}

TEST(CudaGemm, OneRowViewsWithAnyStride) {
  VOLT_REQUIRE_CUDA();
  // A [1, k] whose row stride is meaningless (1 here, less than k): cuBLAS must not see it.
  const Tensor a = random({1, 9}, DType::f32, 4), b = random({9, 5}, DType::f32, 5);
  const Tensor a_dev = on_gpu(a), b_dev = on_gpu(b);
  Tensor c_dev = empty({1, 5}, Device::cuda(0));
  kernels::cuda::gemm(DType::f32, 1, 5, 9, 1.0, MatrixOperand{a_dev.data_ptr(), 1, false},
                      MatrixOperand{b_dev.data_ptr(), 5, false}, 0.0, c_dev.data_ptr(), 1, false, stream());
  EXPECT_TRUE(close_to_scale(on_cpu(c_dev), matmul(a, b), 1e-5));
}

TEST(CudaGemm, CublasErrorsNameTheCallAndTheStatus) {
  VOLT_REQUIRE_CUDA();
  Tensor buf = empty({64}, Device::cuda(0));
  // A [4, 4] row-major with ld 2 < 4: cuBLAS refuses the leading dimension.
  testing::expect_error(
      [&] {
        kernels::cuda::gemm(DType::f32, 4, 4, 4, 1.0, MatrixOperand{buf.data_ptr(), 2, false},
                            MatrixOperand{buf.data_ptr(), 4, false}, 0.0, buf.data_ptr(), 4, false, stream());
      },
      {"cuda gemm f32", "cublasGemmEx_64", "CUBLAS_STATUS_INVALID_VALUE"});
  testing::expect_error(
      [&] {
        kernels::cuda::gemm(DType::i32, 2, 2, 2, 1.0, MatrixOperand{buf.data_ptr(), 2, false},
                            MatrixOperand{buf.data_ptr(), 2, false}, 0.0, buf.data_ptr(), 2, false, stream());
      },
      {"cuda gemm", "i32"});
}

TEST(CudaGemm, RefusesAStreamOtherThanTheCurrentOne) {
  VOLT_REQUIRE_CUDA();
  cudaStream_t other = nullptr;
  VOLT_CUDA_CHECK(cudaStreamCreateWithFlags(&other, cudaStreamNonBlocking));
  Tensor buf = empty({16}, Device::cuda(0));
  testing::expect_error(
      [&] {
        kernels::cuda::gemm(DType::f32, 2, 2, 2, 1.0, MatrixOperand{buf.data_ptr(), 2, false},
                            MatrixOperand{buf.data_ptr(), 2, false}, 0.0, buf.data_ptr(), 2, false,
                            Stream{Device::cuda(0), other});
      },
      {"current stream"});
  VOLT_CUDA_CHECK(cudaStreamDestroy(other));
}

// ---- linear --------------------------------------------------------------------------------

TEST(CudaLinear, ReluMaskBytesPadRowsTo128Bits) {
  EXPECT_EQ(kernels::relu_mask_bytes(0, 7), 0u);
  EXPECT_EQ(kernels::relu_mask_bytes(3, 0), 0u);
  EXPECT_EQ(kernels::relu_mask_bytes(3, 5), 3u * 16);
  EXPECT_EQ(kernels::relu_mask_bytes(2, 128), 2u * 16);
  EXPECT_EQ(kernels::relu_mask_bytes(2, 129), 2u * 32);
}

struct LinearCase {
  int64_t rows, in, out;
};

struct LinearRun {
  Tensor y;     // [rows, out] on the CPU, in the run's dtype
  Tensor mask;  // u8 bytes on the GPU (bias_relu only)
};

// x, w and b are in their storage dtype on the CPU; `offset` elements shift x off its
// allocation's alignment.
LinearRun run_linear(DType dtype, LinearCase c, LinearEpilogue epilogue, const Tensor& x, const Tensor& w,
                     const Tensor& b, bool with_mask, int64_t offset = 0) {
  Tensor x_store = x.reshape({c.rows * c.in});
  if (offset > 0) x_store = cat({zeros({offset}, dtype), x_store});
  const Tensor x_dev = on_gpu(x_store), w_dev = on_gpu(w), b_dev = on_gpu(b);
  Tensor y_dev = empty({c.rows, c.out}, TensorOptions(dtype).device(Device::cuda(0)));
  const auto mask_bytes = static_cast<int64_t>(kernels::relu_mask_bytes(c.rows, c.out));
  Tensor mask = empty({mask_bytes}, TensorOptions(DType::u8).device(Device::cuda(0)));
  const void* x_ptr = static_cast<const char*>(x_dev.data_ptr()) + offset * static_cast<int64_t>(itemsize(dtype));
  kernels::cuda::linear(dtype, c.rows, c.in, c.out, x_ptr, w_dev.data_ptr(), b_dev.data_ptr(), y_dev.data_ptr(),
                        epilogue, with_mask ? mask.data_ptr() : nullptr, false, stream());
  return {on_cpu(y_dev), mask};
}

void check_linear(DType dtype, LinearCase c, LinearEpilogue epilogue, double tol, int64_t offset = 0) {
  SCOPED_TRACE(::testing::Message() << dtype_name(dtype) << " rows=" << c.rows << " in=" << c.in << " out=" << c.out
                                    << " epilogue " << static_cast<int>(epilogue) << " x offset " << offset);
  const Tensor x = random({c.rows, c.in}, dtype, 11), w = random({c.out, c.in}, dtype, 12),
               b = random({c.out}, dtype, 13);
  const bool relu_epilogue = epilogue == LinearEpilogue::bias_relu;
  const LinearRun run = run_linear(dtype, c, epilogue, x, w, b, relu_epilogue, offset);
  if (c.rows == 0 || c.out == 0) return;

  const DType ref_type = dtype == DType::f64 ? DType::f64 : DType::f32;
  Tensor expected =
      linear(x.to(ref_type), w.to(ref_type), epilogue == LinearEpilogue::none ? Tensor() : b.to(ref_type));
  if (relu_epilogue) expected = relu(expected);
  const Tensor y = run.y.to(ref_type);
  EXPECT_TRUE(close_to_scale(y, expected, tol));
  if (!relu_epilogue) return;

  // The mask drives the backward: grad where the (GPU's) output is positive, as the CPU relu
  // backward computes from that output.
  const Tensor grad = random({c.rows, c.out}, dtype, 14);
  const Tensor grad_dev = on_gpu(grad);
  Tensor grad_pre = empty({c.rows, c.out}, TensorOptions(dtype).device(Device::cuda(0)));
  kernels::cuda::relu_mask_backward(dtype, c.rows, c.out, grad_dev.data_ptr(), run.mask.data_ptr(), grad_pre.data_ptr(),
                                    stream());
  Tensor leaf = y.clone().requires_grad_();
  relu(leaf).backward(grad.to(ref_type));
  EXPECT_TRUE(testing::all_close(on_cpu(grad_pre).to(ref_type), leaf.grad(), 0));
}

const std::vector<LinearCase> kLinearCases = {{1, 1, 1},      {7, 13, 5}, {64, 784, 100}, {64, 100, 10},
                                              {130, 17, 129}, {3, 0, 9},  {33, 64, 128},  {0, 5, 3}};

void check_linear_all(DType dtype, double tol) {
  for (const LinearCase& c : kLinearCases)
    for (LinearEpilogue e : {LinearEpilogue::none, LinearEpilogue::bias, LinearEpilogue::bias_relu})
      check_linear(dtype, c, e, tol);
}

TEST(CudaLinear, F32MatchesCpuWithEachEpilogue) {
  VOLT_REQUIRE_CUDA();
  check_linear_all(DType::f32, 1e-5);
}

TEST(CudaLinear, HalfTypesMatchCpuWithEachEpilogue) {
  VOLT_REQUIRE_CUDA();
  check_linear_all(DType::f16, 1e-2);
  check_linear_all(DType::bf16, 1e-2);
}

TEST(CudaLinear, F64TakesTheGemmPathWithTheSameMask) {
  VOLT_REQUIRE_CUDA();
  check_linear_all(DType::f64, 1e-12);
}

TEST(CudaLinear, MisalignedInputStillMatches) {
  VOLT_REQUIRE_CUDA();
  // x one element past a 256-byte boundary: the heuristic must be told (or fall back).
  for (LinearEpilogue e : {LinearEpilogue::none, LinearEpilogue::bias, LinearEpilogue::bias_relu}) {
    check_linear(DType::f32, {9, 13, 7}, e, 1e-5, 1);
    check_linear(DType::f16, {9, 13, 7}, e, 1e-2, 1);
  }
}

TEST(CudaLinear, ReluWithoutMaskForInference) {
  VOLT_REQUIRE_CUDA();
  const LinearCase c{17, 33, 20};
  const Tensor x = random({c.rows, c.in}, DType::f32, 21), w = random({c.out, c.in}, DType::f32, 22),
               b = random({c.out}, DType::f32, 23);
  const LinearRun run = run_linear(DType::f32, c, LinearEpilogue::bias_relu, x, w, b, false);
  EXPECT_TRUE(close_to_scale(run.y, relu(linear(x, w, b)), 1e-5));
}

TEST(CudaLinear, RepeatsBitForBit) {
  VOLT_REQUIRE_CUDA();
  const LinearCase c{64, 784, 100};
  const Tensor x = random({c.rows, c.in}, DType::f32, 31), w = random({c.out, c.in}, DType::f32, 32),
               b = random({c.out}, DType::f32, 33);
  const LinearRun first = run_linear(DType::f32, c, LinearEpilogue::bias_relu, x, w, b, true);
  const LinearRun second = run_linear(DType::f32, c, LinearEpilogue::bias_relu, x, w, b, true);
  EXPECT_EQ(first.y.to_vector<float>(), second.y.to_vector<float>());
  EXPECT_EQ(on_cpu(first.mask).to_vector<uint8_t>(), on_cpu(second.mask).to_vector<uint8_t>());
}

}  // namespace
}  // namespace volt
