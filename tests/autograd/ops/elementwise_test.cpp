// Elementwise ops against naive loops in double: broadcasting, non-contiguous inputs, sizes
// that break vector widths, half types, comparisons.
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

using testing::naive_broadcast_shape;

// Row-major index into `shape` of the element that broadcasts to output index `idx`.
int64_t source_index(const Shape& shape, const std::vector<int64_t>& idx) {
  const std::size_t lead = idx.size() - shape.size();
  int64_t flat = 0;
  for (std::size_t d = 0; d < shape.size(); ++d)
    flat = flat * shape[d] + (shape[d] == 1 ? 0 : idx[lead + d]);
  return flat;
}

// out[i] = f(a[..], b[..]) by walking every output index.
std::vector<double> naive_binary(const std::vector<double>& a, const Shape& sa, const std::vector<double>& b,
                                 const Shape& sb, const std::function<double(double, double)>& f) {
  const Shape out = naive_broadcast_shape(sa, sb);
  std::vector<double> r;
  std::vector<int64_t> idx(out.size(), 0);
  for (int64_t n = 0; n < numel(out); ++n) {
    r.push_back(f(a[source_index(sa, idx)], b[source_index(sb, idx)]));
    for (std::size_t d = out.size(); d-- > 0;) {
      if (++idx[d] < out[d]) break;
      idx[d] = 0;
    }
  }
  return r;
}

void expect_close(const std::vector<double>& got, const std::vector<double>& want, double rel,
                  const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  for (std::size_t i = 0; i < got.size(); ++i)
    ASSERT_NEAR(got[i], want[i], rel * (1.0 + std::abs(want[i]))) << what << " element " << i;
}

struct ShapePair {
  Shape a, b;
};
const ShapePair kShapes[] = {
    {{0}, {0}},
    {{1}, {1}},
    {{7}, {7}},
    {{1023}, {1}},
    {{65537}, {65537}},
    {{3, 1}, {1, 4}},
    {{2, 3, 4}, {3, 1}},
    {{0, 3}, {1, 3}},
    {{5, 1, 7}, {2, 1}},
    {{}, {2, 3}},
    {{4, 5}, {}},
    {{1, 1, 1}, {6}},
    {{2, 1, 3, 1}, {4, 1, 5}},
};

TEST(Elementwise, BinaryOpsBroadcastLikeNaiveLoops) {
  Generator g(1);
  using F = std::function<double(double, double)>;
  for (DType dtype : {DType::f32, DType::f64}) {
    const double rel = dtype == DType::f32 ? 1e-6 : 1e-14;
    for (const auto& [sa, sb] : kShapes) {
      Tensor a = rand(sa, dtype, &g) * 4.0 - 2.0;
      Tensor b = rand(sb, dtype, &g) + 0.5;
      const auto va = a.to_vector<double>(), vb = b.to_vector<double>();
      const std::string what = dtype_name(dtype) + shape_str(sa) + shape_str(sb);
      EXPECT_EQ((a + b).shape(), naive_broadcast_shape(sa, sb)) << what;
      EXPECT_EQ((a + b).dtype(), dtype);
      expect_close((a + b).to_vector<double>(), naive_binary(va, sa, vb, sb, F(std::plus<>())), rel, "add " + what);
      expect_close((a - b).to_vector<double>(), naive_binary(va, sa, vb, sb, F(std::minus<>())), rel, "sub " + what);
      expect_close((a * b).to_vector<double>(), naive_binary(va, sa, vb, sb, F(std::multiplies<>())), rel,
                   "mul " + what);
      expect_close((a / b).to_vector<double>(), naive_binary(va, sa, vb, sb, F(std::divides<>())), rel, "div " + what);
      // b - a: the same shapes with the broadcast roles swapped.
      expect_close((b - a).to_vector<double>(), naive_binary(vb, sb, va, sa, F(std::minus<>())), rel, "rsub " + what);
      expect_close(add(a, b, 2.5).to_vector<double>(),
                   naive_binary(va, sa, vb, sb, [](double x, double y) { return x + 2.5 * y; }), rel,
                   "add alpha " + what);
      expect_close(sub(a, b, -0.5).to_vector<double>(),
                   naive_binary(va, sa, vb, sb, [](double x, double y) { return x + 0.5 * y; }), rel,
                   "sub alpha " + what);
    }
  }
}

