// GEMM through cuBLAS and the fused linear through cuBLASLt, with the small kernels around them
// (C = beta·C for an empty sum, the bias/ReLU epilogue when cuBLASLt has no algorithm, the
// ReLU-mask backward).
//
// cuBLASLt facts relied on (cublasLt.h of CUDA 13.0, the comments on each attribute, which are
// the cuBLAS documentation's text):
// - CUBLASLT_EPILOGUE_BIAS adds a bias "of length D rows", packed, broadcast over D's columns;
//   its element type defaults to D's type (CUBLASLT_MATMUL_DESC_BIAS_DATA_TYPE: "Bias vector
//   elements are the same type as the elements of output matrix (Dtype)" outside IMMA/fp8), so
//   f16/bf16 linears take an f16/bf16 bias.
// - CUBLASLT_EPILOGUE_RELU_AUX_BIAS = RELU_AUX | BIAS applies the bias, then ReLU, and writes a
//   bit mask through CUBLASLT_MATMUL_DESC_EPILOGUE_AUX_POINTER, whose leading dimension
//   CUBLASLT_MATMUL_DESC_EPILOGUE_AUX_LD (int64_t) is "in elements (i.e. bits)", "must be
//   divisible by 128 and be no less than the number of rows in the output matrix".
// - CUBLASLT_MATMUL_DESC_TRANSA/TRANSB are int32_t cublasOperation_t; EPILOGUE is uint32_t.
// - Heuristics "depend on [the bias and aux pointers'] value to determine expected pointer
//   alignment", and CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_{A,B,C,D}_BYTES default to 256: so the
//   preference states the real alignments and the algorithm cache is keyed by them.
// - CUBLASLT_REDUCTION_SCHEME_INPLACE reduces split-K partials in the output type,
//   COMPUTE_TYPE in the compute type; half outputs are restricted to COMPUTE_TYPE.
// The mask's bit order inside a byte is not spelled out there: volt reads bit b (b = column ·
// ld + row of the column-major D) as bit b % 32 of 32-bit word b / 32 (little-endian, so also
// bit b % 8 of byte b / 8), as OneFlow's fused_relu_dropout_grad reads cuBLASLt's mask. The
// CUDA tests check this reading against the forward's output.
// Known difference: cuBLASLt's ReLU epilogues turn NaN into 0 (reported on NVIDIA's forums,
// "Incorrect result of cublasLtMatmul with CUBLASLT_EPILOGUE_RELU when input is NaN"), where
// the CPU relu and this file's fallback epilogue keep NaN.
#include <algorithm>
#include <compare>
#include <map>
#include <mutex>
#include <ostream>

#include "volt/core/cuda/runtime.h"
#include "volt/kernels/cuda/cublas_handles.h"
#include "volt/kernels/cuda/device_types.cuh"
#include "volt/kernels/matmul.h"

