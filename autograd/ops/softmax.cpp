// softmax and log_softmax over one dim. Half inputs go to the kernel as they are (it computes in
// float and rounds once, as PyTorch's); under autocast they are cast to f32 first, autocast's
// rule for softmax (an f32 result).
#include "volt/kernels/softmax.h"

#include "volt/autograd/autocast.h"
#include "volt/autograd/grad_mode.h"
#include "volt/autograd/node.h"
#include "volt/autograd/ops.h"
#include "volt/autograd/ops/op_checks.h"

namespace volt {
namespace {

Tensor softmax_impl(const char* op, const Tensor& x_in, int64_t dim, bool log) {
  const Tensor x = autocast::to_f32(x_in);
  ops::check_floating(op, x);
  ops::check_device(op, {x});
  dim = wrap_dim(dim, x.dim(), op);
  const Shape shape = x.dim() == 0 ? Shape{1} : x.shape();
  const int64_t outer = ops::prod(shape, 0, dim), n = shape[dim];
  const int64_t inner = ops::prod(shape, dim + 1, static_cast<int64_t>(shape.size()));
  const Tensor xc = x.contiguous();
  Tensor y = empty(x.shape(), TensorOptions(x.dtype()).device(x.device()));
  kernels::launch(kernels::softmax, x.device(), x.dtype(), y.data_ptr(), xc.data_ptr(), outer, n, inner, log);
  const SavedTensor sy(y);
  record(log ? "LogSoftmaxBackward" : "SoftmaxBackward", y, {x},
         [sy, dim, outer, n, inner, log](const Tensor& g) {
           const Tensor y = sy.get();
           if (is_grad_enabled()) {  // differentiable (create_graph): the same formulas as ops
             if (log) return std::vector<Tensor>{sub(g, mul(exp(y), sum(g, dim, true)))};
             return std::vector<Tensor>{mul(y, sub(g, sum(mul(g, y), dim, true)))};
           }
           const Tensor gc = g.contiguous();
           Tensor gx = empty(y.shape(), TensorOptions(y.dtype()).device(y.device()));
           kernels::launch(kernels::softmax_backward, y.device(), y.dtype(), gx.data_ptr(), gc.data_ptr(), y.data_ptr(),
                           outer, n, inner, log);
           return std::vector<Tensor>{gx};
         },
         {sy});
  return y;
}

}  // namespace

Tensor softmax(const Tensor& x, int64_t dim) { return softmax_impl("softmax", x, dim, false); }
Tensor log_softmax(const Tensor& x, int64_t dim) { return softmax_impl("log_softmax", x, dim, true); }
Tensor Tensor::softmax(int64_t dim) const { return volt::softmax(*this, dim); }
Tensor Tensor::log_softmax(int64_t dim) const { return volt::log_softmax(*this, dim); }

}  // namespace volt
