// The CUDA elementwise kernels against their CPU twins on the same inputs and loops: every op
// and dtype, sizes that break vector widths (0, 1, 7, 1023, 65537), a misaligned input (the
// scalar path) and a transposed one (the strided path); relu also against cuDNN.
#include "volt/kernels/elementwise.h"

#include <functional>
#include <string>
#include <vector>

#include "cuda_test_support.h"
#include "cudnn_oracle.h"
#include "volt/kernels/elementwise.h"

namespace volt {
namespace {

using kernels::Binary;
using kernels::StridedLoop;
using kernels::Ternary;
using kernels::Unary;
using testing::agreement_tolerance;
using testing::all_close;
using testing::same_bytes;
using testing::sample;

const int64_t kSizes[] = {0, 1, 7, 1023, 65537};
const DType kFloating[] = {DType::f32, DType::f64, DType::f16, DType::bf16};
const DType kAll[] = {DType::f32, DType::f64, DType::f16, DType::bf16,
                      DType::i32, DType::i64, DType::u8,  DType::boolean};

// One way of walking n elements: the loop, how big the buffers are, and where the loop starts
// in them (the rest of a buffer is not compared).
struct Walk {
  std::string name;
  StridedLoop loop;
  int64_t in_numel, out_numel, offset;
};

// contiguous (vector path), misaligned by one element (scalar path), transposed input (the
// strided path: the loop runs over [3, n] reading a contiguous [n, 3] buffer through its
// transpose).
std::vector<Walk> walks(int64_t n, int inputs) {
  auto loop = [inputs](const Shape& shape, const Shape& out_strides, const Shape& in_strides) {
    const kernels::LoopOperand out{shape, out_strides}, in{shape, in_strides};
    switch (inputs) {
      case 0:
        return kernels::make_strided_loop(shape, {out});
      case 1:
        return kernels::make_strided_loop(shape, {out, in});
      case 2:
        return kernels::make_strided_loop(shape, {out, in, in});
      default:
        return kernels::make_strided_loop(shape, {out, in, in, in});
    }
  };
  return {{"contiguous", loop({n}, {1}, {1}), n, n, 0},
          {"misaligned", loop({n}, {1}, {1}), n + 1, n + 1, 1},
          {"transposed", loop({3, n}, {n, 1}, {1, 3}), 3 * n, 3 * n, 0}};
}

template <class P>
P at(const Tensor& t, int64_t offset) {
  return reinterpret_cast<P>(static_cast<char*>(t.data_ptr()) + offset * static_cast<int64_t>(itemsize(t.dtype())));
}

// Runs the CPU kernel on `inputs` and the CUDA kernel on device copies of them, both through
// `w`. Gives {cuda result, cpu result} on the CPU, the part of the output the loop covers.
using Kernel = std::function<void(void* out, const std::vector<const void*>& in)>;
std::pair<Tensor, Tensor> run_twins(const Walk& w, DType out_dtype, const std::vector<Tensor>& inputs,
                                    const Kernel& cpu, const Kernel& gpu) {
  std::vector<const void*> host, device;
  std::vector<Tensor> on_device;
  for (const Tensor& t : inputs) {
    on_device.push_back(t.to(Device::cuda(0)));
    host.push_back(at<const void*>(t, w.offset));
    device.push_back(at<const void*>(on_device.back(), w.offset));
  }
  Tensor expected = zeros({w.out_numel}, out_dtype);
  cpu(at<void*>(expected, w.offset), host);
  Tensor actual = testing::cuda_empty({w.out_numel}, out_dtype);
  gpu(at<void*>(actual, w.offset), device);
  const int64_t covered = w.out_numel - w.offset;
  return {actual.to(Device::cpu()).narrow(0, w.offset, covered), expected.narrow(0, w.offset, covered)};
}

::testing::AssertionResult agree(const Tensor& actual, const Tensor& expected) {
  return is_floating(expected.dtype()) ? all_close(actual, expected, agreement_tolerance(expected.dtype()))
                                       : same_bytes(actual, expected);
}

// x with element i set to NaN.
Tensor with_nan(const Tensor& x, int64_t i) {
  Tensor y = x.to(DType::f64).clone();
  y.data_ptr<double>()[i] = std::nan("");
  return y.to(x.dtype());
}

TEST(CudaElementwise, UnaryMatchesCpu) {
  VOLT_REQUIRE_CUDA();
  const Unary ops[] = {
      Unary::neg,  Unary::exp,       Unary::log,   Unary::sqrt,       Unary::tanh,  Unary::sigmoid, Unary::relu,
      Unary::abs,  Unary::pow,       Unary::scale, Unary::add_scalar, Unary::log1p, Unary::expm1,   Unary::softplus,
      Unary::gelu, Unary::gelu_tanh, Unary::silu,  Unary::leaky_relu, Unary::clamp, Unary::sin,     Unary::cos};
  for (DType t : kFloating)
    for (int64_t n : kSizes)
      for (const Walk& w : walks(n, 1))
        for (Unary op : ops) {
          const bool positive = op == Unary::log || op == Unary::sqrt || op == Unary::pow || op == Unary::log1p;
          Tensor x = positive ? sample(w.in_numel, t, 1, 0.25, 4) : sample(w.in_numel, t, 1, -3, 3, 0.125);
          if (op == Unary::relu && n > 0) x = with_nan(x, w.offset);  // relu(NaN) is NaN on both
          // softplus: beta 1.5, threshold 2 (both branches); clamp: [-1.75, 1]; leaky_relu: slope 0.2.
          const double s = op == Unary::pow ? 2.5 : op == Unary::softplus ? 1.5 : op == Unary::leaky_relu ? 0.2 : -1.75;
          const double s2 = op == Unary::softplus ? 2.0 : 1.0;
          auto [actual, expected] = run_twins(
              w, t, {x}, [&](void* o, auto& in) { kernels::cpu::unary(op, t, o, in[0], w.loop, s, s2, Stream{}); },
              [&](void* o, auto& in) { kernels::cuda::unary(op, t, o, in[0], w.loop, s, s2, stream()); });
          EXPECT_TRUE(agree(actual, expected))
              << dtype_name(t) << " unary op " << static_cast<int>(op) << ", " << w.name << ", n=" << n;
        }
}

TEST(CudaElementwise, BinaryMatchesCpu) {
  VOLT_REQUIRE_CUDA();
  const Binary ops[] = {Binary::add,
                        Binary::sub,
                        Binary::mul,
                        Binary::div,
                        Binary::eq,
                        Binary::ne,
                        Binary::lt,
                        Binary::le,
                        Binary::gt,
                        Binary::ge,
                        Binary::relu_backward,
                        Binary::tanh_backward,
                        Binary::sigmoid_backward,
                        Binary::gelu_backward,
                        Binary::gelu_tanh_backward,
                        Binary::silu_backward,
                        Binary::leaky_relu_backward};
  for (DType t : kFloating)
    for (int64_t n : kSizes)
      for (const Walk& w : walks(n, 2))
        for (Binary op : ops) {
          // On a grid of 1/4 so comparisons meet ties and relu_backward meets y == 0.
          const Tensor a = sample(w.in_numel, t, 2, -2, 2, 0.25);
          const Tensor b =
              op == Binary::div ? sample(w.in_numel, t, 3, 0.25, 2, 0.25) : sample(w.in_numel, t, 3, -2, 2, 0.5);
          const DType out = kernels::is_comparison(op) ? DType::boolean : t;
          auto [actual, expected] = run_twins(
              w, out, {a, b},
              [&](void* o, auto& in) { kernels::cpu::binary(op, t, o, in[0], in[1], w.loop, 0.5, Stream{}); },
              [&](void* o, auto& in) { kernels::cuda::binary(op, t, o, in[0], in[1], w.loop, 0.5, stream()); });
          EXPECT_TRUE(agree(actual, expected))
              << dtype_name(t) << " binary op " << static_cast<int>(op) << ", " << w.name << ", n=" << n;
        }
}

TEST(CudaElementwise, IntegerAndBoolBinaryMatchCpu) {
  VOLT_REQUIRE_CUDA();
  const Binary ops[] = {Binary::add, Binary::sub, Binary::mul, Binary::eq, Binary::ne,
                        Binary::lt,  Binary::le,  Binary::gt,  Binary::ge};
  for (DType t : {DType::i32, DType::i64, DType::u8, DType::boolean})
    for (int64_t n : kSizes)
      for (const Walk& w : walks(n, 2))
        for (Binary op : ops) {
          if (t == DType::boolean && !kernels::is_comparison(op)) continue;
          const double hi = t == DType::boolean ? 2 : 40;  // u8 wraps on both devices alike
          const Tensor a = sample(w.in_numel, t, 4, 0, hi, 1), b = sample(w.in_numel, t, 5, 0, hi, 1);
          const DType out = kernels::is_comparison(op) ? DType::boolean : t;
          auto [actual, expected] = run_twins(
              w, out, {a, b},
              [&](void* o, auto& in) { kernels::cpu::binary(op, t, o, in[0], in[1], w.loop, 3.0, Stream{}); },
              [&](void* o, auto& in) { kernels::cuda::binary(op, t, o, in[0], in[1], w.loop, 3.0, stream()); });
          EXPECT_TRUE(same_bytes(actual, expected))
              << dtype_name(t) << " binary op " << static_cast<int>(op) << ", " << w.name << ", n=" << n;
        }
}

TEST(CudaElementwise, IntegerDivisionIsRefusedLikeTheCpu) {
  VOLT_REQUIRE_CUDA();
  const StridedLoop loop = kernels::make_strided_loop({4}, {{{4}, {1}}, {{4}, {1}}, {{4}, {1}}});
  EXPECT_THROW(kernels::cuda::binary(Binary::div, DType::i32, nullptr, nullptr, nullptr, loop, 1.0, stream()), Error);
  EXPECT_THROW(kernels::cuda::binary(Binary::add, DType::boolean, nullptr, nullptr, nullptr, loop, 1.0, stream()),
               Error);
}

TEST(CudaElementwise, BroadcastOperandMatchesCpu) {
  VOLT_REQUIRE_CUDA();
  for (DType t : kFloating)
    for (int64_t cols : {1, 7, 1023}) {
      const int64_t rows = 65;
      // out[r, c] = a[r, c] - 0.5 * b[c]: b is read with stride 0 along the rows.
      const StridedLoop loop = kernels::make_strided_loop(
          {rows, cols}, {{{rows, cols}, {cols, 1}}, {{rows, cols}, {cols, 1}}, {{cols}, {1}}});
      const Tensor a = sample(rows * cols, t, 6), b = sample(cols, t, 7);
      const Tensor ad = a.to(Device::cuda(0)), bd = b.to(Device::cuda(0));
      Tensor expected = empty({rows * cols}, t), actual = testing::cuda_empty({rows * cols}, t);
      kernels::cpu::binary(Binary::sub, t, expected.data_ptr(), a.data_ptr(), b.data_ptr(), loop, 0.5, Stream{});
      kernels::cuda::binary(Binary::sub, t, actual.data_ptr(), ad.data_ptr(), bd.data_ptr(), loop, 0.5, stream());
      EXPECT_TRUE(all_close(actual, expected, agreement_tolerance(t))) << dtype_name(t) << " cols=" << cols;
    }
}

TEST(CudaElementwise, TernaryMatchesCpu) {
  VOLT_REQUIRE_CUDA();
  for (DType t : kFloating)
    for (int64_t n : kSizes)
      for (const Walk& w : walks(n, 3))
        for (Ternary op : {Ternary::addcmul, Ternary::addcdiv, Ternary::where}) {
          // where selects on a non-zero: a on a grid of 1 in [-1, 1) is half zeros.
          const Tensor a = op == Ternary::where ? sample(w.in_numel, t, 8, -1, 1, 1.0) : sample(w.in_numel, t, 8);
          const Tensor b = sample(w.in_numel, t, 9), c = sample(w.in_numel, t, 10, 0.25, 2);
          auto [actual, expected] = run_twins(
              w, t, {a, b, c},
              [&](void* o, auto& in) { kernels::cpu::ternary(op, t, o, in[0], in[1], in[2], w.loop, -0.75, Stream{}); },
              [&](void* o, auto& in) {
                kernels::cuda::ternary(op, t, o, in[0], in[1], in[2], w.loop, -0.75, stream());
              });
          EXPECT_TRUE(agree(actual, expected))
              << dtype_name(t) << " ternary op " << static_cast<int>(op) << ", " << w.name << ", n=" << n;
        }
}

// Conversions are exact functions of the input (round-to-nearest-even into the half types on
// both devices), so the bytes agree.
TEST(CudaElementwise, CastBetweenEveryPairOfDtypesMatchesCpuBitwise) {
  VOLT_REQUIRE_CUDA();
  for (DType from : kAll)
    for (DType to : kAll)
      for (int64_t n : kSizes)
        for (const Walk& w : walks(n, 1)) {
          // Non-negative (a negative float to u8 is undefined in C++) with halves and ties to round.
          const Tensor x = sample(w.in_numel, from, 11, 0, 100, 0.375);
          auto [actual, expected] = run_twins(
              w, to, {x}, [&](void* o, auto& in) { kernels::cpu::cast(to, o, from, in[0], w.loop, Stream{}); },
              [&](void* o, auto& in) { kernels::cuda::cast(to, o, from, in[0], w.loop, stream()); });
          EXPECT_TRUE(same_bytes(actual, expected))
              << dtype_name(from) << " -> " << dtype_name(to) << ", " << w.name << ", n=" << n;
        }
}

TEST(CudaElementwise, FillMatchesCpuBitwise) {
  VOLT_REQUIRE_CUDA();
  for (DType t : kAll)
    for (int64_t n : kSizes)
      for (const Walk& w : walks(n, 0))
        for (double value : {2.5, 0.1}) {
          auto [actual, expected] = run_twins(
              w, t, {}, [&](void* o, auto&) { kernels::cpu::fill(t, o, w.loop, value, Stream{}); },
              [&](void* o, auto&) { kernels::cuda::fill(t, o, w.loop, value, stream()); });
          EXPECT_TRUE(same_bytes(actual, expected)) << dtype_name(t) << " " << w.name << ", n=" << n;
        }
}

TEST(CudaElementwise, InPlaceOutputAliasingAnInput) {
  VOLT_REQUIRE_CUDA();
  for (int64_t n : kSizes) {
    const StridedLoop loop = kernels::make_strided_loop({n}, {{{n}, {1}}, {{n}, {1}}, {{n}, {1}}});
    Tensor a = sample(n, DType::f32, 12), b = sample(n, DType::f32, 13);
    Tensor ad = a.to(Device::cuda(0)), bd = b.to(Device::cuda(0));
    kernels::cpu::binary(Binary::add, DType::f32, a.data_ptr(), a.data_ptr(), b.data_ptr(), loop, 2.0, Stream{});
    kernels::cuda::binary(Binary::add, DType::f32, ad.data_ptr(), ad.data_ptr(), bd.data_ptr(), loop, 2.0, stream());
    EXPECT_TRUE(all_close(ad, a, 1e-5)) << "n=" << n;
  }
}

// cuDNN's relu is an independent implementation; relu is exact, so the bytes agree.
TEST(CudaElementwise, ReluMatchesCudnn) {
  VOLT_REQUIRE_CUDA();
  testing::CudnnOracle cudnn;
  for (DType t : {DType::f32, DType::f64, DType::f16})
    for (int64_t n : {1, 7, 1023, 65537}) {
      const Tensor x = sample(n, t, 14, -3, 3, 0.125).to(Device::cuda(0));
      Tensor y = testing::cuda_empty({n}, t);
      const StridedLoop loop = kernels::make_strided_loop({n}, {{{n}, {1}}, {{n}, {1}}});
      kernels::cuda::unary(Unary::relu, t, y.data_ptr(), x.data_ptr(), loop, 0.0, 0.0, stream());
      EXPECT_TRUE(same_bytes(y, cudnn.relu(x))) << dtype_name(t) << " n=" << n;
    }
}

}  // namespace
}  // namespace volt