namespace volt::kernels::cuda {
namespace {

constexpr std::size_t kLtMaxWorkspace = std::size_t{32} << 20;

const char* epilogue_name(LinearEpilogue e) {
  switch (e) {
    case LinearEpilogue::none:
      return "none";
    case LinearEpilogue::bias:
      return "bias";
    case LinearEpilogue::bias_relu:
      return "bias_relu";
  }
  return "?";
}

// What a failed call names.
struct GemmCall {
  DType dtype;
  int64_t m, n, k;
  MatrixOperand a, b;
};
std::ostream& operator<<(std::ostream& os, const GemmCall& c) {
  return os << "cuda gemm " << c.dtype << ": A [" << c.m << ", " << c.k << "] (" << (c.a.col_major ? "col" : "row")
            << "-major, ld " << c.a.ld << ") · B [" << c.k << ", " << c.n << "] (" << (c.b.col_major ? "col" : "row")
            << "-major, ld " << c.b.ld << ")";
}
struct LinearCall {
  DType dtype;
  int64_t rows, in, out;
  LinearEpilogue epilogue;
};
std::ostream& operator<<(std::ostream& os, const LinearCall& c) {
  return os << "cuda linear " << c.dtype << ": x [" << c.rows << ", " << c.in << "] · w [" << c.out << ", " << c.in
            << "]ᵀ, epilogue " << epilogue_name(c.epilogue);
}

// ---- kernels -------------------------------------------------------------------------------

// C [m, n] (row stride ldc) = beta·C; beta == 0 writes zeros without reading C (BLAS semantics).
template <class T>
__global__ void scale_kernel(T* c, int64_t m, int64_t n, int64_t ldc, acc_t<T> beta) {
  using Acc = acc_t<T>;
  const int64_t total = m * n;
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < total; i += int64_t{gridDim.x} * blockDim.x) {
    T& x = c[i / n * ldc + i % n];
    x = beta == Acc(0) ? from_value<T>(Acc(0)) : from_value<T>(beta * to_acc(x));
  }
}

// y [rows, out] += bias, then (relu) y = max(y, 0) as the CPU relu does, writing the mask bit
// of each element in cuBLASLt's layout. One thread per bit of the padded [rows, ld] mask: a
// warp covers 32 consecutive bits of one row (ld is a multiple of 128, blocks of whole warps),
// so the warp's ballot is exactly one mask word, and padding bits are written as 0.
template <class T>
__global__ void bias_relu_kernel(T* y, const T* bias, uint32_t* mask, int64_t rows, int64_t out, int64_t ld,
                                 bool relu) {
  using Acc = acc_t<T>;
  const int64_t total = rows * ld;
  // Every lane of a warp takes the same number of trips (total and the stride are multiples of
  // 32), as __ballot_sync with a full mask requires.
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < total; i += int64_t{gridDim.x} * blockDim.x) {
    const int64_t r = i / ld, o = i % ld;
    bool positive = false;
    if (o < out) {
      T& e = y[r * out + o];
      Acc v = to_acc(e) + (bias ? to_acc(bias[o]) : Acc(0));
      if (relu) {
        positive = v > Acc(0);
        v = v < Acc(0) ? Acc(0) : v;
      }
      e = from_value<T>(v);
    }
    if (mask) {
      const unsigned bits = __ballot_sync(0xffffffffu, positive);
      if ((threadIdx.x & 31) == 0) mask[i / 32] = bits;
    }
  }
}

template <class T>
__global__ void relu_mask_backward_kernel(const T* grad_y, const uint32_t* mask, T* grad_pre, int64_t rows, int64_t out,
                                          int64_t ld) {
  using Acc = acc_t<T>;
  const int64_t total = rows * out;
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < total; i += int64_t{gridDim.x} * blockDim.x) {
    const int64_t bit = i / out * ld + i % out;
    const bool on = (mask[bit / 32] >> (bit % 32)) & 1u;
    grad_pre[i] = on ? grad_y[i] : from_value<T>(Acc(0));
  }
}

// ---- gemm ----------------------------------------------------------------------------------

struct GemmTypes {
  cudaDataType_t data;
  cublasComputeType_t compute;
  bool double_scalars;  // alpha/beta are double for CUBLAS_COMPUTE_64F, float otherwise
};

GemmTypes gemm_types(DType dtype, bool allow_tf32) {
  switch (dtype) {
    case DType::f32:  // CUBLAS_COMPUTE_32F keeps fp32 precision; only FAST_TF32 may round inputs to TF32
      return {CUDA_R_32F, allow_tf32 ? CUBLAS_COMPUTE_32F_FAST_TF32 : CUBLAS_COMPUTE_32F, false};
    case DType::f64:
      return {CUDA_R_64F, CUBLAS_COMPUTE_64F, true};
    case DType::f16:  // half storage, fp32 accumulation and fp32 alpha/beta
      return {CUDA_R_16F, CUBLAS_COMPUTE_32F, false};
    case DType::bf16:
      return {CUDA_R_16BF, CUBLAS_COMPUTE_32F, false};
    default:
      VOLT_FAIL("cuda gemm: expected f32, f64, f16 or bf16, got ", dtype);
  }
}

// cuBLAS wants ld >= max(1, rows) of each stored (column-major) matrix, even one with a single
// column whose ld is never used, and a one-row or one-column view may carry any stride there.
int64_t usable_ld(int64_t ld, int64_t stored_rows, int64_t stored_cols) {
  return stored_cols <= 1 ? std::max({ld, stored_rows, int64_t{1}}) : ld;
}

}  // namespace

