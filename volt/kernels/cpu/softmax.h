// Softmax, log-softmax and the fused softmax-cross-entropy on the CPU. Rows are reduced in
// the accumulation type (float for f32, double for f64) in a fixed order.
#pragma once

#include <cstdint>

#include "volt/core/dtype.h"
#include "volt/kernels/op_kinds.h"

namespace volt::kernels::cpu {

// Contiguous [outer, n, inner], softmax over n.
void softmax(DType dtype, void* out, const void* in, int64_t outer, int64_t n, int64_t inner, bool log);
// grad_in from grad_out and the forward output y:
//   softmax:     gx = y * (g - sum(g * y))      log_softmax: gx = g - exp(y) * sum(g)
void softmax_backward(DType dtype, void* grad_in, const void* grad_out, const void* y, int64_t outer, int64_t n,
                      int64_t inner, bool log);

// Per row r of contiguous logits [rows, classes] and class targets, with m = max(x[r]) and
// log_sum[r] = log Σ_c exp(x[c] - m) (so logsumexp(x[r]) = m + log_sum[r], kept apart so that
// large logits lose no precision):
//   loss[r] = log_sum[r] - (1-ε)·(x[t] - m) - ε/C·Σ_c (x[c] - m)   (0 for an ignored row).
void cross_entropy_forward(DType dtype, void* loss, void* log_sum, const void* logits, const int64_t* target,
                           const CrossEntropyArgs& args);
// grad_logits[r, c] = grad_loss[r] · (softmax(x[r])[c] - (1-ε)·[c = t] - ε/C); 0 on ignored rows.
// Takes the forward's log_sum and finds m again.
void cross_entropy_backward(DType dtype, void* grad_logits, const void* grad_loss, const void* logits,
                            const void* log_sum, const int64_t* target, const CrossEntropyArgs& args);

}  // namespace volt::kernels::cpu