TEST(Elementwise, NonContiguousOperands) {
  Generator g(2);
  Tensor a = rand({4, 6}, {}, &g).t();                                 // [6, 4] strides [1, 6]
  Tensor b = rand({1, 4}, {}, &g).expand({6, 4});                      // strides [0, 1]
  Tensor c = rand({12, 8}, {}, &g).slice(0, 0, 12, 2).slice(1, 2, 6);  // strides [16, 1], offset 2
  ASSERT_EQ(c.strides(), (Shape{16, 1}));
  const auto va = a.to_vector<double>(), vb = b.to_vector<double>(), vc = c.to_vector<double>();
  const auto got = (a * b + c).to_vector<double>();
  for (std::size_t i = 0; i < got.size(); ++i)
    EXPECT_NEAR(got[i], static_cast<double>(static_cast<float>(va[i] * vb[i])) + vc[i], 1e-6);
  // Writing a result over a transposed view reads the same values as the contiguous copy.
  EXPECT_EQ((a + 1.0).to_vector<float>(), (a.contiguous() + 1.0).to_vector<float>());
}

TEST(Elementwise, UnaryOpsMatchTheMathLibrary) {
  Generator g(3);
  struct Case {
    const char* name;
    std::function<Tensor(const Tensor&)> op;
    std::function<double(double)> ref;
    double lo, hi;
  };
  const Case cases[] = {
      {"neg", [](const Tensor& x) { return -x; }, [](double x) { return -x; }, -3, 3},
      {"exp", [](const Tensor& x) { return x.exp(); }, [](double x) { return std::exp(x); }, -5, 5},
      {"log", [](const Tensor& x) { return x.log(); }, [](double x) { return std::log(x); }, 0.01, 10},
      {"sqrt", [](const Tensor& x) { return x.sqrt(); }, [](double x) { return std::sqrt(x); }, 0, 10},
      {"tanh", [](const Tensor& x) { return x.tanh(); }, [](double x) { return std::tanh(x); }, -4, 4},
      {"sigmoid", [](const Tensor& x) { return x.sigmoid(); }, [](double x) { return 1 / (1 + std::exp(-x)); }, -8, 8},
      {"relu", [](const Tensor& x) { return x.relu(); }, [](double x) { return x > 0 ? x : 0; }, -2, 2},
      {"abs", [](const Tensor& x) { return x.abs(); }, [](double x) { return std::fabs(x); }, -2, 2},
      {"pow", [](const Tensor& x) { return x.pow(1.5); }, [](double x) { return std::pow(x, 1.5); }, 0, 4},
      {"square", [](const Tensor& x) { return x.pow(2); }, [](double x) { return x * x; }, -3, 3},
      {"scale", [](const Tensor& x) { return x * 3.0; }, [](double x) { return 3 * x; }, -1, 1},
      {"add_scalar", [](const Tensor& x) { return 2.0 + x; }, [](double x) { return x + 2; }, -1, 1},
      {"sub_scalar", [](const Tensor& x) { return x - 2.0; }, [](double x) { return x - 2; }, -1, 1},
      {"rsub_scalar", [](const Tensor& x) { return 2.0 - x; }, [](double x) { return 2 - x; }, -1, 1},
      {"div_scalar", [](const Tensor& x) { return x / 4.0; }, [](double x) { return x / 4; }, -1, 1},
      {"rdiv_scalar", [](const Tensor& x) { return 1.0 / x; }, [](double x) { return 1 / x; }, 0.5, 2},
  };
  for (const Case& c : cases) {
    for (int64_t n : {0, 1, 7, 1023, 65537}) {
      Tensor x = rand({n}, {}, &g) * (c.hi - c.lo) + c.lo;
      const auto vx = x.to_vector<double>();
      std::vector<double> want;
      for (double v : vx)
        want.push_back(c.ref(v));
      Tensor y = c.op(x);
      EXPECT_EQ(y.shape(), x.shape());
      expect_close(y.to_vector<double>(), want, 2e-6, std::string(c.name) + "[" + std::to_string(n) + "]");
    }
  }
  // Non-contiguous input, f64.
  Tensor m = (rand({5, 3}, DType::f64, &g) - 0.5).t();
  const auto vm = m.to_vector<double>();
  const auto r = m.relu().to_vector<double>();
  for (std::size_t i = 0; i < vm.size(); ++i)
    EXPECT_EQ(r[i], vm[i] > 0 ? vm[i] : 0.0);
  EXPECT_TRUE(std::isnan(tensor({NAN}).relu().item<float>()));
}

TEST(Elementwise, HalfTypesComputeInFloatAndRoundOnStore) {
  // 1 + 2^-11 is halfway between f16's 1 and 1 + 2^-10: round to even gives 1; 1 + 3 * 2^-11
  // is halfway between 1 + 2^-10 and 1 + 2^-9 and goes up.
  Tensor one = tensor({1.0, 1.0}, DType::f16);
  Tensor d = tensor({0x1.0p-11, 3 * 0x1.0p-11}, DType::f16);
  EXPECT_EQ((one + d).to_vector<double>(), (std::vector<double>{1.0, 1.0 + 0x1.0p-9}));
  Tensor oneb = tensor({1.0, 1.0}, DType::bf16);
  Tensor db = tensor({0x1.0p-8, 3 * 0x1.0p-8}, DType::bf16);
  EXPECT_EQ((oneb + db).to_vector<double>(), (std::vector<double>{1.0, 1.0 + 0x1.0p-6}));
  // exp in float then one rounding: exp(1) = 2.71828... -> f16 2.71875 (nearest with 10 bits).
  EXPECT_EQ(tensor({1.0}, DType::f16).exp().item<double>(), 2.71875);
  Tensor big = full({7}, 300.0, DType::f16);
  EXPECT_TRUE(std::isinf((big * big).to_vector<double>()[6]));  // 90000 > 65504
  EXPECT_EQ((big * big).dtype(), DType::f16);
}

