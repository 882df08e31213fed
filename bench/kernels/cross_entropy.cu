// Softmax cross-entropy forward and backward over logits [rows, classes] with int64 targets, in
// the shape of volt's kernels (kernels/softmax.h): per row r, with m = max x[r],
//   log_sum[r] = log Σ_c exp(x[r, c] - m)                   (float)
//   loss[r]    = log_sum[r] - (x[r, t] - m), 0 where t is ignore_index   (float)
//   grad[r, c] = g[r] · (exp(x[r, c] - m - log_sum[r]) - [c = t]), 0 on ignored rows   (x's dtype)
// with g[r] = 1/rows, the gradient of the mean. Each version computes all three; each is checked
// against volt's CPU twin on rows at both ends of the full-size problem (and every output is
// checked written) before it is timed beside the byte floor and the device copy (docs/kernel_lab.md).
//
//   build/bench/kernels/cross_entropy [--rows 8192] [--classes 32768] [--dtype f32,bf16] [--runs 50]
//                                     [--warmup 5] [--check-rows 128] [--json PATH]
//
// The floor: the logits read once and their gradient written once, 2·rows·classes·s bytes, plus
// 20 bytes a row (target, g, loss, log_sum). An exp per element is far below it: bytes decide.
// The lab's kernels take finite logits and valid targets; volt's also handles -inf and NaN rows
// and out-of-range targets.
#include <cstdint>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "lab.cuh"
#include "volt/core/philox.h"
#include "volt/kernels/random.h"
#include "volt/kernels/softmax.h"

