#include "volt/autograd/gradcheck.h"

#include <cmath>
#include <sstream>

#include "volt/autograd/engine.h"
#include "volt/autograd/grad_mode.h"
#include "volt/autograd/ops.h"

namespace volt {

GradcheckResult gradcheck(const std::function<Tensor(const std::vector<Tensor>&)>& fn,
                          const std::vector<Tensor>& inputs, const GradcheckOptions& options) {
  for (const Tensor& x : inputs)
    VOLT_CHECK(!x.requires_grad() || x.dtype() == DType::f64, "gradcheck: inputs that require grad must be f64, got ",
               describe(x));
  for (const Tensor& x : inputs)
    if (x.requires_grad()) x.set_grad(Tensor());

  Tensor out = fn(inputs);
  VOLT_CHECK(out.dtype() == DType::f64, "gradcheck: output must be f64, got ", describe(out));
  Generator gen(options.seed);
  const Tensor v = randn(out.shape(), DType::f64, &gen);
  if (out.requires_grad()) sum(mul(out, v)).backward();

  auto projected = [&]() {
    NoGradGuard no_grad;
    return sum(mul(fn(inputs), v)).item<double>();
  };

  GradcheckResult result;
  std::ostringstream report;
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    const Tensor& x = inputs[i];
    if (!x.requires_grad()) continue;
    const std::vector<double> analytic = x.grad().defined()
                                             ? x.grad().to_vector<double>()
                                             : std::vector<double>(static_cast<std::size_t>(x.numel()), 0.0);
    // Element j of the (possibly strided) input, addressed through a one-element view.
    Tensor flat = x.detach();
    std::vector<int64_t> checked;
    const int64_t n = x.numel();
    if (options.max_checked <= 0 || n <= options.max_checked) {
      for (int64_t j = 0; j < n; ++j)
        checked.push_back(j);
    } else {
      const int64_t spread = options.max_checked - 4;
      for (int64_t k = 0; k < spread; ++k)
        checked.push_back(k * (n - 4) / spread);
      for (int64_t j = n - 4; j < n; ++j)
        checked.push_back(j);
    }
    for (int64_t j : checked) {
      Tensor elem = flat;
      int64_t rest = j;
      for (int64_t d = x.dim() - 1; d >= 0; --d) {
        elem = elem.narrow(d, rest % x.size(d), 1);
        rest /= x.size(d);
      }
      const double orig = elem.item<double>();
      NoGradGuard no_grad;
      elem.fill_(orig + options.eps);
      const double plus = projected();
      elem.fill_(orig - options.eps);
      const double minus = projected();
      elem.fill_(orig);
      const double numeric = (plus - minus) / (2 * options.eps);
      const double a = analytic[static_cast<std::size_t>(j)];
      if (!(std::abs(a - numeric) <= options.atol + options.rtol * std::abs(numeric))) {
        if (result.ok) report << "gradcheck failed:";
        result.ok = false;
        report << "\n  input " << i << " element " << j << ": analytic " << a << ", numeric " << numeric;
      }
    }
  }
  result.message = report.str();
  return result;
}

GradcheckResult gradgradcheck(const std::function<Tensor(const std::vector<Tensor>&)>& fn,
                              const std::vector<Tensor>& inputs, const GradcheckOptions& options) {
  Shape out_shape;
  {
    NoGradGuard no_grad;
    out_shape = fn(inputs).shape();
  }
  Generator gen(options.seed + 1);
  const Tensor u = randn(out_shape, DType::f64, &gen);
  auto first_order = [&](const std::vector<Tensor>& in) {
    AutoGradMode on(true);  // gradcheck's finite differences run under NoGradGuard; grad() needs a graph
    const Tensor out = fn(in);
    std::vector<Tensor> wrt, flat;
    for (const Tensor& x : in)
      if (x.requires_grad()) wrt.push_back(x);
    std::vector<Tensor> grads(wrt.size());
    if (out.requires_grad()) grads = autograd::grad({out}, wrt, {u}, true, true, true);
    for (std::size_t i = 0; i < wrt.size(); ++i)
      flat.push_back(grads[i].defined() ? grads[i].reshape({-1}) : zeros({wrt[i].numel()}, DType::f64));
    return flat.empty() ? zeros({0}, DType::f64) : cat(flat, 0);
  };
  return gradcheck(first_order, inputs, options);
}

}  // namespace volt
