// The CPU matrix kernels against naive references: the GEMM in every operand layout and at edge
// sizes of the AVX-512 kernel's tiles, with its thread split; the linear kernel's epilogues
// (bias, bias + relu, and the ReLU mask in cuBLASLt's layout that relu_mask_backward reads).
// The CUDA twins' tests compare the two devices; this checks the CPU side on its own.
#include "volt/kernels/matmul.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <limits>
#include <string>
#include <tuple>
#include <vector>

#include "volt/autograd/ops.h"
#include "volt/core/thread_pool.h"
#include "volt/kernels/cpu/avx512.h"

namespace volt {
namespace {

using kernels::LinearEpilogue;
using kernels::MatrixOperand;

// An f32 matrix of `rows` × `cols` stored row- or column-major with a padded leading dimension
// (the padding holds NaN, so reading it shows), and the values as doubles, row-major.
struct Operand {
  Operand(int64_t rows, int64_t cols, bool col_major, Generator& gen)
      : rows(rows), cols(cols), col_major(col_major), ld((col_major ? rows : cols) + 3) {
    storage.assign(static_cast<std::size_t>(ld * (col_major ? cols : rows)), std::nanf(""));
    values.resize(static_cast<std::size_t>(rows * cols));
    const std::vector<float> draws = randn({rows * cols}, DType::f32, &gen).to_vector<float>();
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t c = 0; c < cols; ++c) {
        const float v = draws[static_cast<std::size_t>(r * cols + c)];
        storage[static_cast<std::size_t>(col_major ? c * ld + r : r * ld + c)] = v;
        values[static_cast<std::size_t>(r * cols + c)] = v;
      }
  }
  MatrixOperand operand() const { return MatrixOperand{storage.data(), ld, col_major}; }
  int64_t rows, cols;
  bool col_major;
  int64_t ld;
  std::vector<float> storage;
  std::vector<double> values;
};

// C = alpha A·B + beta C through the CPU gemm kernel, C row-major with ldc = n + 2.
std::vector<float> run_gemm(const Operand& a, const Operand& b, double alpha, double beta, std::vector<float> c) {
  const int64_t m = a.rows, k = a.cols, n = b.cols;
  kernels::cpu::gemm(DType::f32, m, n, k, alpha, a.operand(), b.operand(), beta, c.data(), n + 2, false, Stream{});
  return c;
}

const std::vector<std::tuple<int64_t, int64_t, int64_t>> kShapes = {
    {1, 1, 1},    {3, 5, 7},      {8, 32, 16},    {9, 33, 17},   {4, 4, 15},    {7, 100, 1},
    {17, 31, 33}, {64, 100, 784}, {100, 784, 64}, {64, 10, 100}, {64, 100, 10}, {130, 70, 300}};

TEST(CpuGemm, EveryLayoutAndEdgeSizeMatchesADoubleReference) {
  Generator gen(11);
  for (auto [m, n, k] : kShapes)
    for (bool a_col : {false, true})
      for (bool b_col : {false, true})
        for (auto [alpha, beta] : std::vector<std::pair<double, double>>{{1.0, 0.0}, {0.5, 0.0}, {-1.5, 2.0}}) {
          const Operand a(m, k, a_col, gen), b(k, n, b_col, gen);
          // beta 0 must not read C: it starts as NaN there. The padding column must stay as it was.
          const float start = beta == 0.0 ? std::nanf("") : 0.25f;
          const std::vector<float> c = run_gemm(a, b, alpha, beta, std::vector<float>(m * (n + 2), start));
          for (int64_t i = 0; i < m; ++i) {
            for (int64_t j = 0; j < n; ++j) {
              double want = 0, scale = 0;
              for (int64_t p = 0; p < k; ++p) {
                const double t = a.values[i * k + p] * b.values[p * n + j];
                want += t;
                scale += std::abs(t);
              }
              want = alpha * want + (beta == 0.0 ? 0.0 : beta * start);
              const double tol = 1e-6 * (std::abs(alpha) * scale + 1.0) * std::sqrt(static_cast<double>(k) + 1.0);
              ASSERT_NEAR(c[i * (n + 2) + j], want, tol)
                  << m << "x" << n << "x" << k << " a_col " << a_col << " b_col " << b_col << " alpha " << alpha
                  << " beta " << beta << " at " << i << ", " << j;
            }
            for (int64_t j = n; j < n + 2; ++j)
              if (beta == 0.0)
                ASSERT_TRUE(std::isnan(c[i * (n + 2) + j])) << "padding written at " << i << ", " << j;
              else
                ASSERT_EQ(c[i * (n + 2) + j], start) << "padding written at " << i << ", " << j;
          }
        }
}

// volt's own GEMM sums over k in an order that no split of C changes: 1, 2 and 3 threads give
// the same bits. (Eigen's blocking depends on the block's size, so only a fixed thread count is
// reproducible there.)
TEST(CpuGemm, OwnKernelGivesTheSameBitsOnAnyThreadCount) {
  if (!kernels::cpu::has_avx512()) GTEST_SKIP() << "this CPU has no AVX-512: Eigen computes every product";
  const char* forced = std::getenv("VOLT_CPU_GEMM");
  if (forced != nullptr && std::string(forced) == "eigen") GTEST_SKIP() << "VOLT_CPU_GEMM=eigen: Eigen computes them";
  const int saved = get_num_threads();
  Generator gen(5);
  for (auto [m, n, k] : std::vector<std::tuple<int64_t, int64_t, int64_t>>{
           {64, 100, 784}, {100, 784, 64}, {200, 40, 300}, {1024, 100, 784}})
    for (bool a_col : {false, true})
      for (bool b_col : {false, true}) {
        if (a_col && b_col) continue;  // Eigen's layout
        const Operand a(m, k, a_col, gen), b(k, n, b_col, gen);
        set_num_threads(1);
        const std::vector<float> one = run_gemm(a, b, 1.0, 0.0, std::vector<float>(m * (n + 2), 0.0f));
        for (int threads : {2, 3}) {
          set_num_threads(threads);
          EXPECT_EQ(run_gemm(a, b, 1.0, 0.0, std::vector<float>(m * (n + 2), 0.0f)), one)
              << m << "x" << n << "x" << k << " a_col " << a_col << " b_col " << b_col << ", " << threads << " threads";
        }
      }
  set_num_threads(saved);
}

TEST(CpuGemm, OwnKernelLeavesBothColumnMajorToEigen) {
  Generator gen(2);
  const Operand a(4, 4, true, gen), b(4, 4, true, gen);
  std::vector<float> c(16, -1.0f);
  EXPECT_FALSE(kernels::cpu::gemm_f32_avx512(4, 4, 4, 1.0f, a.operand(), b.operand(), 0.0f, c.data(), 4));
  EXPECT_EQ(c, std::vector<float>(16, -1.0f));
}

TEST(CpuLinear, BiasReluAndMaskMatchANaiveReference) {
  const int64_t rows = 3, in = 5, out = 130;  // out > 128: two 128-bit mask rows, padding bits
  Generator gen(3);
  const Tensor x = randn({rows, in}, DType::f64, &gen), w = randn({out, in}, DType::f64, &gen);
  const Tensor b = randn({out}, DType::f64, &gen);
  const std::vector<double> xv = x.to_vector<double>(), wv = w.to_vector<double>(), bv = b.to_vector<double>();

  for (LinearEpilogue e : {LinearEpilogue::none, LinearEpilogue::bias, LinearEpilogue::bias_relu}) {
    Tensor y = empty({rows, out}, DType::f64);
    std::vector<uint32_t> mask(kernels::relu_mask_bytes(rows, out) / 4, 0xdeadbeef);
    const bool relu = e == LinearEpilogue::bias_relu;
    kernels::cpu::linear(DType::f64, rows, in, out, x.data_ptr(), w.data_ptr(), b.data_ptr(), y.data_ptr(), e,
                         relu ? mask.data() : nullptr, false, Stream{});
    const std::vector<double> yv = y.to_vector<double>();
    const int64_t ld = kernels::relu_mask_ld(out);
    for (int64_t r = 0; r < rows; ++r) {
      for (int64_t o = 0; o < ld; ++o) {
        const int64_t bit = r * ld + o;
        const bool set = (mask[bit / 32] >> (bit % 32)) & 1u;
        if (o >= out) {
          if (relu) {
            EXPECT_FALSE(set) << "padding bit " << o << " of row " << r;
          }
          continue;
        }
        double want = e == LinearEpilogue::none ? 0.0 : bv[o];
        for (int64_t k = 0; k < in; ++k)
          want += xv[r * in + k] * wv[o * in + k];
        if (relu) {
          EXPECT_EQ(set, want > 0) << r << ", " << o;
          want = want > 0 ? want : 0.0;
        }
        EXPECT_NEAR(yv[r * out + o], want, 1e-12) << r << ", " << o;
      }
    }
    if (!relu) continue;
    const Tensor g = randn({rows, out}, DType::f64, &gen);
    Tensor g_pre = empty({rows, out}, DType::f64);
    kernels::cpu::relu_mask_backward(DType::f64, rows, out, g.data_ptr(), mask.data(), g_pre.data_ptr(), Stream{});
    const std::vector<double> gv = g.to_vector<double>(), gp = g_pre.to_vector<double>();
    for (int64_t i = 0; i < rows * out; ++i)
      EXPECT_EQ(gp[i], yv[i] > 0 ? gv[i] : 0.0) << i;
  }
}

}  // namespace
}  // namespace volt