namespace {

using namespace lab;

constexpr const char* kUsage =
    "softmax cross-entropy forward+backward: numbered versions checked against volt's CPU twin, timed beside "
    "the byte floor.\n"
    "  --rows R        rows of logits (default 8192)\n"
    "  --classes C     classes per row (default 32768)\n"
    "  --dtype LIST    f32, bf16, f16, comma-separated (default f32,bf16)\n"
    "  --runs N        timed runs per version, the median printed (default 50)\n"
    "  --warmup W      untimed runs first (default 5)\n"
    "  --check-rows K  rows compared with the CPU at each end of the problem (default 128)\n"
    "  --json PATH     also append one JSON line per timed row to PATH\n";

constexpr int64_t kIgnore = -100;  // volt's (and PyTorch's) default ignore_index

// ---- reductions ----------------------------------------------------------------------------------

// volt's max (kernels/cuda/device_types.cuh): b only when a < b.
__device__ inline float max_of(float a, float b) { return a < b ? b : a; }

// A running max m and s = Σ exp(x - m) over the values seen (Milakov & Gimelshein, "Online
// normalizer calculation for softmax", 2018): one pass gives both.
struct MaxSum {
  float m, s;
};
__device__ inline MaxSum combine(MaxSum a, MaxSum b) {
  const float m = max_of(a.m, b.m);
  // A part that saw nothing (m = -inf, s = 0) adds 0, not 0 · exp(-inf - -inf) = NaN.
  const float sa = a.s == 0.f ? 0.f : a.s * expf(a.m - m);
  const float sb = b.s == 0.f ? 0.f : b.s * expf(b.m - m);
  return {m, sa + sb};
}
// One value into the running pair: a single exp unless x is a new max (rare after a few values).
__device__ inline void add(MaxSum& a, float x) {
  if (a.m < x) {
    a.s *= expf(a.m - x);
    a.m = x;
  }
  a.s += expf(x - a.m);
}

struct Max {
  __device__ float operator()(float a, float b) const { return max_of(a, b); }
};
struct Sum {
  __device__ float operator()(float a, float b) const { return a + b; }
};
struct Combine {
  __device__ MaxSum operator()(MaxSum a, MaxSum b) const { return combine(a, b); }
};

// The naive block reduction (v1, v2): a tree over `scratch` (blockDim.x values, a power of two)
// with a barrier per level.
template <class V, class Op>
__device__ V tree_reduce(V v, V* scratch, Op op) {
  scratch[threadIdx.x] = v;
  __syncthreads();
  for (unsigned half = blockDim.x / 2; half > 0; half /= 2) {
    if (threadIdx.x < half) scratch[threadIdx.x] = op(scratch[threadIdx.x], scratch[threadIdx.x + half]);
    __syncthreads();
  }
  const V result = scratch[0];
  __syncthreads();
  return result;
}

// Warp shuffles: a butterfly, so every lane ends with the same bits (each step adds the same two
// values on both lanes of a pair, and float addition is commutative).
__device__ inline float shuffle_xor(float v, int lane_mask) { return __shfl_xor_sync(0xffffffffu, v, lane_mask); }
__device__ inline MaxSum shuffle_xor(MaxSum v, int lane_mask) {
  return {shuffle_xor(v.m, lane_mask), shuffle_xor(v.s, lane_mask)};
}
template <class V, class Op>
__device__ V warp_reduce(V v, Op op) {
#pragma unroll
  for (int lane_mask = 16; lane_mask > 0; lane_mask /= 2)
    v = op(v, shuffle_xor(v, lane_mask));
  return v;
}

// The block reduction of v3 and v5: shuffles within each warp, one value per warp through shared
// memory, then every warp reduces those (so no broadcast is needed): two barriers in all.
template <class V, class Op>
__device__ V block_reduce(V v, V* per_warp /* [32] */, Op op, V identity) {
  v = warp_reduce(v, op);
  const unsigned warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  if (lane == 0) per_warp[warp] = v;
  __syncthreads();
  v = lane < blockDim.x / 32 ? per_warp[lane] : identity;
  v = warp_reduce(v, op);
  __syncthreads();  // per_warp may be written again at once
  return v;
}

// 16-byte accesses that tell the cache a line is used once (ld.global.cs / st.global.cs: evict
// first), so the logits v3 reads twice stay in L2 while gradients stream past.
template <class T>
__device__ inline Pack<T> load_once(const Pack<T>* p) {
  const uint4 bits = __ldcs(reinterpret_cast<const uint4*>(p));
  Pack<T> v;
  std::memcpy(&v, &bits, sizeof v);
  return v;
}
template <class T>
__device__ inline void store_once(Pack<T>* p, const Pack<T>& v) {
  uint4 bits;
  std::memcpy(&bits, &v, sizeof bits);
  __stcs(reinterpret_cast<uint4*>(p), bits);
}

// What a row's threads share: the loss of row r and its log_sum, written by one thread.
__device__ inline void write_row(float* loss, float* log_sum, int64_t r, float m, float ls, float x_target,
                                 bool ignored) {
  log_sum[r] = ls;
  loss[r] = ignored ? 0.f : ls - (x_target - m);
}

struct Problem {
  int64_t rows = 0, classes = 0;
};

// ---- v1: the textbook, four reads of the logits ----------------------------------------------------
// Forward: a block per row, a max pass, a sum pass. Backward, another launch: a max pass again and
// a gradient pass. Scalar loads; tree reductions in shared memory.

constexpr int kNaiveThreads = 256;

template <class T>
__global__ void forward_v1(float* loss, float* log_sum, const T* logits, const int64_t* target, Problem pb) {
  __shared__ float scratch[kNaiveThreads];
  const int64_t r = blockIdx.x;
  const T* row = logits + r * pb.classes;
  float m = -INFINITY;
  for (int64_t c = threadIdx.x; c < pb.classes; c += blockDim.x)
    m = max_of(m, to_float(row[c]));
  m = tree_reduce(m, scratch, Max{});
  float s = 0.f;
  for (int64_t c = threadIdx.x; c < pb.classes; c += blockDim.x)
    s += expf(to_float(row[c]) - m);
  s = tree_reduce(s, scratch, Sum{});
  if (threadIdx.x == 0) {
    const int64_t t = target[r];
    write_row(loss, log_sum, r, m, logf(s), t == kIgnore ? 0.f : to_float(row[t]), t == kIgnore);
  }
}

template <class T>
__global__ void backward_v1(T* grad, const float* grad_loss, const T* logits, const float* log_sum,
                            const int64_t* target, Problem pb) {
  __shared__ float scratch[kNaiveThreads];
  const int64_t r = blockIdx.x;
  const T* row = logits + r * pb.classes;
  T* out = grad + r * pb.classes;
  const int64_t t = target[r];  // the same for the whole block, so all its threads return together
  if (t == kIgnore) {
    for (int64_t c = threadIdx.x; c < pb.classes; c += blockDim.x)
      out[c] = from_float<T>(0.f);
    return;
  }
  float m = -INFINITY;
  for (int64_t c = threadIdx.x; c < pb.classes; c += blockDim.x)
    m = max_of(m, to_float(row[c]));
  m = tree_reduce(m, scratch, Max{});
  const float g = grad_loss[r], ls = log_sum[r];
  for (int64_t c = threadIdx.x; c < pb.classes; c += blockDim.x)
    out[c] = from_float<T>(g * (expf(to_float(row[c]) - m - ls) - (c == t ? 1.f : 0.f)));
}

// ---- v2: online max and sum, the max kept: two reads ---------------------------------------------
// The forward's one pass finds m and s together; it stores m beside log_sum (4 bytes a row), so
// the backward needs no max pass. Still two launches, scalar loads, tree reductions.

template <class T>
__global__ void forward_v2(float* loss, float* log_sum, float* row_max, const T* logits, const int64_t* target,
                           Problem pb) {
  __shared__ MaxSum scratch[kNaiveThreads];
  const int64_t r = blockIdx.x;
  const T* row = logits + r * pb.classes;
  MaxSum st{-INFINITY, 0.f};
  for (int64_t c = threadIdx.x; c < pb.classes; c += blockDim.x)
    add(st, to_float(row[c]));
  st = tree_reduce(st, scratch, Combine{});
  if (threadIdx.x == 0) {
    const int64_t t = target[r];
    row_max[r] = st.m;
    write_row(loss, log_sum, r, st.m, logf(st.s), t == kIgnore ? 0.f : to_float(row[t]), t == kIgnore);
  }
}

template <class T>
__global__ void backward_v2(T* grad, const float* grad_loss, const T* logits, const float* log_sum,
                            const float* row_max, const int64_t* target, Problem pb) {
  const int64_t r = blockIdx.x;
  const T* row = logits + r * pb.classes;
  T* out = grad + r * pb.classes;
  const int64_t t = target[r];
  const bool ignored = t == kIgnore;
  const float g = ignored ? 0.f : grad_loss[r], m = row_max[r], ls = log_sum[r];
  for (int64_t c = threadIdx.x; c < pb.classes; c += blockDim.x)
    out[c] = from_float<T>(ignored ? 0.f : g * (expf(to_float(row[c]) - m - ls) - (c == t ? 1.f : 0.f)));
}

// ---- v3: forward and backward fused, a block per row, the second read from L2 ------------------
// One launch: 1024 threads stream the row once with 16-byte loads for the online max and sum,
// reduce by shuffles, then stream it again for the gradient. Two blocks per multiprocessor hold
// 264 rows on an H200: 35 MB of f32 logits, inside the 60 MB L2, so the second read mostly hits
// it and device memory sees about one read and one write.

constexpr int kRowThreads = 1024;

template <class T>
__global__ void __launch_bounds__(kRowThreads, 2) fused_v3(T* grad, float* loss, float* log_sum, const T* logits,
                                                           const float* grad_loss, const int64_t* target, Problem pb) {
  using P = Pack<T>;
  __shared__ MaxSum per_warp[32];
  const int64_t r = blockIdx.x, packs = pb.classes / P::size;
  const T* row = logits + r * pb.classes;
  const auto* in = reinterpret_cast<const P*>(row);
  MaxSum st{-INFINITY, 0.f};
  for (int64_t p = threadIdx.x; p < packs; p += blockDim.x) {
    const P v = in[p];
    float pack_max = -INFINITY;  // one rescale per pack instead of one per new max
#pragma unroll
    for (int k = 0; k < P::size; ++k)
      pack_max = max_of(pack_max, to_float(v.v[k]));
    if (st.m < pack_max) {
      st.s *= expf(st.m - pack_max);
      st.m = pack_max;
    }
#pragma unroll
    for (int k = 0; k < P::size; ++k)
      st.s += expf(to_float(v.v[k]) - st.m);
  }
  st = block_reduce(st, per_warp, Combine{}, MaxSum{-INFINITY, 0.f});
  const float m = st.m, ls = logf(st.s);
  const int64_t t = target[r];
  const bool ignored = t == kIgnore;
  if (threadIdx.x == 0) write_row(loss, log_sum, r, m, ls, ignored ? 0.f : to_float(row[t]), ignored);
  const float g = ignored ? 0.f : grad_loss[r];
  auto* out = reinterpret_cast<P*>(grad + r * pb.classes);
  for (int64_t p = threadIdx.x; p < packs; p += blockDim.x) {
    const P v = load_once(in + p);  // the last use of these logits
    P o;
#pragma unroll
    for (int k = 0; k < P::size; ++k) {
      const float prob = expf(to_float(v.v[k]) - m - ls);
      o.v[k] = from_float<T>(g * (prob - (p * P::size + k == t ? 1.f : 0.f)));
    }
    store_once(out + p, o);
  }
}

// ---- v4: fused, one warp per row --------------------------------------------------------------
// No shared memory and no barrier: a warp owns a row, reduces it by shuffles and writes its
// gradient. Right for short rows (a block of 1024 threads on 10 classes idles 1014 of them); at
// 32768 classes some 8000 rows are in flight at once, far more than L2 holds, so the second
// read comes from device memory: about two reads and a write. Rows whose length is not a multiple
// of a 16-byte pack take scalar loads.

constexpr int kWarpRowsPerBlock = 8;

template <class T>
__global__ void __launch_bounds__(32 * kWarpRowsPerBlock)
    fused_v4(T* grad, float* loss, float* log_sum, const T* logits, const float* grad_loss, const int64_t* target,
             Problem pb) {
  using P = Pack<T>;
  const int64_t r = static_cast<int64_t>(blockIdx.x) * kWarpRowsPerBlock + threadIdx.x / 32;
  const int lane = static_cast<int>(threadIdx.x % 32);
  if (r >= pb.rows) return;  // a whole warp leaves: its shuffles need none of the others
  const T* row = logits + r * pb.classes;
  T* out = grad + r * pb.classes;
  const bool packed = pb.classes % P::size == 0;  // every row then starts 16-byte aligned
  const int64_t packs = packed ? pb.classes / P::size : 0;
  const auto* in = reinterpret_cast<const P*>(row);
  MaxSum st{-INFINITY, 0.f};
  for (int64_t p = lane; p < packs; p += 32) {
    const P v = in[p];
#pragma unroll
    for (int k = 0; k < P::size; ++k)
      add(st, to_float(v.v[k]));
  }
  for (int64_t c = packs * P::size + lane; c < pb.classes; c += 32)
    add(st, to_float(row[c]));
  st = warp_reduce(st, Combine{});
  const float m = st.m, ls = logf(st.s);
  const int64_t t = target[r];
  const bool ignored = t == kIgnore;
  if (lane == 0) write_row(loss, log_sum, r, m, ls, ignored ? 0.f : to_float(row[t]), ignored);
  const float g = ignored ? 0.f : grad_loss[r];
  auto* outp = reinterpret_cast<P*>(out);
  for (int64_t p = lane; p < packs; p += 32) {
    const P v = load_once(in + p);
    P o;
#pragma unroll
    for (int k = 0; k < P::size; ++k)
      o.v[k] = from_float<T>(g * (expf(to_float(v.v[k]) - m - ls) - (p * P::size + k == t ? 1.f : 0.f)));
    store_once(outp + p, o);
  }
  for (int64_t c = packs * P::size + lane; c < pb.classes; c += 32)
    out[c] = from_float<T>(g * (expf(to_float(row[c]) - m - ls) - (c == t ? 1.f : 0.f)));
}

// ---- v5: fused, the row held in registers: one read, one write -----------------------------------
// 1024 threads load the whole row with 16-byte loads into K packs each (32 floats at most: a
// 32768-class f32 row is 8 float4 a thread), and never read it again: the max, the sum of
// exponentials (kept in place of the logits) and the gradient all come from registers. The exp
// is taken once per element: p = exp(x - m) · (1/s). K is a template parameter, so every
// register index is a compile-time constant and nothing goes to local memory.

template <class T, int K>
__global__ void __launch_bounds__(kRowThreads, 1) fused_v5(T* grad, float* loss, float* log_sum, const T* logits,
                                                           const float* grad_loss, const int64_t* target, Problem pb) {
  using P = Pack<T>;
  __shared__ float per_warp[32];
  const int64_t r = blockIdx.x, packs = pb.classes / P::size;
  const T* row = logits + r * pb.classes;
  const auto* in = reinterpret_cast<const P*>(row);
  float v[K][P::size];
#pragma unroll
  for (int k = 0; k < K; ++k) {
    const int64_t p = static_cast<int64_t>(k) * blockDim.x + threadIdx.x;
    if (p < packs) {
      const P raw = load_once(in + p);
#pragma unroll
      for (int j = 0; j < P::size; ++j)
        v[k][j] = to_float(raw.v[j]);
    } else {
#pragma unroll
      for (int j = 0; j < P::size; ++j)
        v[k][j] = -INFINITY;  // adds exp(-inf) = 0 below
    }
  }
  float m = -INFINITY;
#pragma unroll
  for (int k = 0; k < K; ++k)
#pragma unroll
    for (int j = 0; j < P::size; ++j)
      m = max_of(m, v[k][j]);
  m = block_reduce(m, per_warp, Max{}, -INFINITY);
  float s = 0.f;
#pragma unroll
  for (int k = 0; k < K; ++k)
#pragma unroll
    for (int j = 0; j < P::size; ++j) {
      v[k][j] = expf(v[k][j] - m);
      s += v[k][j];
    }
  s = block_reduce(s, per_warp, Sum{}, 0.f);
  const float ls = logf(s), inv_s = 1.f / s;
  const int64_t t = target[r];
  const bool ignored = t == kIgnore;
  if (threadIdx.x == 0) write_row(loss, log_sum, r, m, ls, ignored ? 0.f : to_float(row[t]), ignored);
  const float g = ignored ? 0.f : grad_loss[r];
  auto* out = reinterpret_cast<P*>(grad + r * pb.classes);
#pragma unroll
  for (int k = 0; k < K; ++k) {
    const int64_t p = static_cast<int64_t>(k) * blockDim.x + threadIdx.x;
    if (p < packs) {
      P o;
#pragma unroll
      for (int j = 0; j < P::size; ++j)
        o.v[j] = from_float<T>(g * (v[k][j] * inv_s - (p * P::size + j == t ? 1.f : 0.f)));
      store_once(out + p, o);
    }
  }
}

// ---- the harness -------------------------------------------------------------------------------

struct Buffers {
  Buffers(const Problem& pb, std::size_t elem)
      : logits(static_cast<std::size_t>(pb.rows * pb.classes) * elem),
        grad(logits.bytes()),
        target(static_cast<std::size_t>(pb.rows) * sizeof(int64_t)),
        grad_loss(static_cast<std::size_t>(pb.rows) * sizeof(float)),
        loss(grad_loss.bytes()),
        log_sum(grad_loss.bytes()),
        row_max(grad_loss.bytes()) {}
  Buffer logits, grad, target, grad_loss, loss, log_sum, row_max;
};

// Rows [first, last) checked against the CPU: `check_rows` at each end (all, for a small problem).
std::vector<std::pair<int64_t, int64_t>> checked_ranges(int64_t rows, int64_t check_rows) {
  if (2 * check_rows >= rows) return {{0, rows}};
  return {{0, check_rows}, {rows - check_rows, rows}};
}

// What volt's CPU twin computes for the checked rows, in the order of checked_ranges.
template <class T>
struct Reference {
  std::vector<float> loss, log_sum;
  std::vector<T> grad;
};

template <class T>
Reference<T> cpu_reference(const Gpu& gpu, const Buffers& b, volt::DType dtype, const Problem& pb,
                           const std::vector<std::pair<int64_t, int64_t>>& ranges,
                           const std::vector<float>& grad_loss) {
  Reference<T> ref;
  for (const auto& [first, last] : ranges) {
    const int64_t n = last - first;
    std::vector<T> x(static_cast<std::size_t>(n * pb.classes)), gx(x.size());
    std::vector<int64_t> t(static_cast<std::size_t>(n));
    std::vector<float> loss(t.size()), ls(t.size());
    to_host(x.data(), b.logits, x.size() * sizeof(T), gpu.stream,
            static_cast<std::size_t>(first * pb.classes) * sizeof(T));
    to_host(t.data(), b.target, t.size() * sizeof(int64_t), gpu.stream,
            static_cast<std::size_t>(first) * sizeof(int64_t));
    volt::kernels::CrossEntropyArgs args;
    args.rows = n;
    args.classes = pb.classes;
    args.ignore_index = kIgnore;
    volt::kernels::cpu::cross_entropy_forward(dtype, loss.data(), ls.data(), x.data(), t.data(), args, volt::Stream{});
    volt::kernels::cpu::cross_entropy_backward(dtype, gx.data(), grad_loss.data() + first, nullptr, x.data(), ls.data(),
                                               t.data(), args, volt::Stream{});
    ref.loss.insert(ref.loss.end(), loss.begin(), loss.end());
    ref.log_sum.insert(ref.log_sum.end(), ls.begin(), ls.end());
    ref.grad.insert(ref.grad.end(), gx.begin(), gx.end());
  }
  return ref;
}

// The outputs of one run: the checked rows against the reference, and every element of every
// output written (they were poisoned with NaN and the lab's inputs give no NaN).
template <class T>
Check check_outputs(const Gpu& gpu, const Buffers& b, const Problem& pb,
                    const std::vector<std::pair<int64_t, int64_t>>& ranges, const Reference<T>& ref, double rtol) {
  Check check;
  std::size_t row0 = 0;
  for (const auto& [first, last] : ranges) {
    const int64_t n = last - first;
    std::vector<float> loss(static_cast<std::size_t>(n)), ls(loss.size());
    std::vector<T> gx(static_cast<std::size_t>(n * pb.classes));
    to_host(loss.data(), b.loss, loss.size() * sizeof(float), gpu.stream,
            static_cast<std::size_t>(first) * sizeof(float));
    to_host(ls.data(), b.log_sum, ls.size() * sizeof(float), gpu.stream,
            static_cast<std::size_t>(first) * sizeof(float));
    to_host(gx.data(), b.grad, gx.size() * sizeof(T), gpu.stream,
            static_cast<std::size_t>(first * pb.classes) * sizeof(T));
    compare_close(check, "loss", loss.data(), ref.loss.data() + row0, n, rtol, 0.0);
    compare_close(check, "log_sum", ls.data(), ref.log_sum.data() + row0, n, rtol, 0.0);
    compare_close(check, "grad", gx.data(), ref.grad.data() + row0 * static_cast<std::size_t>(pb.classes),
                  n * pb.classes, rtol, 0.0);
    row0 += static_cast<std::size_t>(n);
  }
  const unsigned long long unwritten = count_nonfinite(gpu, b.grad.as<const T>(), pb.rows * pb.classes) +
                                       count_nonfinite(gpu, b.loss.as<const float>(), pb.rows) +
                                       count_nonfinite(gpu, b.log_sum.as<const float>(), pb.rows);
  if (unwritten > 0)
    check.note("outputs not written (still NaN after the run)", static_cast<int64_t>(unwritten), 0, 0, true);
  return check;
}

struct Version {
  std::string name, impl;
  std::function<void()> launch;
  std::string skip;  // why it cannot run on this shape, or ""
};

#ifdef LAB_HAVE_CUDNN
// cudnnSoftmaxForward(LOG, INSTANCE) on [rows, classes, 1, 1]: cuDNN has no cross-entropy, and a
// log-softmax moves the same bytes as the floor (the logits in, as many values out). It writes
// log-probabilities, not a loss and a gradient: timed, never compared.
class CudnnLogSoftmax {
 public:
  CudnnLogSoftmax(const Gpu& gpu, volt::DType dtype, const Problem& pb) {
    if (pb.rows > INT32_MAX || pb.classes > INT32_MAX) throw Failure("cuDNN takes int dimensions");
    LAB_CUDNN(cudnnCreate(&handle_));
    LAB_CUDNN(cudnnSetStream(handle_, gpu.stream));
    LAB_CUDNN(cudnnCreateTensorDescriptor(&desc_));
    const cudnnDataType_t type = dtype == volt::DType::bf16  ? CUDNN_DATA_BFLOAT16
                                 : dtype == volt::DType::f16 ? CUDNN_DATA_HALF
                                                             : CUDNN_DATA_FLOAT;
    LAB_CUDNN(cudnnSetTensor4dDescriptor(desc_, CUDNN_TENSOR_NCHW, type, static_cast<int>(pb.rows),
                                         static_cast<int>(pb.classes), 1, 1));
  }
  ~CudnnLogSoftmax() {
    if (desc_) cudnnDestroyTensorDescriptor(desc_);
    if (handle_) cudnnDestroy(handle_);
  }
  CudnnLogSoftmax(const CudnnLogSoftmax&) = delete;
  CudnnLogSoftmax& operator=(const CudnnLogSoftmax&) = delete;
  void operator()(void* y, const void* x) const {
    const float one = 1, zero = 0;
    LAB_CUDNN(
        cudnnSoftmaxForward(handle_, CUDNN_SOFTMAX_LOG, CUDNN_SOFTMAX_MODE_INSTANCE, &one, desc_, x, &zero, desc_, y));
  }

