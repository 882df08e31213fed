// The softmax family: softmax and log-softmax over one dim, and the fused softmax-cross-entropy.
// Rows are reduced in the accumulation type (float for f32 and the half types, double for f64)
// in a fixed order. The CUDA cross-entropy reads each row of logits once (an online max and
// sum); its backward writes the gradient from the logits without materialising probabilities.
// Cross-entropy reads f16/bf16 logits directly and keeps its losses in float (no cast pass);
// its mean is one more launch that also counts the rows that count, and the backward of the
// mean reads that count where it lies.
#pragma once

#include <cstdint>

#include "volt/core/dtype.h"
#include "volt/core/stream.h"
#include "volt/kernels/dispatch.h"

namespace volt::kernels {

struct CrossEntropyArgs {
  int64_t rows = 0, classes = 0;
  int64_t ignore_index = -100;
  double label_smoothing = 0.0;
};

// Contiguous [outer, n, inner], softmax over n.
using SoftmaxFn = void(DType dtype, void* out, const void* in, int64_t outer, int64_t n, int64_t inner, bool log,
                       Stream stream);
// grad_in from grad_out and the forward output y:
//   softmax:     gx = y * (g - sum(g * y))      log_softmax: gx = g - exp(y) * sum(g)
using SoftmaxBackwardFn = void(DType dtype, void* grad_in, const void* grad_out, const void* y, int64_t outer,
                               int64_t n, int64_t inner, bool log, Stream stream);
// Per row r of contiguous logits [rows, classes] (of `dtype`) and class targets, loss and
// log_sum in the accumulation type A (float for the half dtypes), with m = max(x[r]) and
// log_sum[r] = log Σ_c exp(x[c] - m) (so logsumexp(x[r]) = m + log_sum[r], kept apart so that
// large logits lose no precision):
//   loss[r] = log_sum[r] - (1-ε)·(x[t] - m) - ε/C·Σ_c (x[c] - m)   (0 for an ignored row).
// A target outside [0, classes) that is not ignore_index gives a NaN loss and a NaN gradient
// row on CUDA (checking on the host would synchronise; the CPU op checks first); nothing is
// read out of bounds.
using CrossEntropyForwardFn = void(DType dtype, void* loss, void* log_sum, const void* logits, const int64_t* target,
                                   const CrossEntropyArgs& args, Stream stream);
// The mean reduction: count[0] = the rows whose target is not ignore_index, mean[0] = Σ_r loss[r]
// / count[0] (0/0 = NaN when none counts, as PyTorch), summed in a fixed order; all in A.
using CrossEntropyMeanFn = void(DType dtype, void* mean, void* count, const void* loss, const int64_t* target,
                                const CrossEntropyArgs& args, Stream stream);
// grad_logits[r, c] = g_r · (softmax(x[r])[c] - (1-ε)·[c = t] - ε/C); 0 on ignored rows. g_r is
// grad_loss[r] (A) or, with `count` (the mean's), grad_loss[0] / count[0]. Takes the forward's
// log_sum and finds m again; writes grad_logits in `dtype`.
using CrossEntropyBackwardFn = void(DType dtype, void* grad_logits, const void* grad_loss, const void* count,
                                    const void* logits, const void* log_sum, const int64_t* target,
                                    const CrossEntropyArgs& args, Stream stream);

namespace cpu {
SoftmaxFn softmax;
SoftmaxBackwardFn softmax_backward;
CrossEntropyForwardFn cross_entropy_forward;
CrossEntropyMeanFn cross_entropy_mean;
CrossEntropyBackwardFn cross_entropy_backward;
}  // namespace cpu

namespace cuda {
SoftmaxFn softmax;
SoftmaxBackwardFn softmax_backward;
CrossEntropyForwardFn cross_entropy_forward;
CrossEntropyMeanFn cross_entropy_mean;
CrossEntropyBackwardFn cross_entropy_backward;
}  // namespace cuda

extern Kernel<SoftmaxFn> softmax;
extern Kernel<SoftmaxBackwardFn> softmax_backward;
extern Kernel<CrossEntropyForwardFn> cross_entropy_forward;
extern Kernel<CrossEntropyMeanFn> cross_entropy_mean;
extern Kernel<CrossEntropyBackwardFn> cross_entropy_backward;

}  // namespace volt::kernels