void gemm(DType dtype, int64_t m, int64_t n, int64_t k, double alpha, MatrixOperand a, MatrixOperand b, double beta,
          void* c, int64_t ldc, bool allow_tf32, Stream on) {
  const cudaStream_t stream = native(on);
  if (m == 0 || n == 0) return;
  if (k == 0) {  // an empty sum: C = beta·C, done here rather than relying on cuBLAS's k = 0 path
    if (beta == 1) return;
    dispatch_floating(dtype, "cuda gemm", [&]<class T>() {
      using Acc = acc_t<T>;
      scale_kernel<T>
          <<<grid_for(m * n, kThreads), kThreads, 0, stream>>>(static_cast<T*>(c), m, n, ldc, static_cast<Acc>(beta));
    });
    VOLT_CUDA_CHECK_LAUNCH();
    return;
  }
  const GemmTypes t = gemm_types(dtype, allow_tf32);
  // cuBLAS is column-major. Row-major C [m, n] read column-major is Cᵀ [n, m], and Cᵀ = Bᵀ·Aᵀ,
  // so cuBLAS gets B first. A row-major operand read column-major already is its transpose
  // (op N); a column-major one is the operand itself and needs op T.
  // Stored shapes, column-major: B [n, k] (op N) or [k, n] (op T); A [k, m] or [m, k]; C [n, m].
  const cublasOperation_t op_b = b.col_major ? CUBLAS_OP_T : CUBLAS_OP_N;
  const cublasOperation_t op_a = a.col_major ? CUBLAS_OP_T : CUBLAS_OP_N;
  const int64_t ldb = b.col_major ? usable_ld(b.ld, k, n) : usable_ld(b.ld, n, k);
  const int64_t lda = a.col_major ? usable_ld(a.ld, m, k) : usable_ld(a.ld, k, m);
  const int64_t ldc_used = usable_ld(ldc, n, m);
  const float alpha_f = static_cast<float>(alpha), beta_f = static_cast<float>(beta);
  const void* alpha_p = t.double_scalars ? static_cast<const void*>(&alpha) : &alpha_f;
  const void* beta_p = t.double_scalars ? static_cast<const void*>(&beta) : &beta_f;
  BlasLease lease(stream);
  VOLT_CUBLAS_CHECK(cublasGemmEx_64(lease.cublas(), op_b, op_a, n, m, k, alpha_p, b.data, t.data, ldb, a.data, t.data,
                                    lda, beta_p, c, t.data, ldc_used, t.compute, CUBLAS_GEMM_DEFAULT),
                    GemmCall{dtype, m, n, k, a, b});
}

// ---- linear --------------------------------------------------------------------------------

namespace {

// The largest power of two, up to 256, that divides the address (null: 256).
uint32_t alignment(const void* p) {
  const auto address = reinterpret_cast<uintptr_t>(p);
  uint32_t a = 1;
  while (a < 256 && address % (a * 2) == 0)
    a *= 2;
  return a;
}

struct AlgoKey {
  int device;
  DType dtype;
  int64_t rows, in, out;
  int epilogue;  // cublasLtEpilogue_t
  bool tf32;
  uint32_t align_x, align_w, align_y, align_bias, align_mask;
  auto operator<=>(const AlgoKey&) const = default;
};
struct Algo {
  bool found = false;  // cuBLASLt offered an algorithm; otherwise linear falls back to gemm
  cublasLtMatmulAlgo_t algo{};
  std::size_t workspace = 0;
};

// The heuristic's choice per problem, so a step asks it once per shape.
std::mutex algo_mutex;
std::map<AlgoKey, Algo>& algo_cache() {
  static auto* cache = new std::map<AlgoKey, Algo>;  // never destroyed, as the handles
  return *cache;
}

struct LtDescriptors {
  cublasLtMatmulDesc_t op = nullptr;
  cublasLtMatrixLayout_t w = nullptr, x = nullptr, y = nullptr;
  cublasLtMatmulPreference_t pref = nullptr;
  LtDescriptors() = default;
  LtDescriptors(const LtDescriptors&) = delete;
  LtDescriptors& operator=(const LtDescriptors&) = delete;
  ~LtDescriptors() {  // destroy calls only fail on a null descriptor
    if (pref) cublasLtMatmulPreferenceDestroy(pref);
    if (y) cublasLtMatrixLayoutDestroy(y);
    if (x) cublasLtMatrixLayoutDestroy(x);
    if (w) cublasLtMatrixLayoutDestroy(w);
    if (op) cublasLtMatmulDescDestroy(op);
  }
};

template <class V>
void set_op(cublasLtMatmulDesc_t op, cublasLtMatmulDescAttributes_t attr, const V& value, const LinearCall& call) {
  VOLT_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(op, attr, &value, sizeof(value)), call, " (attribute ", attr, ")");
}
template <class V>
void set_pref(cublasLtMatmulPreference_t pref, cublasLtMatmulPreferenceAttributes_t attr, const V& value,
              const LinearCall& call) {
  VOLT_CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(pref, attr, &value, sizeof(value)), call, " (preference ",
                    attr, ")");
}