 private:
  cudnnHandle_t handle_ = nullptr;
  cudnnTensorDescriptor_t desc_ = nullptr;
};
#endif

// v5's K for a row of `packs` 16-byte packs over 1024 threads: the smallest of 1, 2, 4, 8 that
// holds it in at most 32 floats a thread, or 0 when none does.
int v5_packs_per_thread(int64_t packs, int pack_size) {
  for (int k = 1; k <= 8 && k * pack_size <= 32; k *= 2)
    if (static_cast<int64_t>(k) * kRowThreads >= packs) return k;
  return 0;
}

template <class T>
int run_cross_entropy(const Gpu& gpu, Timer& timer, volt::DType dtype, const std::string& dtype_name, const Problem& pb,
                      int64_t check_rows, const std::string& json) {
  using P = Pack<T>;
  Buffers b(pb, sizeof(T));
  const volt::Stream vs = gpu.volt_stream();

  // Logits ~ N(0, 2²) and uniform targets from volt's Philox fills; two rows (one near each
  // end, so both are checked) ignored.
  volt::kernels::cuda::random_fill(volt::kernels::Distribution::normal, dtype, b.logits.as(), pb.rows * pb.classes, 0.0,
                                   2.0, volt::PhiloxArgs{20251203, 0, nullptr}, vs);
  volt::kernels::cuda::randint_fill(volt::DType::i64, b.target.as(), pb.rows, 0, pb.classes,
                                    volt::PhiloxArgs{20251204, 0, nullptr}, vs);
  if (pb.rows >= 4) {
    const int64_t ignore = kIgnore;
    to_device(b.target, &ignore, sizeof ignore, gpu.stream, sizeof(int64_t));
    to_device(b.target, &ignore, sizeof ignore, gpu.stream, static_cast<std::size_t>(pb.rows - 2) * sizeof(int64_t));
  }
  const std::vector<float> grad_loss(static_cast<std::size_t>(pb.rows), 1.0f / static_cast<float>(pb.rows));
  to_device(b.grad_loss, grad_loss.data(), b.grad_loss.bytes(), gpu.stream);

  const auto ranges = checked_ranges(pb.rows, std::max<int64_t>(check_rows, 2));
  const Reference<T> ref = cpu_reference<T>(gpu, b, dtype, pb, ranges, grad_loss);
  const double rtol = std::is_same_v<T, float> ? 1e-5 : 1e-2;

  const double n = static_cast<double>(pb.rows) * static_cast<double>(pb.classes);
  const double floor_bytes = 2.0 * n * sizeof(T) + 20.0 * static_cast<double>(pb.rows);
  const std::string s = std::to_string(sizeof(T));
  Report report("cross_entropy", dtype_name, "[" + std::to_string(pb.rows) + ", " + std::to_string(pb.classes) + "]",
                floor_bytes,
                "read the logits " + s + " B + write their gradient " + s +
                    " B per element; 20 B a row of target, g, loss, log_sum",
                copy_gbps(gpu, timer, b.logits.bytes()), json);
  char tolerance[64];
  std::snprintf(tolerance, sizeof tolerance, " (tol %.0e)", rtol);

  T* grad = b.grad.as<T>();
  const T* logits = b.logits.as<const T>();
  const auto* target = b.target.as<const int64_t>();
  const auto* g = b.grad_loss.as<const float>();
  float* loss = b.loss.as<float>();
  float* log_sum = b.log_sum.as<float>();
  float* row_max = b.row_max.as<float>();
  const auto rows = static_cast<unsigned>(pb.rows);
  const bool packed = pb.classes % P::size == 0;
  const std::string unpacked = "classes must be a multiple of " + std::to_string(P::size) + " for 16-byte rows";
  const int k5 = packed ? v5_packs_per_thread(pb.classes / P::size, P::size) : 0;

  volt::kernels::CrossEntropyArgs args;
  args.rows = pb.rows;
  args.classes = pb.classes;
  args.ignore_index = kIgnore;

  std::vector<Version> versions = {
      {"v1 4 reads: max,sum | max,grad", "lab",
       [&] {
         forward_v1<<<rows, kNaiveThreads, 0, gpu.stream>>>(loss, log_sum, logits, target, pb);
         LAB_LAUNCH();
         backward_v1<<<rows, kNaiveThreads, 0, gpu.stream>>>(grad, g, logits, log_sum, target, pb);
         LAB_LAUNCH();
       },
       ""},
      {"v2 2 reads: online | grad", "lab",
       [&] {
         forward_v2<<<rows, kNaiveThreads, 0, gpu.stream>>>(loss, log_sum, row_max, logits, target, pb);
         LAB_LAUNCH();
         backward_v2<<<rows, kNaiveThreads, 0, gpu.stream>>>(grad, g, logits, log_sum, row_max, target, pb);
         LAB_LAUNCH();
       },
       ""},
      {"v3 fused, block/row, 16 B, L2", "lab",
       [&] {
         fused_v3<<<rows, kRowThreads, 0, gpu.stream>>>(grad, loss, log_sum, logits, g, target, pb);
         LAB_LAUNCH();
       },
       packed ? "" : unpacked},
      {"v4 fused, warp/row, 16 B", "lab",
       [&] {
         const auto blocks = static_cast<unsigned>((pb.rows + kWarpRowsPerBlock - 1) / kWarpRowsPerBlock);
         fused_v4<<<blocks, 32 * kWarpRowsPerBlock, 0, gpu.stream>>>(grad, loss, log_sum, logits, g, target, pb);
         LAB_LAUNCH();
       },
       ""},
      {"v5 fused, row in registers", "lab",
       [&] {
         auto launch = [&](auto kernel) {
           kernel<<<rows, kRowThreads, 0, gpu.stream>>>(grad, loss, log_sum, logits, g, target, pb);
           LAB_LAUNCH();
         };
         if (k5 == 1) launch(fused_v5<T, 1>);
         if (k5 == 2) launch(fused_v5<T, 2>);
         if (k5 == 4) launch(fused_v5<T, 4>);
         if constexpr (P::size <= 4)
           if (k5 == 8) launch(fused_v5<T, 8>);
       },
       !packed   ? unpacked
       : k5 == 0 ? "a row of " + std::to_string(pb.classes) + " does not fit in 1024 threads x 32 floats"
                 : ""},
      // volt's shipped pair through its entry points (kernels/cuda/softmax.cu): the online
      // forward, then a backward that finds the max again: three reads and a write. Per-row
      // g (no count: the mean's gradient is passed as g = 1/rows per row).
      {"v6 volt cuda::cross_entropy_*", "volt",
       [&] {
         volt::kernels::cuda::cross_entropy_forward(dtype, loss, log_sum, logits, target, args, vs);
         volt::kernels::cuda::cross_entropy_backward(dtype, grad, g, nullptr, logits, log_sum, target, args, vs);
       },
       ""},
  };

  for (const Version& v : versions) {
    if (!v.skip.empty()) {
      report.skipped(v.name, v.skip);
      continue;
    }
    b.grad.poison(gpu.stream);
    b.loss.poison(gpu.stream);
    b.log_sum.poison(gpu.stream);
    v.launch();
    const Check check = check_outputs<T>(gpu, b, pb, ranges, ref, rtol);
    if (!check.ok()) {
      report.failed(v.name, check.summary(false));
      continue;
    }
    report.row(v.name, v.impl, timer.time(v.launch), check.summary(false) + tolerance);
  }

#ifdef LAB_HAVE_CUDNN
  try {
    CudnnLogSoftmax log_softmax(gpu, dtype, pb);
    report.row("cuDNN log-softmax (nearest)", "cudnn", timer.time([&] { log_softmax(b.grad.as(), b.logits.as()); }),
               "time only: no cross-entropy in cuDNN; log-probs out, no loss or grad");
  } catch (const Failure& e) {
    report.skipped("cuDNN log-softmax (nearest)", e.what());
  }
#else
  report.skipped("cuDNN log-softmax (nearest)", "built without cuDNN");
#endif
  return report.failures();
}

}  // namespace

int main(int argc, char** argv) {
  return run_program("cross_entropy", [&] {
    Flags flags(argc, argv, kUsage);
    Problem pb;
    pb.rows = flags.integer("--rows", 8192);
    pb.classes = flags.integer("--classes", 32768);
    const std::string dtypes = flags.text("--dtype", "f32,bf16");
    const auto runs = static_cast<int>(flags.integer("--runs", 50));
    const auto warmup = static_cast<int>(flags.integer("--warmup", 5));
    const int64_t check_rows = flags.integer("--check-rows", 128);
    const std::string json = flags.text("--json", "");
    flags.finish();
    if (pb.rows <= 0 || pb.classes <= 0 || runs <= 0 || warmup < 0 || check_rows <= 0)
      throw Failure("--rows, --classes, --runs and --check-rows must be positive, --warmup not negative");
    if (pb.rows > INT32_MAX) throw Failure("--rows must fit a grid (at most 2^31 - 1)");
    return run_dtypes("cross_entropy", dtypes, warmup, runs, [&]<class T>(Gpu& gpu, Timer& timer, volt::DType dtype) {
      return run_cross_entropy<T>(gpu, timer, dtype, volt::dtype_name(dtype), pb, check_rows, json);
    });
  });
}
