// Elementwise ops: each forward runs one kernel of the elementwise family (kernels/elementwise.h)
// through kernels::launch, and its backward is recorded right beside it.
#include "volt/kernels/elementwise.h"

#include <cmath>
#include <limits>
#include <string>

#include "volt/autograd/node.h"
#include "volt/autograd/ops.h"
#include "volt/autograd/ops/op_checks.h"

namespace volt {
namespace {

using kernels::Binary;
using kernels::Unary;

Tensor unary_out(const char* op, Unary kind, const Tensor& x, double scalar = 0.0, double scalar2 = 0.0) {
  ops::check_floating(op, x);
  ops::check_device(op, {x});
  Tensor y = empty(x.shape(), TensorOptions(x.dtype()).device(x.device()));
  kernels::launch(kernels::unary, x.device(), kind, x.dtype(), y.data_ptr(), x.data_ptr(),
                  ops::loop_for(x.shape(), y, x), scalar, scalar2);
  return y;
}

Tensor binary_out(const char* op, Binary kind, const Tensor& a, const Tensor& b, double alpha = 1.0) {
  ops::check_defined(op, a);
  ops::check_defined(op, b);
  ops::check_device(op, {a, b});
  ops::check_same_dtype(op, a, b);
  VOLT_CHECK(kind != Binary::div || is_floating(a.dtype()), op, ": integer division is not supported, got ",
             describe(a), "; convert to a floating dtype first");
  const Shape shape = broadcast_shapes(a.shape(), b.shape(), op);
  const DType out_dtype = kernels::is_comparison(kind) ? DType::boolean : a.dtype();
  Tensor y = empty(shape, TensorOptions(out_dtype).device(a.device()));
  kernels::launch(kernels::binary, a.device(), kind, a.dtype(), y.data_ptr(), a.data_ptr(), b.data_ptr(),
                  ops::loop_for(shape, y, a, b), alpha);
  return y;
}

// An op whose backward is one kernel of (grad, x): gelu, silu, leaky_relu.
Tensor unary_with_input_backward(const char* op, const char* node, Unary kind, Binary backward, const Tensor& x,
                                 double scalar = 0.0) {
  Tensor y = unary_out(op, kind, x, scalar);
  record(node, y, {x},
         [x = x.detach(), op, backward, scalar](const Tensor& g) {
           return std::vector<Tensor>{binary_out(op, backward, g, x, scalar)};
         },
         {x});
  return y;
}

}  // namespace

Tensor add(const Tensor& a, const Tensor& b, double alpha) {
  Tensor y = binary_out("add", Binary::add, a, b, alpha);
  record("AddBackward", y, {a, b}, [sa = a.shape(), sb = b.shape(), alpha](const Tensor& g) {
    return std::vector<Tensor>{sum_to(g, sa), sum_to(alpha == 1.0 ? g : mul(g, alpha), sb)};
  });
  return y;
}

Tensor sub(const Tensor& a, const Tensor& b, double alpha) {
  Tensor y = binary_out("sub", Binary::sub, a, b, alpha);
  record("SubBackward", y, {a, b}, [sa = a.shape(), sb = b.shape(), alpha](const Tensor& g) {
    return std::vector<Tensor>{sum_to(g, sa), sum_to(mul(g, -alpha), sb)};
  });
  return y;
}

Tensor mul(const Tensor& a, const Tensor& b) {
  Tensor y = binary_out("mul", Binary::mul, a, b);
  const bool need_a = a.requires_grad(), need_b = b.requires_grad();
  record("MulBackward", y, {a, b},
         [a = a.detach(), b = b.detach(), need_a, need_b](const Tensor& g) {
           return std::vector<Tensor>{need_a ? sum_to(mul(g, b), a.shape()) : Tensor(),
                                      need_b ? sum_to(mul(g, a), b.shape()) : Tensor()};
         },
         {a, b});
  return y;
}

Tensor div(const Tensor& a, const Tensor& b) {
  Tensor y = binary_out("div", Binary::div, a, b);
  const bool need_b = b.requires_grad();
  record("DivBackward", y, {a, b},
         [a = a.detach(), b = b.detach(), need_b](const Tensor& g) {
           Tensor ga = sum_to(div(g, b), a.shape());
           Tensor gb = need_b ? sum_to(neg(div(mul(g, a), mul(b, b))), b.shape()) : Tensor();
           return std::vector<Tensor>{ga, gb};
         },
         {a, b});
  return y;
}

Tensor add(const Tensor& a, double s) {
  Tensor y = unary_out("add", Unary::add_scalar, a, s);
  record("AddBackward", y, {a}, [](const Tensor& g) { return std::vector<Tensor>{g}; });
  return y;
}

Tensor mul(const Tensor& a, double s) {
  Tensor y = unary_out("mul", Unary::scale, a, s);
  record("MulBackward", y, {a}, [s](const Tensor& g) { return std::vector<Tensor>{mul(g, s)}; });
  return y;
}

Tensor neg(const Tensor& x) {
  Tensor y = unary_out("neg", Unary::neg, x);
  record("NegBackward", y, {x}, [](const Tensor& g) { return std::vector<Tensor>{neg(g)}; });
  return y;
}

Tensor exp(const Tensor& x) {
  Tensor y = unary_out("exp", Unary::exp, x);
  record("ExpBackward", y, {x}, [y = y.detach()](const Tensor& g) { return std::vector<Tensor>{mul(g, y)}; }, {y});
  return y;
}

Tensor log(const Tensor& x) {
  Tensor y = unary_out("log", Unary::log, x);
  record("LogBackward", y, {x}, [x = x.detach()](const Tensor& g) { return std::vector<Tensor>{div(g, x)}; }, {x});
  return y;
}

Tensor sqrt(const Tensor& x) {
  Tensor y = unary_out("sqrt", Unary::sqrt, x);
  record("SqrtBackward", y, {x}, [y = y.detach()](const Tensor& g) { return std::vector<Tensor>{div(mul(g, 0.5), y)}; },
         {y});
  return y;
}

Tensor pow(const Tensor& x, double exponent) {
  Tensor y = unary_out("pow", Unary::pow, x, exponent);
  record("PowBackward", y, {x},
         [x = x.detach(), exponent](const Tensor& g) {
           return std::vector<Tensor>{mul(g, mul(pow(x, exponent - 1.0), exponent))};
         },
         {x});
  return y;
}

Tensor tanh(const Tensor& x) {
  Tensor y = unary_out("tanh", Unary::tanh, x);
  record("TanhBackward", y, {x},
         [y = y.detach()](const Tensor& g) {
           return std::vector<Tensor>{binary_out("tanh_backward", Binary::tanh_backward, g, y)};
         },
         {y});
  return y;
}

Tensor sigmoid(const Tensor& x) {
  Tensor y = unary_out("sigmoid", Unary::sigmoid, x);
  record("SigmoidBackward", y, {x},
         [y = y.detach()](const Tensor& g) {
           return std::vector<Tensor>{binary_out("sigmoid_backward", Binary::sigmoid_backward, g, y)};
         },
         {y});
  return y;
}

Tensor relu(const Tensor& x) {
  Tensor y = unary_out("relu", Unary::relu, x);
  record("ReluBackward", y, {x},
         [y = y.detach()](const Tensor& g) {
           return std::vector<Tensor>{binary_out("relu_backward", Binary::relu_backward, g, y)};
         },
         {y});
  return y;
}

Tensor abs(const Tensor& x) {
  Tensor y = unary_out("abs", Unary::abs, x);
  record("AbsBackward", y, {x},
         [x = x.detach()](const Tensor& g) {
           const Tensor zero = zeros({}, TensorOptions(x.dtype()).device(x.device()));
           const Tensor sign = sub(gt(x, zero).to(x.dtype()), lt(x, zero).to(x.dtype()));
           return std::vector<Tensor>{mul(g, sign)};
         },
         {x});
  return y;
}

Tensor log1p(const Tensor& x) {
  Tensor y = unary_out("log1p", Unary::log1p, x);
  record("Log1pBackward", y, {x},
         [x = x.detach()](const Tensor& g) { return std::vector<Tensor>{div(g, add(x, 1.0))}; }, {x});
  return y;
}

Tensor expm1(const Tensor& x) {
  Tensor y = unary_out("expm1", Unary::expm1, x);
  record("Expm1Backward", y, {x},
         [y = y.detach()](const Tensor& g) { return std::vector<Tensor>{mul(g, add(y, 1.0))}; }, {y});
  return y;
}

Tensor square(const Tensor& x) { return mul(x, x); }

Tensor softplus(const Tensor& x, double beta, double threshold) {
  VOLT_CHECK(beta != 0 && std::isfinite(beta), "softplus: beta must be finite and non-zero, got ", beta);
  Tensor y = unary_out("softplus", Unary::softplus, x, beta, threshold);
  // sigmoid(beta·x) below the threshold and exactly 1 above it: s + m·(1 - s) with m the mask.
  record("SoftplusBackward", y, {x},
         [x = x.detach(), beta, threshold](const Tensor& g) {
           const Tensor z = mul(x, beta), s = sigmoid(z);
           const Tensor above = gt(z, threshold).to(z.dtype());
           return std::vector<Tensor>{mul(g, add(s, mul(above, add(neg(s), 1.0))))};
         },
         {x});
  return y;
}

Tensor gelu(const Tensor& x, const std::string& approximate) {
  VOLT_CHECK(approximate == "none" || approximate == "tanh", "gelu: approximate must be \"none\" or \"tanh\", got \"",
             approximate, "\"");
  if (approximate == "tanh")
    return unary_with_input_backward("gelu", "GeluBackward", Unary::gelu_tanh, Binary::gelu_tanh_backward, x);
  return unary_with_input_backward("gelu", "GeluBackward", Unary::gelu, Binary::gelu_backward, x);
}

Tensor silu(const Tensor& x) {
  return unary_with_input_backward("silu", "SiluBackward", Unary::silu, Binary::silu_backward, x);
}

Tensor leaky_relu(const Tensor& x, double negative_slope) {
  return unary_with_input_backward("leaky_relu", "LeakyReluBackward", Unary::leaky_relu, Binary::leaky_relu_backward, x,
                                   negative_slope);
}

Tensor clamp(const Tensor& x, std::optional<double> min, std::optional<double> max) {
  VOLT_CHECK(min || max, "clamp: at least one of min and max must be given");
  VOLT_CHECK(!(min && std::isnan(*min)) && !(max && std::isnan(*max)), "clamp: a bound is NaN");
  const double inf = std::numeric_limits<double>::infinity();
  const double lo = min.value_or(-inf), hi = max.value_or(inf);
  Tensor y = unary_out("clamp", Unary::clamp, x, lo, hi);
  record("ClampBackward", y, {x},
         [x = x.detach(), lo, hi](const Tensor& g) {
           const Tensor inside = mul(ge(x, lo).to(x.dtype()), le(x, hi).to(x.dtype()));
           return std::vector<Tensor>{mul(g, inside)};
         },
         {x});
  return y;
}

Tensor clamp_min(const Tensor& x, double min) { return clamp(x, min, std::nullopt); }
Tensor clamp_max(const Tensor& x, double max) { return clamp(x, std::nullopt, max); }

Tensor operator+(const Tensor& a, const Tensor& b) { return add(a, b); }
Tensor operator-(const Tensor& a, const Tensor& b) { return sub(a, b); }
Tensor operator*(const Tensor& a, const Tensor& b) { return mul(a, b); }
Tensor operator/(const Tensor& a, const Tensor& b) { return div(a, b); }
Tensor operator+(const Tensor& a, double s) { return add(a, s); }
Tensor operator+(double s, const Tensor& a) { return add(a, s); }
Tensor operator-(const Tensor& a, double s) { return add(a, -s); }
Tensor operator-(double s, const Tensor& a) { return add(neg(a), s); }
Tensor operator*(const Tensor& a, double s) { return mul(a, s); }
Tensor operator*(double s, const Tensor& a) { return mul(a, s); }
Tensor operator/(const Tensor& a, double s) { return mul(a, 1.0 / s); }
Tensor operator/(double s, const Tensor& a) { return mul(pow(a, -1.0), s); }

Tensor eq(const Tensor& a, const Tensor& b) { return binary_out("eq", Binary::eq, a, b); }
Tensor ne(const Tensor& a, const Tensor& b) { return binary_out("ne", Binary::ne, a, b); }
Tensor lt(const Tensor& a, const Tensor& b) { return binary_out("lt", Binary::lt, a, b); }
Tensor le(const Tensor& a, const Tensor& b) { return binary_out("le", Binary::le, a, b); }
Tensor gt(const Tensor& a, const Tensor& b) { return binary_out("gt", Binary::gt, a, b); }
Tensor ge(const Tensor& a, const Tensor& b) { return binary_out("ge", Binary::ge, a, b); }

namespace {
Tensor scalar_like(const Tensor& a, double s) {
  ops::check_defined("comparison", a);
  return full({}, s, TensorOptions(a.dtype()).device(a.device()));
}
}  // namespace

Tensor eq(const Tensor& a, double s) { return eq(a, scalar_like(a, s)); }
Tensor ne(const Tensor& a, double s) { return ne(a, scalar_like(a, s)); }
Tensor lt(const Tensor& a, double s) { return lt(a, scalar_like(a, s)); }
Tensor le(const Tensor& a, double s) { return le(a, scalar_like(a, s)); }
Tensor gt(const Tensor& a, double s) { return gt(a, scalar_like(a, s)); }
Tensor ge(const Tensor& a, double s) { return ge(a, scalar_like(a, s)); }

Tensor operator<(const Tensor& a, const Tensor& b) { return lt(a, b); }
Tensor operator<=(const Tensor& a, const Tensor& b) { return le(a, b); }
Tensor operator>(const Tensor& a, const Tensor& b) { return gt(a, b); }
Tensor operator>=(const Tensor& a, const Tensor& b) { return ge(a, b); }
Tensor operator<(const Tensor& a, double s) { return lt(a, s); }
Tensor operator<=(const Tensor& a, double s) { return le(a, s); }
Tensor operator>(const Tensor& a, double s) { return gt(a, s); }
Tensor operator>=(const Tensor& a, double s) { return ge(a, s); }
Tensor operator<(double s, const Tensor& a) { return gt(a, s); }
Tensor operator<=(double s, const Tensor& a) { return ge(a, s); }
Tensor operator>(double s, const Tensor& a) { return lt(a, s); }
Tensor operator>=(double s, const Tensor& a) { return le(a, s); }

Tensor where(const Tensor& cond, const Tensor& b, const Tensor& c) {
  const char* op = "where";
  ops::check_defined(op, cond);
  ops::check_defined(op, b);
  ops::check_defined(op, c);
  VOLT_CHECK(cond.dtype() == DType::boolean, "where: the condition must be a bool tensor, got ", describe(cond));
  ops::check_floating(op, b);
  ops::check_device(op, {cond, b, c});
  ops::check_same_dtype(op, b, c);
  const Shape shape = broadcast_shapes(broadcast_shapes(cond.shape(), b.shape(), op), c.shape(), op);
  const Tensor selector = cond.to(b.dtype());  // 1 or 0, which the kernel only compares
  Tensor y = empty(shape, TensorOptions(b.dtype()).device(b.device()));
  kernels::launch(kernels::ternary, b.device(), kernels::Ternary::where, b.dtype(), y.data_ptr(), selector.data_ptr(),
                  b.data_ptr(), c.data_ptr(), ops::loop_for(shape, y, selector, b, c), 0.0);
  record("WhereBackward", y, {b, c},
         [selector = selector.detach(), b_shape = b.shape(), c_shape = c.shape()](const Tensor& g) {
           const Tensor zero = zeros({}, TensorOptions(g.dtype()).device(g.device()));
           const Tensor taken = selector.ne(0.0);
           return std::vector<Tensor>{sum_to(where(taken, g, zero), b_shape), sum_to(where(taken, zero, g), c_shape)};
         },
         {selector});
  return y;
}

Tensor masked_fill(const Tensor& x, const Tensor& mask, double value) {
  ops::check_floating("masked_fill", x);
  VOLT_CHECK(mask.dtype() == DType::boolean, "masked_fill: the mask must be a bool tensor, got ", describe(mask));
  return where(mask, full({}, value, TensorOptions(x.dtype()).device(x.device())), x);
}

Tensor isnan(const Tensor& x) { return ne(x, x); }
Tensor isinf(const Tensor& x) {
  if (!is_floating(x.dtype())) return zeros(x.shape(), TensorOptions(DType::boolean).device(x.device()));
  return eq(abs(x.detach()), std::numeric_limits<double>::infinity());
}
Tensor isfinite(const Tensor& x) { return eq(sub(x.detach(), x.detach()), 0.0); }

bool allclose(const Tensor& a, const Tensor& b, double rtol, double atol, bool equal_nan) {
  ops::check_device("allclose", {a, b});
  const Tensor x = a.detach().to(DType::f64), y = b.detach().to(DType::f64);
  const Shape shape = broadcast_shapes(x.shape(), y.shape(), "allclose");
  const Tensor xc = x.expand(shape).contiguous().to(Device::cpu()), yc = y.expand(shape).contiguous().to(Device::cpu());
  const double* p = xc.data_ptr<double>();
  const double* q = yc.data_ptr<double>();
  for (int64_t i = 0; i < xc.numel(); ++i) {
    if (std::isnan(p[i]) || std::isnan(q[i])) {
      if (equal_nan && std::isnan(p[i]) && std::isnan(q[i])) continue;
      return false;
    }
    if (p[i] == q[i]) continue;  // equal infinities
    if (!(std::abs(p[i] - q[i]) <= atol + rtol * std::abs(q[i]))) return false;
  }
  return true;
}

Tensor Tensor::operator-() const { return neg(*this); }
Tensor Tensor::exp() const { return volt::exp(*this); }
Tensor Tensor::log() const { return volt::log(*this); }
Tensor Tensor::sqrt() const { return volt::sqrt(*this); }
Tensor Tensor::pow(double e) const { return volt::pow(*this, e); }
Tensor Tensor::tanh() const { return volt::tanh(*this); }
Tensor Tensor::sigmoid() const { return volt::sigmoid(*this); }
Tensor Tensor::relu() const { return volt::relu(*this); }
Tensor Tensor::abs() const { return volt::abs(*this); }
Tensor Tensor::log1p() const { return volt::log1p(*this); }
Tensor Tensor::expm1() const { return volt::expm1(*this); }
Tensor Tensor::square() const { return volt::square(*this); }
Tensor Tensor::clamp(std::optional<double> min, std::optional<double> max) const {
  return volt::clamp(*this, min, max);
}
Tensor Tensor::clamp_min(double min) const { return volt::clamp_min(*this, min); }
Tensor Tensor::clamp_max(double max) const { return volt::clamp_max(*this, max); }
Tensor Tensor::eq(const Tensor& o) const { return volt::eq(*this, o); }
Tensor Tensor::ne(const Tensor& o) const { return volt::ne(*this, o); }
Tensor Tensor::lt(const Tensor& o) const { return volt::lt(*this, o); }
Tensor Tensor::le(const Tensor& o) const { return volt::le(*this, o); }
Tensor Tensor::gt(const Tensor& o) const { return volt::gt(*this, o); }
Tensor Tensor::ge(const Tensor& o) const { return volt::ge(*this, o); }
Tensor Tensor::eq(double s) const { return volt::eq(*this, s); }
Tensor Tensor::ne(double s) const { return volt::ne(*this, s); }
Tensor Tensor::lt(double s) const { return volt::lt(*this, s); }
Tensor Tensor::le(double s) const { return volt::le(*this, s); }
Tensor Tensor::gt(double s) const { return volt::gt(*this, s); }
Tensor Tensor::ge(double s) const { return volt::ge(*this, s); }
Tensor Tensor::add(const Tensor& other, double alpha) const { return volt::add(*this, other, alpha); }
Tensor Tensor::add(double s) const { return volt::add(*this, s); }
Tensor Tensor::sub(const Tensor& other, double alpha) const { return volt::sub(*this, other, alpha); }
Tensor Tensor::sub(double s) const { return volt::add(*this, -s); }
Tensor Tensor::mul(const Tensor& other) const { return volt::mul(*this, other); }
Tensor Tensor::mul(double s) const { return volt::mul(*this, s); }
Tensor Tensor::div(const Tensor& other) const { return volt::div(*this, other); }
Tensor Tensor::div(double s) const { return *this / s; }

}  // namespace volt