TEST(Elementwise, ComparisonsGiveBool) {
  Tensor a = tensor({1.0, 2.0, 3.0});
  Tensor b = tensor({2.0, 2.0, 2.0});
  EXPECT_EQ(a.eq(b).dtype(), DType::boolean);
  EXPECT_EQ(a.eq(b).to_vector<bool>(), (std::vector<bool>{false, true, false}));
  EXPECT_EQ(a.ne(b).to_vector<bool>(), (std::vector<bool>{true, false, true}));
  EXPECT_EQ(a.lt(b).to_vector<bool>(), (std::vector<bool>{true, false, false}));
  EXPECT_EQ(a.le(b).to_vector<bool>(), (std::vector<bool>{true, true, false}));
  EXPECT_EQ(a.gt(b).to_vector<bool>(), (std::vector<bool>{false, false, true}));
  EXPECT_EQ(a.ge(b).to_vector<bool>(), (std::vector<bool>{false, true, true}));
  // Broadcast [3, 1] against [4] for an integer dtype.
  Tensor i = tensor(std::vector<int64_t>{0, 1, 2}, {3, 1});
  Tensor j = tensor(std::vector<int64_t>{0, 1, 2, 3});
  Tensor lt = volt::lt(i, j);
  EXPECT_EQ(lt.shape(), (Shape{3, 4}));
  std::vector<bool> want;
  for (int r = 0; r < 3; ++r)
    for (int c = 0; c < 4; ++c)
      want.push_back(r < c);
  EXPECT_EQ(lt.to_vector<bool>(), want);
  // NaN compares unequal to everything, itself included.
  Tensor n = tensor({NAN});
  EXPECT_EQ(n.eq(n).item<bool>(), false);
  EXPECT_EQ(n.ne(n).item<bool>(), true);
  // Bool tensors compare too.
  Tensor t = tensor(std::vector<bool>{true, false});
  EXPECT_EQ(t.eq(tensor(std::vector<bool>{true, true})).to_vector<bool>(), (std::vector<bool>{true, false}));
}

TEST(Elementwise, IntegerArithmetic) {
  Tensor a = tensor(std::vector<int64_t>{1, -2, 3, 40}, {2, 2});
  Tensor b = tensor(std::vector<int64_t>{10, 20});
  EXPECT_EQ((a + b).to_vector<int64_t>(), (std::vector<int64_t>{11, 18, 13, 60}));
  EXPECT_EQ((a - b).to_vector<int64_t>(), (std::vector<int64_t>{-9, -22, -7, 20}));
  EXPECT_EQ((a * b).to_vector<int64_t>(), (std::vector<int64_t>{10, -40, 30, 800}));
  EXPECT_EQ(add(a, b, 2).to_vector<int64_t>(), (std::vector<int64_t>{21, 38, 23, 80}));
  EXPECT_EQ((a + b).dtype(), DType::i64);
  Tensor u = tensor(std::vector<uint8_t>{250, 3});
  EXPECT_EQ((u + u).to_vector<int64_t>(), (std::vector<int64_t>{244, 6}));  // wraps mod 256
  EXPECT_THAT(error_of([&] { a / b; }), HasSubstr("integer division is not supported"));
  EXPECT_THAT(error_of([&] { a.exp(); }), HasSubstr("expected a floating tensor"));
}

TEST(Elementwise, ShapeAndDTypeErrors) {
  const std::string msg = error_of([] { zeros({2, 3}) + zeros({4}); });
  EXPECT_THAT(msg, HasSubstr("add"));
  EXPECT_THAT(msg, HasSubstr("[2, 3]"));
  EXPECT_THAT(msg, HasSubstr("[4]"));
  EXPECT_THAT(error_of([] { zeros({2, 1, 3}) * zeros({5, 2}); }), HasSubstr("[2, 1, 3] and [5, 2]"));
  const std::string dt = error_of([] { zeros({2}) + zeros({2}, DType::f64); });
  EXPECT_THAT(dt, HasSubstr("dtypes differ"));
  EXPECT_THAT(dt, HasSubstr("f32[2]"));
  EXPECT_THAT(dt, HasSubstr("f64[2]"));
  EXPECT_THAT(error_of([] { add(Tensor(), zeros({1})); }), HasSubstr("undefined"));
}

}  // namespace
}  // namespace volt
