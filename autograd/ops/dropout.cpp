// Dropout: the keep-mask comes from the Philox stream at the generator's (seed, offset), so
// the CUDA twin draws the identical mask; the scaled mask is saved for backward. In a captured
// CUDA graph the kernel reads the stream's start from the graph's slot (Generator::philox_args),
// so every replay draws a new mask, the one an eager step would have drawn.
#include "volt/autograd/node.h"
#include "volt/autograd/ops.h"
#include "volt/autograd/ops/op_checks.h"
#include "volt/kernels/random.h"

namespace volt {

Tensor dropout(const Tensor& x, double p, bool training, Generator* gen) {
  ops::check_floating("dropout", x);
  ops::check_device("dropout", {x});
  VOLT_CHECK(p >= 0.0 && p <= 1.0, "dropout: probability must be in [0, 1], got ", p);
  if (!training || p == 0.0) return x;
  if (p == 1.0) return mul(x, 0.0);
  Generator& g = generator_for(gen);
  const Tensor xc = x.contiguous();
  Tensor y = empty(x.shape(), TensorOptions(x.dtype()).device(x.device()));
  Tensor mask = empty(x.shape(), TensorOptions(x.dtype()).device(x.device()));
  // Four mask values per Philox block, whatever the dtype.
  const PhiloxArgs philox = g.philox_args(x.device(), kernels::random_blocks(DType::f32, x.numel()));
  kernels::launch(kernels::dropout, x.device(), x.dtype(), y.data_ptr(), mask.data_ptr(), xc.data_ptr(), x.numel(), p,
                  philox);
  const SavedTensor smask(mask);
  record("DropoutBackward", y, {x}, [smask](const Tensor& grad) { return std::vector<Tensor>{mul(grad, smask.get())}; },
         {smask});
  return y;
}

}  // namespace volt
