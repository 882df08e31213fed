// Elementwise ops: each forward runs one kernel of the elementwise family (kernels/elementwise.h)
// through kernels::launch, and its backward is recorded right beside it.
#include "volt/kernels/elementwise.h"

#include <cmath>
#include <limits>
#include <string>

#include "volt/autograd/autocast.h"
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
  const Shape shape = broadcast_shapes(a.shape(), b.shape(), op);
  const DType out_dtype = kernels::is_comparison(kind) ? DType::boolean : a.dtype();
  Tensor y = empty(shape, TensorOptions(out_dtype).device(a.device()));
  kernels::launch(kernels::binary, a.device(), kind, a.dtype(), y.data_ptr(), a.data_ptr(), b.data_ptr(),
                  ops::loop_for(shape, y, a, b), alpha);
  return y;
}

// a and b in their result_type; the conversions are ops, so each input's gradient comes back
// in its own dtype.
struct Promoted {
  Tensor a, b;
};
Promoted promoted(const char* op, const Tensor& a, const Tensor& b) {
  ops::check_defined(op, a);
  ops::check_defined(op, b);
  const DType t = result_type(a, b);
  return {a.to(t), b.to(t)};
}

// f''(s) for an activation's fused backward, s being what the kernel reads (input or output).
using Curvature = Tensor (*)(const Tensor& s);

// g·f'(s) by one fused backward kernel of an activation, s being its input or its output. It is
// recorded, so that in a backward with create_graph it is differentiable itself: it is linear in
// g (its gradient to g is the same kernel of the incoming gradient), and its gradient to s is
// gg·g·f''(s), with f'' from `curvature` (null where f'' is 0 almost everywhere, as for relu).
Tensor activation_backward(Binary kind, const Tensor& g, const Tensor& s, double scalar, Curvature curvature) {
  Tensor gx = binary_out("activation backward", kind, g, s, scalar);
  const SavedTensor sg(g);
  const SavedTensor ss(s);
  record("ActivationBackwardBackward", gx, {g, s},
         [sg, ss, kind, scalar, curvature](const Tensor& gg) {
           const Tensor at = ss.get();
           return std::vector<Tensor>{activation_backward(kind, gg, at, scalar, curvature),
                                      curvature ? mul(mul(gg, sg.get()), curvature(at)) : Tensor()};
         },
         {sg, ss});
  return gx;
}

// An activation whose backward is one kernel of (grad, x): gelu, silu, leaky_relu.
Tensor unary_with_input_backward(const char* op, const char* node, Unary kind, Binary backward, const Tensor& x,
                                 Curvature curvature, double scalar = 0.0) {
  Tensor y = unary_out(op, kind, x, scalar);
  const SavedTensor sx(x);
  record(node, y, {x},
         [sx, backward, scalar, curvature](const Tensor& g) {
           return std::vector<Tensor>{activation_backward(backward, g, sx.get(), scalar, curvature)};
         },
         {sx});
  return y;
}

// An activation whose backward is one kernel of (grad, y): tanh, sigmoid, relu.
Tensor unary_with_output_backward(const char* op, const char* node, Unary kind, Binary backward, const Tensor& x,
                                  Curvature curvature) {
  Tensor y = unary_out(op, kind, x);
  const SavedTensor sy(y);
  record(node, y, {x},
         [sy, backward, curvature](const Tensor& g) {
           return std::vector<Tensor>{activation_backward(backward, g, sy.get(), 0.0, curvature)};
         },
         {sy});
  return y;
}