// y = x·wᵀ (+ epilogue) through cuBLASLt; false when it has no algorithm for the problem.
// cuBLASLt is column-major too: y [rows, out] row-major is D [out, rows] column-major, and
// D = w·xᵀ with w [out, in] row-major read as A [in, out] (op T) and x as B [in, rows] (op N).
// The bias then runs along D's rows, which is what cuBLASLt's bias epilogue broadcasts.
bool lt_linear(const LinearCall& call, const void* x, const void* w, const void* bias, void* y, void* relu_mask,
               bool allow_tf32, cudaStream_t stream) {
  const cudaDataType_t type = call.dtype == DType::f32   ? CUDA_R_32F
                              : call.dtype == DType::f16 ? CUDA_R_16F
                                                         : CUDA_R_16BF;
  const bool tf32 = allow_tf32 && call.dtype == DType::f32;
  const cublasComputeType_t compute = tf32 ? CUBLAS_COMPUTE_32F_FAST_TF32 : CUBLAS_COMPUTE_32F;
  cublasLtEpilogue_t epilogue = CUBLASLT_EPILOGUE_DEFAULT;
  if (call.epilogue == LinearEpilogue::bias) epilogue = CUBLASLT_EPILOGUE_BIAS;
  if (call.epilogue == LinearEpilogue::bias_relu)
    epilogue = relu_mask ? CUBLASLT_EPILOGUE_RELU_AUX_BIAS : CUBLASLT_EPILOGUE_RELU_BIAS;

  BlasLease lease(stream);
  LtDescriptors d;
  VOLT_CUBLAS_CHECK(cublasLtMatmulDescCreate(&d.op, compute, CUDA_R_32F), call);
  set_op(d.op, CUBLASLT_MATMUL_DESC_TRANSA, int32_t{CUBLAS_OP_T}, call);
  set_op(d.op, CUBLASLT_MATMUL_DESC_TRANSB, int32_t{CUBLAS_OP_N}, call);
  set_op(d.op, CUBLASLT_MATMUL_DESC_EPILOGUE, static_cast<uint32_t>(epilogue), call);
  if (call.epilogue != LinearEpilogue::none) set_op(d.op, CUBLASLT_MATMUL_DESC_BIAS_POINTER, bias, call);
  if (epilogue == CUBLASLT_EPILOGUE_RELU_AUX_BIAS) {
    set_op(d.op, CUBLASLT_MATMUL_DESC_EPILOGUE_AUX_POINTER, relu_mask, call);
    set_op(d.op, CUBLASLT_MATMUL_DESC_EPILOGUE_AUX_LD, int64_t{relu_mask_ld(call.out)}, call);
  }
  VOLT_CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&d.w, type, call.in, call.out, call.in), call);
  VOLT_CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&d.x, type, call.in, call.rows, call.in), call);
  VOLT_CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&d.y, type, call.out, call.rows, call.out), call);

  AlgoKey key{};
  key.device = lease.device();
  key.dtype = call.dtype;
  key.rows = call.rows;
  key.in = call.in;
  key.out = call.out;
  key.epilogue = static_cast<int>(epilogue);
  key.tf32 = tf32;
  key.align_x = alignment(x);
  key.align_w = alignment(w);
  key.align_y = alignment(y);
  key.align_bias = call.epilogue == LinearEpilogue::none ? 256 : alignment(bias);
  key.align_mask = epilogue == CUBLASLT_EPILOGUE_RELU_AUX_BIAS ? alignment(relu_mask) : 256;
  Algo choice;
  {
    std::lock_guard lock(algo_mutex);
    auto it = algo_cache().find(key);
    if (it == algo_cache().end()) {
      VOLT_CUBLAS_CHECK(cublasLtMatmulPreferenceCreate(&d.pref), call);
      set_pref(d.pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, uint64_t{kLtMaxWorkspace}, call);
      set_pref(d.pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, key.align_w, call);
      set_pref(d.pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES, key.align_x, call);
      set_pref(d.pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, key.align_y, call);
      set_pref(d.pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES, key.align_y, call);
      const uint32_t reductions =
          call.dtype == DType::f32
              ? uint32_t{CUBLASLT_REDUCTION_SCHEME_INPLACE | CUBLASLT_REDUCTION_SCHEME_COMPUTE_TYPE}
              : uint32_t{CUBLASLT_REDUCTION_SCHEME_COMPUTE_TYPE};
      set_pref(d.pref, CUBLASLT_MATMUL_PREF_REDUCTION_SCHEME_MASK, reductions, call);
      cublasLtMatmulHeuristicResult_t result{};
      int count = 0;
      const cublasStatus_t status =
          cublasLtMatmulAlgoGetHeuristic(lease.lt(), d.op, d.w, d.x, d.y, d.y, d.pref, 1, &result, &count);
      if (status != CUBLAS_STATUS_SUCCESS && status != CUBLAS_STATUS_NOT_SUPPORTED)
        detail::cublas_fail(status, "cublasLtMatmulAlgoGetHeuristic", ::volt::detail::concat(call), __FILE__, __LINE__);
      if (status == CUBLAS_STATUS_SUCCESS && count > 0 && result.state == CUBLAS_STATUS_SUCCESS)
        choice = {true, result.algo, result.workspaceSize};
      it = algo_cache().emplace(key, choice).first;
    }
    choice = it->second;
  }
  if (!choice.found) return false;

  Workspace workspace(lease.device(), choice.workspace);
  const float one = 1.0f, zero = 0.0f;  // scale type CUDA_R_32F; beta 0: C (= D) is not read
  VOLT_CUBLAS_CHECK(cublasLtMatmul(lease.lt(), d.op, &one, w, d.w, x, d.x, &zero, y, d.y, y, d.y, &choice.algo,
                                   workspace.data(), workspace.size(), stream),
                    call);
  return true;
}

}  // namespace

