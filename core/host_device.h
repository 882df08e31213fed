// VOLT_HOST_DEVICE marks a function that both the CPU kernels and their CUDA twins call (Philox,
// the elementwise functors): __host__ __device__ under nvcc, nothing for a host compiler.
#pragma once

#if defined(__CUDACC__)
#define VOLT_HOST_DEVICE __host__ __device__
#else
#define VOLT_HOST_DEVICE
#endif