// The second derivatives, as functions of what each fused backward reads.
Tensor tanh_curvature(const Tensor& y) { return mul(y, -2.0); }               // d(1 - y²)/dy
Tensor sigmoid_curvature(const Tensor& y) { return add(mul(y, -2.0), 1.0); }  // d(y(1 - y))/dy
Tensor gelu_curvature(const Tensor& x) {                                      // φ(x)·(2 - x²)
  const Tensor x2 = mul(x, x);
  return mul(mul(exp(mul(x2, -0.5)), 0.3989422804014327), add(neg(x2), 2.0));
}
Tensor gelu_tanh_curvature(const Tensor& x) {
  // f = x(1 + t)/2, t = tanh(u), u = c(x + a·x³): f'' = (1 - t²)·(u' + x(u'' - 2t·u'²)/2).
  const double c = 0.7978845608028654, a = 0.044715;
  const Tensor x2 = mul(x, x);
  const Tensor t = tanh(mul(add(x, mul(mul(x2, x), a)), c));
  const Tensor du = mul(add(mul(x2, 3 * a), 1.0), c), ddu = mul(x, 6 * a * c);
  const Tensor inner = add(du, mul(mul(x, sub(ddu, mul(mul(t, mul(du, du)), 2.0))), 0.5));
  return mul(add(neg(mul(t, t)), 1.0), inner);
}
Tensor silu_curvature(const Tensor& x) {  // σ(1 - σ)·(2 + x(1 - 2σ))
  const Tensor s = sigmoid(x);
  return mul(mul(s, add(neg(s), 1.0)), add(mul(x, add(mul(s, -2.0), 1.0)), 2.0));
}

}  // namespace

Tensor add(const Tensor& a_in, const Tensor& b_in, double alpha) {
  const Promoted in = promoted("add", a_in, b_in);
  const Tensor &a = in.a, &b = in.b;
  Tensor y = binary_out("add", Binary::add, a, b, alpha);
  record("AddBackward", y, {a, b}, [sa = a.shape(), sb = b.shape(), alpha](const Tensor& g) {
    return std::vector<Tensor>{sum_to(g, sa), sum_to(alpha == 1.0 ? g : mul(g, alpha), sb)};
  });
  return y;
}

Tensor sub(const Tensor& a_in, const Tensor& b_in, double alpha) {
  const Promoted in = promoted("sub", a_in, b_in);
  const Tensor &a = in.a, &b = in.b;
  Tensor y = binary_out("sub", Binary::sub, a, b, alpha);
  record("SubBackward", y, {a, b}, [sa = a.shape(), sb = b.shape(), alpha](const Tensor& g) {
    return std::vector<Tensor>{sum_to(g, sa), sum_to(mul(g, -alpha), sb)};
  });
  return y;
}

Tensor mul(const Tensor& a_in, const Tensor& b_in) {
  const Promoted in = promoted("mul", a_in, b_in);
  const Tensor &a = in.a, &b = in.b;
  Tensor y = binary_out("mul", Binary::mul, a, b);
  const bool need_a = a.requires_grad(), need_b = b.requires_grad();
  const SavedTensor sa(a);
  const SavedTensor sb(b);
  record("MulBackward", y, {a, b},
         [sa, sb, need_a, need_b, a_shape = a.shape(), b_shape = b.shape()](const Tensor& g) {
           return std::vector<Tensor>{need_a ? sum_to(mul(g, sb.get()), a_shape) : Tensor(),
                                      need_b ? sum_to(mul(g, sa.get()), b_shape) : Tensor()};
         },
         {sa, sb});
  return y;
}

