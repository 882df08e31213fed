// cross_entropy fused from logits: one kernel computes each row's loss (and keeps the row's
// log-sum-exp, relative to the row max) from logits of any floating dtype, half ones read as
// they are; the mean is one more kernel, which counts the rows that count on the device; the
// backward writes the gradient straight from the logits (of the mean: dividing by that count).
// Sum and none are ordinary ops on the per-row losses. The elementwise losses below it
// (mse, l1, smooth_l1, the two binary cross-entropies) are compositions of elementwise ops, so
// their gradients and every device come from those ops.
#include <cmath>
#include <optional>

#include "volt/autograd/autocast.h"
#include "volt/autograd/grad_mode.h"
#include "volt/autograd/node.h"
#include "volt/autograd/ops.h"
#include "volt/autograd/ops/op_checks.h"
#include "volt/kernels/softmax.h"

namespace volt {
namespace {

// A classification loss's per-row losses for reduction none (squeezed back for a single sample)
// and sum; nothing for mean, which the caller divides by what its rows count.
std::optional<Tensor> rows_unless_mean(const Tensor& rows, Reduction reduction, bool single) {
  if (reduction == Reduction::none) return single ? rows.squeeze(0) : rows;
  if (reduction == Reduction::sum) return sum(rows);
  return std::nullopt;
}

}  // namespace

Tensor cross_entropy(const Tensor& logits_in, const Tensor& target_in, const CrossEntropyOptions& options) {
  const char* op = "cross_entropy";
  ops::check_floating(op, logits_in);
  ops::check_defined(op, target_in);
  ops::check_device(op, {logits_in, target_in});
  VOLT_CHECK(target_in.dtype() == DType::i64, op, ": target must hold i64 class indices, got ", describe(target_in));
  VOLT_CHECK(options.label_smoothing >= 0.0 && options.label_smoothing <= 1.0, op,
             ": label_smoothing must be in [0, 1], got ", options.label_smoothing);
  const bool single = logits_in.dim() == 1;
  VOLT_CHECK((logits_in.dim() == 2 && target_in.dim() == 1 && target_in.size(0) == logits_in.size(0)) ||
                 (single && target_in.dim() == 0),
             op, ": expected logits [N, C] with target [N] (or [C] with []), got ", describe(logits_in), " and ",
             describe(target_in));
  const Tensor logits = single ? logits_in.unsqueeze(0) : logits_in;
  const Tensor target = (single ? target_in.unsqueeze(0) : target_in).contiguous();
  kernels::CrossEntropyArgs args{logits.size(0), logits.size(1), options.ignore_index, options.label_smoothing};
  VOLT_CHECK(args.classes > 0, op, ": logits have no classes: ", describe(logits_in));

  const int64_t* t = target.data_ptr<int64_t>();
  // On the CPU the targets are checked here; on a GPU that would synchronise, so the kernel
  // turns an out-of-range target into a NaN loss for its row instead.
  if (target.device().is_cpu()) {
    for (int64_t r = 0; r < args.rows; ++r) {
      VOLT_CHECK(t[r] == args.ignore_index || (t[r] >= 0 && t[r] < args.classes), op, ": target ", t[r],
                 " at position ", r, " is out of range for ", args.classes, " classes");
    }
  }

  // Half logits are read as they are; the losses are in float (the accumulation type), which is
  // what autocast's cross_entropy returns, and outside autocast the result goes back to the
  // logits' dtype, as PyTorch's.
  const Tensor xc = logits.contiguous();
  const DType loss_dtype = is_half(xc.dtype()) ? DType::f32 : xc.dtype();
  const bool back_to_half = is_half(xc.dtype()) && !autocast::active_for(logits_in);
  const TensorOptions on = TensorOptions(loss_dtype).device(xc.device());
  Tensor rows = empty({args.rows}, on);
  Tensor log_sum = empty({args.rows}, on);
  kernels::launch(kernels::cross_entropy_forward, xc.device(), xc.dtype(), rows.data_ptr(), log_sum.data_ptr(),
                  xc.data_ptr(), t, args);
  const bool mean = options.reduction == Reduction::mean;
  Tensor count;  // the mean's divisor, on the device
  Tensor out = rows;
  if (mean) {
    out = empty({}, on);
    count = empty({}, on);
    kernels::launch(kernels::cross_entropy_mean, xc.device(), xc.dtype(), out.data_ptr(), count.data_ptr(),
                    rows.data_ptr(), t, args);
  }
  const SavedTensor sx(xc);
  const SavedTensor slog(log_sum);
  const SavedTensor st(target);
  const SavedTensor scount(count);
  record("CrossEntropyBackward", out, {logits},
         [sx, slog, st, scount, args, mean](const Tensor& g) {
           const Tensor xc = sx.get(), log_sum = slog.get(), target = st.get();
           const Tensor count = scount.get();  // undefined unless the mean
           if (is_grad_enabled()) {
             // Differentiable (create_graph): g·(softmax(x) - q) per counted row, q the smoothed
             // one-hot target, g the mean's gradient over the count; the kernel's formula.
             const TensorOptions on = TensorOptions(DType::i64).device(xc.device());
             const Tensor classes = arange(static_cast<double>(args.classes), on);
             const DType dt = g.dtype();
             Tensor q = eq(target.unsqueeze(1), classes).to(dt);
             if (args.label_smoothing > 0)
               q = add(mul(q, 1.0 - args.label_smoothing), args.label_smoothing / static_cast<double>(args.classes));
             const Tensor counted = ne(target, static_cast<double>(args.ignore_index)).to(dt);
             const Tensor per_row = mean ? div(g, count) : g;
             const Tensor gx = mul(mul(per_row, counted).unsqueeze(1), sub(softmax(xc.to(dt), 1), q));
             return std::vector<Tensor>{gx.to(xc.dtype())};
           }
           const Tensor gc = g.contiguous();
           Tensor gx = empty(xc.shape(), TensorOptions(xc.dtype()).device(xc.device()));
           kernels::launch(kernels::cross_entropy_backward, xc.device(), xc.dtype(), gx.data_ptr(), gc.data_ptr(),
                           mean ? count.data_ptr() : nullptr, xc.data_ptr(), log_sum.data_ptr(),
                           target.data_ptr<int64_t>(), args);
           return std::vector<Tensor>{gx};
         },
         {sx, slog, st});
  Tensor result = mean ? out : *rows_unless_mean(out, options.reduction, single);
  return back_to_half ? result.to(xc.dtype()) : result;
}

namespace {

void check_pair(const char* op, const Tensor& input, const Tensor& target) {
  ops::check_floating(op, input);
  ops::check_device(op, {input, target});
  ops::check_same_dtype(op, input, target);
  VOLT_CHECK(input.shape() == target.shape(), op, ": target ", describe(target), " must have the input's shape, ",
             describe(input));
}

Tensor reduce_loss(const Tensor& loss, Reduction reduction) {
  switch (reduction) {
    case Reduction::none:
      return loss;
    case Reduction::sum:
      return sum(loss);
    case Reduction::mean:
      break;
  }
  return mean(loss);
}

Tensor weighted(const char* op, const Tensor& loss, const Tensor& weight) {
  if (!weight.defined()) return loss;
  ops::check_device(op, {loss, weight});
  ops::check_same_dtype(op, loss, weight);
  return mul(loss, weight);
}

}  // namespace

Tensor mse_loss(const Tensor& input_in, const Tensor& target_in, Reduction reduction) {
  const Tensor input = autocast::to_f32(input_in);
  const Tensor target = autocast::to_f32(target_in);
  check_pair("mse_loss", input, target);
  const Tensor d = sub(input, target);
  return reduce_loss(mul(d, d), reduction);
}

Tensor l1_loss(const Tensor& input_in, const Tensor& target_in, Reduction reduction) {
  const Tensor input = autocast::to_f32(input_in);
  const Tensor target = autocast::to_f32(target_in);
  check_pair("l1_loss", input, target);
  return reduce_loss(abs(sub(input, target)), reduction);
}

Tensor smooth_l1_loss(const Tensor& input_in, const Tensor& target_in, Reduction reduction, double beta) {
  const Tensor input = autocast::to_f32(input_in);
  const Tensor target = autocast::to_f32(target_in);
  check_pair("smooth_l1_loss", input, target);
  VOLT_CHECK(beta >= 0 && std::isfinite(beta), "smooth_l1_loss: beta must be finite and 0 or more, got ", beta);
  if (beta == 0) return l1_loss(input, target, reduction);
  const Tensor z = abs(sub(input, target));
  // The quadratic piece where |d| < beta, the linear one elsewhere; each masked, so the
  // gradient is each piece's where it applies.
  const Tensor inside = lt(z, beta).to(z.dtype());
  const Tensor quadratic = mul(mul(z, z), 0.5 / beta), linear_part = add(z, -0.5 * beta);
  return reduce_loss(add(mul(inside, quadratic), mul(add(neg(inside), 1.0), linear_part)), reduction);
}

Tensor binary_cross_entropy(const Tensor& input, const Tensor& target, const Tensor& weight, Reduction reduction) {
  VOLT_CHECK(!autocast::active_for(input), "binary_cross_entropy is unsafe to autocast (its log clamps do not hold in ",
             "half precision), as in PyTorch; use binary_cross_entropy_with_logits, or leave autocast for it");
  check_pair("binary_cross_entropy", input, target);
  // On the CPU the probabilities are checked here, as PyTorch does; on a GPU that would
  // synchronise, so a value outside [0, 1] gives NaN there.
  if (input.device().is_cpu()) {
    const Tensor p = input.detach().to(DType::f64).contiguous();
    const double* v = p.data_ptr<double>();
    for (int64_t i = 0; i < p.numel(); ++i)
      VOLT_CHECK(v[i] >= 0 && v[i] <= 1, "binary_cross_entropy: input ", v[i], " at flat index ", i,
                 " is not a probability in [0, 1] (for logits use binary_cross_entropy_with_logits)");
  }
  const Tensor log_p = clamp_min(log(input), -100.0), log_q = clamp_min(log(add(neg(input), 1.0)), -100.0);
  const Tensor loss = neg(add(mul(target, log_p), mul(add(neg(target), 1.0), log_q)));
  return reduce_loss(weighted("binary_cross_entropy", loss, weight), reduction);
}

Tensor nll_loss(const Tensor& log_probs_in, const Tensor& target, const Tensor& weight_in, Reduction reduction,
                int64_t ignore_index) {
  const Tensor log_probs = autocast::to_f32(log_probs_in);
  const Tensor weight = autocast::to_f32(weight_in);
  const char* op = "nll_loss";
  ops::check_floating(op, log_probs);
  ops::check_device(op, {log_probs, target});
  VOLT_CHECK(target.dtype() == DType::i64, op, ": targets must be i64 class indices, got ", describe(target));
  VOLT_CHECK((log_probs.dim() == 2 && target.dim() == 1 && target.size(0) == log_probs.size(0)) ||
                 (log_probs.dim() == 1 && target.dim() == 0),
             op, ": expected log_probs [N, C] with target [N] (or [C] with a 0-d target), got ", describe(log_probs),
             " and ", describe(target));
  const bool single = log_probs.dim() == 1;
  const Tensor lp = single ? log_probs.unsqueeze(0) : log_probs;
  const Tensor t = single ? target.unsqueeze(0) : target;
  const int64_t classes = lp.size(1);
  if (target.device().is_cpu()) {
    const Tensor tc = t.contiguous();
    const int64_t* v = tc.data_ptr<int64_t>();
    for (int64_t i = 0; i < tc.numel(); ++i)
      VOLT_CHECK(v[i] == ignore_index || (v[i] >= 0 && v[i] < classes), op, ": target ", v[i], " at position ", i,
                 " is out of range for ", classes, " classes");
  }
  // Each row's target class selected by a mask (a selection: -inf elsewhere never leaks in);
  // an ignored target matches no class, so its row selects nothing.
  const Tensor hit =
      eq(t.unsqueeze(1), arange(static_cast<double>(classes), TensorOptions(DType::i64).device(t.device())));
  const Tensor zero = zeros({}, TensorOptions(lp.dtype()).device(lp.device()));
  Tensor w = weight.defined() ? weight : ones({classes}, TensorOptions(lp.dtype()).device(lp.device()));
  if (weight.defined()) {
    ops::check_device(op, {lp, weight});
    ops::check_same_dtype(op, lp, weight);
    VOLT_CHECK(weight.dim() == 1 && weight.size(0) == classes, op, ": weight ", describe(weight),
               " must hold one value per class (", classes, ")");
  }
  const Tensor row_weight = sum(where(hit, w.unsqueeze(0), zero), 1);
  const Tensor rows = neg(sum(where(hit, mul(lp, w.unsqueeze(0)), zero), 1));
  if (auto r = rows_unless_mean(rows, reduction, single)) return *r;
  return div(sum(rows), sum(row_weight));  // all ignored: 0 / 0 = NaN, as PyTorch
}

Tensor kl_div(const Tensor& input_in, const Tensor& target_in, Reduction reduction, bool log_target) {
  const Tensor input = autocast::to_f32(input_in);
  const Tensor target = autocast::to_f32(target_in);
  check_pair("kl_div", input, target);
  if (log_target) return reduce_loss(mul(exp(target), sub(target, input)), reduction);
  // target · (log target - input), with log taken of 1 where the target is 0 so that the
  // product is 0 there and no -inf enters the gradient.
  const Tensor positive = gt(target, 0.0);
  const Tensor safe = where(positive, target, ones_like(target));
  return reduce_loss(mul(target, sub(log(safe), input)), reduction);
}

Tensor binary_cross_entropy_with_logits(const Tensor& input_in, const Tensor& target_in, const Tensor& weight_in,
                                        Reduction reduction, const Tensor& pos_weight_in) {
  const Tensor input = autocast::to_f32(input_in);
  const Tensor target = autocast::to_f32(target_in);
  const Tensor weight = autocast::to_f32(weight_in);
  const Tensor pos_weight = autocast::to_f32(pos_weight_in);
  check_pair("binary_cross_entropy_with_logits", input, target);
  Tensor log_weight_times_softplus = softplus(neg(input));
  if (pos_weight.defined()) {
    ops::check_device("binary_cross_entropy_with_logits", {input, pos_weight});
    ops::check_same_dtype("binary_cross_entropy_with_logits", input, pos_weight);
    const Tensor log_weight = add(mul(add(pos_weight, -1.0), target), 1.0);
    log_weight_times_softplus = mul(log_weight, log_weight_times_softplus);
  }
  const Tensor loss = add(mul(add(neg(target), 1.0), input), log_weight_times_softplus);
  return reduce_loss(weighted("binary_cross_entropy_with_logits", loss, weight), reduction);
}

}  // namespace volt
