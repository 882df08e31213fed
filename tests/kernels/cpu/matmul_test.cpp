// The CPU linear kernel's epilogues against a naive reference: bias, bias + relu, and the ReLU
// mask in cuBLASLt's layout that relu_mask_backward reads (the CUDA twin's tests compare the
// two devices; this checks the CPU side on its own).
#include "volt/kernels/matmul.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

#include "volt/autograd/ops.h"

namespace volt {
namespace {

using kernels::LinearEpilogue;

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