Tensor div(const Tensor& a_in, const Tensor& b_in) {
  // True division, as PyTorch's: integers divide in the default floating dtype, f32.
  Promoted in = promoted("div", a_in, b_in);
  if (!is_floating(in.a.dtype())) in = {in.a.to(DType::f32), in.b.to(DType::f32)};
  const Tensor &a = in.a, &b = in.b;
  Tensor y = binary_out("div", Binary::div, a, b);
  const bool need_b = b.requires_grad();
  const SavedTensor sa(a);
  const SavedTensor sb(b);
  record("DivBackward", y, {a, b},
         [sa, sb, need_b, a_shape = a.shape(), b_shape = b.shape()](const Tensor& g) {
           const Tensor b = sb.get();
           Tensor ga = sum_to(div(g, b), a_shape);
           Tensor gb = need_b ? sum_to(neg(div(mul(g, sa.get()), mul(b, b))), b_shape) : Tensor();
           return std::vector<Tensor>{ga, gb};
         },
         {sa, sb});
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

Tensor exp(const Tensor& x_in) {
  const Tensor x = autocast::to_f32(x_in);
  Tensor y = unary_out("exp", Unary::exp, x);
  const SavedTensor sy(y);
  record("ExpBackward", y, {x}, [sy](const Tensor& g) { return std::vector<Tensor>{mul(g, sy.get())}; }, {sy});
  return y;
}

Tensor log(const Tensor& x_in) {
  const Tensor x = autocast::to_f32(x_in);
  Tensor y = unary_out("log", Unary::log, x);
  const SavedTensor sx(x);
  record("LogBackward", y, {x}, [sx](const Tensor& g) { return std::vector<Tensor>{div(g, sx.get())}; }, {sx});
  return y;
}

Tensor sqrt(const Tensor& x) {
  Tensor y = unary_out("sqrt", Unary::sqrt, x);
  const SavedTensor sy(y);
  record("SqrtBackward", y, {x}, [sy](const Tensor& g) { return std::vector<Tensor>{div(mul(g, 0.5), sy.get())}; },
         {sy});
  return y;
}

Tensor pow(const Tensor& x_in, double exponent) {
  const Tensor x = autocast::to_f32(x_in);
  Tensor y = unary_out("pow", Unary::pow, x, exponent);
  const SavedTensor sx(x);
  record("PowBackward", y, {x},
         [sx, exponent](const Tensor& g) {
           return std::vector<Tensor>{mul(g, mul(pow(sx.get(), exponent - 1.0), exponent))};
         },
         {sx});
  return y;
}

Tensor tanh(const Tensor& x) {
  return unary_with_output_backward("tanh", "TanhBackward", Unary::tanh, Binary::tanh_backward, x, tanh_curvature);
}

Tensor sigmoid(const Tensor& x) {
  return unary_with_output_backward("sigmoid", "SigmoidBackward", Unary::sigmoid, Binary::sigmoid_backward, x,
                                    sigmoid_curvature);
}

Tensor relu(const Tensor& x) {
  return unary_with_output_backward("relu", "ReluBackward", Unary::relu, Binary::relu_backward, x, nullptr);
}

Tensor abs(const Tensor& x) {
  Tensor y = unary_out("abs", Unary::abs, x);
  const SavedTensor sx(x);
  record("AbsBackward", y, {x},
         [sx](const Tensor& g) {
           const Tensor x = sx.get().detach();  // the sign is constant: no second derivative
           const Tensor zero = zeros({}, TensorOptions(x.dtype()).device(x.device()));
           const Tensor sign = sub(gt(x, zero).to(x.dtype()), lt(x, zero).to(x.dtype()));
           return std::vector<Tensor>{mul(g, sign)};
         },
         {sx});
  return y;
}

Tensor log1p(const Tensor& x_in) {
  const Tensor x = autocast::to_f32(x_in);
  Tensor y = unary_out("log1p", Unary::log1p, x);
  const SavedTensor sx(x);
  record("Log1pBackward", y, {x}, [sx](const Tensor& g) { return std::vector<Tensor>{div(g, add(sx.get(), 1.0))}; },
         {sx});
  return y;
}

Tensor expm1(const Tensor& x_in) {
  const Tensor x = autocast::to_f32(x_in);
  Tensor y = unary_out("expm1", Unary::expm1, x);
  const SavedTensor sy(y);
  record("Expm1Backward", y, {x}, [sy](const Tensor& g) { return std::vector<Tensor>{mul(g, add(sy.get(), 1.0))}; },
         {sy});
  return y;
}

Tensor sin(const Tensor& x) {
  Tensor y = unary_out("sin", Unary::sin, x);
  const SavedTensor sx(x);
  record("SinBackward", y, {x}, [sx](const Tensor& g) { return std::vector<Tensor>{mul(g, cos(sx.get()))}; }, {sx});
  return y;
}

Tensor cos(const Tensor& x) {
  Tensor y = unary_out("cos", Unary::cos, x);
  const SavedTensor sx(x);
  record("CosBackward", y, {x}, [sx](const Tensor& g) { return std::vector<Tensor>{mul(g, neg(sin(sx.get())))}; },
         {sx});
  return y;
}

Tensor square(const Tensor& x) { return mul(x, x); }

Tensor softplus(const Tensor& x_in, double beta, double threshold) {
  const Tensor x = autocast::to_f32(x_in);
  VOLT_CHECK(beta != 0 && std::isfinite(beta), "softplus: beta must be finite and non-zero, got ", beta);
  Tensor y = unary_out("softplus", Unary::softplus, x, beta, threshold);
  // sigmoid(beta·x) below the threshold and exactly 1 above it: s + m·(1 - s) with m the mask.
  const SavedTensor sx(x);
  record("SoftplusBackward", y, {x},
         [sx, beta, threshold](const Tensor& g) {
           const Tensor z = mul(sx.get(), beta), s = sigmoid(z);
           const Tensor above = gt(z.detach(), threshold).to(z.dtype());
           return std::vector<Tensor>{mul(g, add(s, mul(above, add(neg(s), 1.0))))};
         },
         {sx});
  return y;
}

Tensor gelu(const Tensor& x, const std::string& approximate) {
  VOLT_CHECK(approximate == "none" || approximate == "tanh", "gelu: approximate must be \"none\" or \"tanh\", got \"",
             approximate, "\"");
  if (approximate == "tanh")
    return unary_with_input_backward("gelu", "GeluBackward", Unary::gelu_tanh, Binary::gelu_tanh_backward, x,
                                     gelu_tanh_curvature);
  return unary_with_input_backward("gelu", "GeluBackward", Unary::gelu, Binary::gelu_backward, x, gelu_curvature);
}

Tensor silu(const Tensor& x) {
  return unary_with_input_backward("silu", "SiluBackward", Unary::silu, Binary::silu_backward, x, silu_curvature);
}

Tensor leaky_relu(const Tensor& x, double negative_slope) {
  return unary_with_input_backward("leaky_relu", "LeakyReluBackward", Unary::leaky_relu, Binary::leaky_relu_backward, x,
                                   nullptr, negative_slope);
}

Tensor clamp(const Tensor& x, std::optional<double> min, std::optional<double> max) {
  VOLT_CHECK(min || max, "clamp: at least one of min and max must be given");
  VOLT_CHECK(!(min && std::isnan(*min)) && !(max && std::isnan(*max)), "clamp: a bound is NaN");
  const double inf = std::numeric_limits<double>::infinity();
  const double lo = min.value_or(-inf), hi = max.value_or(inf);
  Tensor y = unary_out("clamp", Unary::clamp, x, lo, hi);
  const SavedTensor sx(x);
  record("ClampBackward", y, {x},
         [sx, lo, hi](const Tensor& g) {
           const Tensor x = sx.get().detach();
           const Tensor inside = mul(ge(x, lo).to(x.dtype()), le(x, hi).to(x.dtype()));
           return std::vector<Tensor>{mul(g, inside)};
         },
         {sx});
  return y;
}

Tensor clamp_min(const Tensor& x, double min) { return clamp(x, min, std::nullopt); }
Tensor clamp_max(const Tensor& x, double max) { return clamp(x, std::nullopt, max); }

DType result_type(const Tensor& a, const Tensor& b) {
  ops::check_defined("result_type", a);
  ops::check_defined("result_type", b);
  // A 0-dim tensor decides only when it is of a higher kind (bool < integer < floating) than a
  // dimensioned one: f32 [n] with f64 [] stays f32, i64 [n] with f64 [] is f64.
  auto kind = [](DType t) { return t == DType::boolean ? 0 : is_floating(t) ? 2 : 1; };
  const bool a0 = a.dim() == 0, b0 = b.dim() == 0;
  if (a0 != b0) {
    const Tensor& dimensioned = a0 ? b : a;
    const Tensor& scalar = a0 ? a : b;
    return kind(scalar.dtype()) > kind(dimensioned.dtype()) ? scalar.dtype() : dimensioned.dtype();
  }
  return promote_types(a.dtype(), b.dtype());
}

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

namespace {
// A comparison, in the operands' result_type.
Tensor compare(const char* op, Binary kind, const Tensor& a, const Tensor& b) {
  const Promoted in = promoted(op, a, b);
  return binary_out(op, kind, in.a, in.b);
}
// Against a scalar: an integer tensor meets a fractional one in f64, as PyTorch compares it
// (x >= 0.5 on an integer x is x >= 1, not x >= 0).
Tensor compare(const char* op, Binary kind, const Tensor& a, double s) {
  ops::check_defined(op, a);
  const Tensor x = !is_floating(a.dtype()) && std::floor(s) != s ? a.to(DType::f64) : a;
  return binary_out(op, kind, x, full({}, s, TensorOptions(x.dtype()).device(x.device())));
}
}  // namespace

Tensor eq(const Tensor& a, const Tensor& b) { return compare("eq", Binary::eq, a, b); }
Tensor ne(const Tensor& a, const Tensor& b) { return compare("ne", Binary::ne, a, b); }
Tensor lt(const Tensor& a, const Tensor& b) { return compare("lt", Binary::lt, a, b); }
Tensor le(const Tensor& a, const Tensor& b) { return compare("le", Binary::le, a, b); }
Tensor gt(const Tensor& a, const Tensor& b) { return compare("gt", Binary::gt, a, b); }
Tensor ge(const Tensor& a, const Tensor& b) { return compare("ge", Binary::ge, a, b); }

Tensor eq(const Tensor& a, double s) { return compare("eq", Binary::eq, a, s); }
Tensor ne(const Tensor& a, double s) { return compare("ne", Binary::ne, a, s); }
Tensor lt(const Tensor& a, double s) { return compare("lt", Binary::lt, a, s); }
Tensor le(const Tensor& a, double s) { return compare("le", Binary::le, a, s); }
Tensor gt(const Tensor& a, double s) { return compare("gt", Binary::gt, a, s); }
Tensor ge(const Tensor& a, double s) { return compare("ge", Binary::ge, a, s); }

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

Tensor where(const Tensor& cond, const Tensor& b_in, const Tensor& c_in) {
  const char* op = "where";
  ops::check_defined(op, cond);
  const Promoted in = promoted(op, b_in, c_in);
  const Tensor &b = in.a, &c = in.b;
  VOLT_CHECK(cond.dtype() == DType::boolean, "where: the condition must be a bool tensor, got ", describe(cond));
  ops::check_floating(op, b);
  ops::check_device(op, {cond, b, c});
  ops::check_same_dtype(op, b, c);
  const Shape shape = broadcast_shapes(broadcast_shapes(cond.shape(), b.shape(), op), c.shape(), op);
  const Tensor selector = cond.to(b.dtype());  // 1 or 0, which the kernel only compares
  Tensor y = empty(shape, TensorOptions(b.dtype()).device(b.device()));
  kernels::launch(kernels::ternary, b.device(), kernels::Ternary::where, b.dtype(), y.data_ptr(), selector.data_ptr(),
                  b.data_ptr(), c.data_ptr(), ops::loop_for(shape, y, selector, b, c), 0.0);
  const SavedTensor ssel(selector);
  record("WhereBackward", y, {b, c},
         [ssel, b_shape = b.shape(), c_shape = c.shape()](const Tensor& g) {
           const Tensor zero = zeros({}, TensorOptions(g.dtype()).device(g.device()));
           const Tensor taken = ssel.get().ne(0.0);
           return std::vector<Tensor>{sum_to(where(taken, g, zero), b_shape), sum_to(where(taken, zero, g), c_shape)};
         },
         {ssel});
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
Tensor Tensor::sin() const { return volt::sin(*this); }
Tensor Tensor::cos() const { return volt::cos(*this); }
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
