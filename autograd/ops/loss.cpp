// cross_entropy fused from logits: one kernel computes each row's loss (and keeps the row's
// log-sum-exp, relative to the row max), its backward writes the gradient straight from the
// logits. The reduction is ordinary ops on the per-row losses.
#include "volt/autograd/node.h"
#include "volt/autograd/ops.h"
#include "volt/autograd/ops/op_checks.h"
#include "volt/kernels/softmax.h"

namespace volt {

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
  if (is_half(logits_in.dtype())) {
    return cross_entropy(logits_in.to(DType::f32), target_in, options).to(logits_in.dtype());
  }
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

  const Tensor xc = logits.contiguous();
  Tensor rows = empty({args.rows}, TensorOptions(xc.dtype()).device(xc.device()));
  Tensor log_sum = empty({args.rows}, TensorOptions(xc.dtype()).device(xc.device()));
  kernels::launch(kernels::cross_entropy_forward, xc.device(), xc.dtype(), rows.data_ptr(), log_sum.data_ptr(),
                  xc.data_ptr(), t, args);
  record("CrossEntropyBackward", rows, {logits},
         [xc = xc.detach(), log_sum = log_sum.detach(), target, args](const Tensor& g) {
           const Tensor gc = g.contiguous();
           Tensor gx = empty(xc.shape(), TensorOptions(xc.dtype()).device(xc.device()));
           kernels::launch(kernels::cross_entropy_backward, xc.device(), xc.dtype(), gx.data_ptr(), gc.data_ptr(),
                           xc.data_ptr(), log_sum.data_ptr(), target.data_ptr<int64_t>(), args);
           return std::vector<Tensor>{gx};
         },
         {xc, target});

  switch (options.reduction) {
    case Reduction::none:
      return single ? rows.squeeze(0) : rows;
    case Reduction::sum:
      return sum(rows);
    case Reduction::mean:
      break;
  }
  // Mean over the targets that count, counted where they live (no host read of a GPU tensor);
  // all ignored gives 0/0 = NaN, as PyTorch.
  const Tensor ignored =
      full({}, static_cast<double>(args.ignore_index), TensorOptions(DType::i64).device(target.device()));
  return div(sum(rows), sum(ne(target, ignored)).to(rows.dtype()));
}

}  // namespace volt
