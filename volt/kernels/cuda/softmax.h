// CUDA twins of kernels/cpu/softmax.h. Cross-entropy is fused: the forward reads each row of
// logits once (an online max and sum) and keeps log Σ exp(x - max); the backward writes the
// gradient from the logits without materialising the probabilities. A target outside
// [0, classes) that is not ignore_index gives a NaN loss and a NaN gradient row (no host check
// is made, which would synchronise); nothing is read out of bounds.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

#include "volt/core/dtype.h"
#include "volt/kernels/op_kinds.h"

namespace volt::kernels::cuda {

void softmax(DType dtype, void* out, const void* in, int64_t outer, int64_t n, int64_t inner, bool log,
             cudaStream_t stream);
void softmax_backward(DType dtype, void* grad_in, const void* grad_out, const void* y, int64_t outer, int64_t n,
                      int64_t inner, bool log, cudaStream_t stream);
void cross_entropy_forward(DType dtype, void* loss, void* log_sum, const void* logits, const int64_t* target,
                           const CrossEntropyArgs& args, cudaStream_t stream);
void cross_entropy_backward(DType dtype, void* grad_logits, const void* grad_loss, const void* logits,
                            const void* log_sum, const int64_t* target, const CrossEntropyArgs& args,
                            cudaStream_t stream);

}  // namespace volt::kernels::cuda
