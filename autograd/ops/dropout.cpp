// Dropout: the keep-mask comes from the Philox stream at the generator's (seed, offset), so
// the CUDA twin draws the identical mask; the scaled mask is saved for backward.
// Known limit: the counter reaches the kernel as a launch argument, so a step captured as a CUDA
// graph replays the same mask every time. Invariant 5 wants the offset read from device memory
// and advanced there; that is still to do.
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
  const uint64_t counter = g.reserve(kernels::random_blocks(DType::f32, x.numel()));
  kernels::launch(kernels::dropout, x.device(), x.dtype(), y.data_ptr(), mask.data_ptr(), xc.data_ptr(), x.numel(), p,
                  g.seed(), counter);
  const SavedTensor smask(mask);
  record("DropoutBackward", y, {x}, [smask](const Tensor& grad) { return std::vector<Tensor>{mul(grad, smask.get())}; },
         {smask});
  return y;
}

}  // namespace volt