void linear(DType dtype, int64_t rows, int64_t in, int64_t out, const void* x, const void* w, const void* bias, void* y,
            LinearEpilogue epilogue, void* relu_mask, bool allow_tf32, Stream on) {
  const cudaStream_t stream = native(on);
  if (rows == 0 || out == 0) return;
  const LinearCall call{dtype, rows, in, out, epilogue};
  VOLT_CHECK(epilogue == LinearEpilogue::none || bias, call, ": the epilogue needs a bias");
  const bool lt_dtype = dtype == DType::f32 || dtype == DType::f16 || dtype == DType::bf16;
  if (lt_dtype && in > 0 && lt_linear(call, x, w, bias, y, relu_mask, allow_tf32, stream)) return;

  // f64, an empty inner dimension, or no cuBLASLt algorithm: cuBLAS, then the epilogue kernel.
  // w [out, in] row-major is wᵀ [in, out] column-major with ld = in.
  gemm(dtype, rows, out, in, 1.0, MatrixOperand{x, in, false}, MatrixOperand{w, in, true}, 0.0, y, out, allow_tf32, on);
  if (epilogue == LinearEpilogue::none) return;
  const int64_t ld = relu_mask_ld(out);
  const bool relu = epilogue == LinearEpilogue::bias_relu;
  dispatch_floating(dtype, "cuda linear", [&]<class T>() {
    bias_relu_kernel<T><<<grid_for(rows * ld, kThreads), kThreads, 0, stream>>>(
        static_cast<T*>(y), static_cast<const T*>(bias), relu ? static_cast<uint32_t*>(relu_mask) : nullptr, rows, out,
        ld, relu);
  });
  VOLT_CUDA_CHECK_LAUNCH();
}

void relu_mask_backward(DType dtype, int64_t rows, int64_t out, const void* grad_y, const void* relu_mask,
                        void* grad_pre, Stream on) {
  const cudaStream_t stream = native(on);
  if (rows == 0 || out == 0) return;
  dispatch_floating(dtype, "cuda relu_mask_backward", [&]<class T>() {
    relu_mask_backward_kernel<T><<<grid_for(rows * out, kThreads), kThreads, 0, stream>>>(
        static_cast<const T*>(grad_y), static_cast<const uint32_t*>(relu_mask), static_cast<T*>(grad_pre), rows, out,
        relu_mask_ld(out));
  });
  VOLT_CUDA_CHECK_LAUNCH();
}

namespace {
// Plugs these kernels into the dispatch tables when volt_cuda is linked into a program.
[[maybe_unused]] const bool registered = (kernels::gemm.cuda = gemm, kernels::linear.cuda = linear,
                                          kernels::relu_mask_backward.cuda = relu_mask_backward, true);
}  // namespace

}  // namespace volt::kernels::cuda
