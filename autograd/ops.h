// volt's ops as free functions. Each checks its inputs, allocates its output, calls the
// kernel for the tensors' device and, when a gradient is needed, records its backward.
// One file per family in autograd/ops/: both directions of an op are read in one place.
#pragma once

#include <initializer_list>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "volt/core/generator.h"
#include "volt/core/tensor.h"

namespace volt {

// --- creation (autograd/ops/factory.cpp; core/tensor.h has empty and from_blob) -------------
Tensor zeros(const Shape& shape, TensorOptions options = {});
Tensor ones(const Shape& shape, TensorOptions options = {});
Tensor full(const Shape& shape, double value, TensorOptions options = {});
Tensor arange(double start, double end, double step = 1.0, TensorOptions options = {});
Tensor arange(double end, TensorOptions options = {});
Tensor empty_like(const Tensor& t);
Tensor zeros_like(const Tensor& t);
Tensor ones_like(const Tensor& t);
Tensor full_like(const Tensor& t, double value);
Tensor rand_like(const Tensor& t, Generator* gen = nullptr);
Tensor randn_like(const Tensor& t, Generator* gen = nullptr);
// `steps` values from start to end inclusive, evenly spaced (PyTorch's, symmetric from both ends).
Tensor linspace(double start, double end, int64_t steps, TensorOptions options = {});
// i64 [..., num_classes] with a 1 at each target's class; num_classes -1: the largest target + 1.
Tensor one_hot(const Tensor& target, int64_t num_classes = -1);
// Copies `values` into a new tensor of `shape` (default: 1-D, as torch.tensor of a list; use
// reshape({}) or scalar_tensor for 0-dim); dtype from T unless the options name one.
template <class T>
Tensor tensor(const std::vector<T>& values, const Shape& shape = {}, TensorOptions options = {});
Tensor tensor(std::initializer_list<double> values, TensorOptions options = {});
// A matrix from nested braces, tensor({{0., 0.}, {0., 1.}}): rows of equal length (an error
// names the first that differs).
Tensor tensor(std::initializer_list<std::initializer_list<double>> rows, TensorOptions options = {});
Tensor scalar_tensor(double value, TensorOptions options = {});

// Random tensors from `gen` (the default generator when null): same (seed, offset), same values.
Tensor rand(const Shape& shape, TensorOptions options = {}, Generator* gen = nullptr);
Tensor randn(const Shape& shape, TensorOptions options = {}, Generator* gen = nullptr);
Tensor randint(int64_t low, int64_t high, const Shape& shape, TensorOptions options = DType::i64,
               Generator* gen = nullptr);
Tensor bernoulli(const Shape& shape, double p, TensorOptions options = {}, Generator* gen = nullptr);

// Prints as PyTorch does (autograd/print.cpp).
std::ostream& operator<<(std::ostream& os, const Tensor& t);

// --- elementwise (autograd/ops/elementwise.cpp); binary ops broadcast -------------------------
Tensor add(const Tensor& a, const Tensor& b, double alpha = 1.0);  // a + alpha*b
Tensor sub(const Tensor& a, const Tensor& b, double alpha = 1.0);  // a - alpha*b
Tensor mul(const Tensor& a, const Tensor& b);
Tensor div(const Tensor& a, const Tensor& b);
Tensor add(const Tensor& a, double s);
Tensor mul(const Tensor& a, double s);
Tensor neg(const Tensor& x);
Tensor exp(const Tensor& x);
Tensor log(const Tensor& x);
Tensor sqrt(const Tensor& x);
Tensor pow(const Tensor& x, double exponent);
Tensor tanh(const Tensor& x);
Tensor sigmoid(const Tensor& x);
Tensor relu(const Tensor& x);
Tensor abs(const Tensor& x);
Tensor log1p(const Tensor& x);
Tensor expm1(const Tensor& x);
Tensor square(const Tensor& x);  // x·x
Tensor sin(const Tensor& x);
Tensor cos(const Tensor& x);
// log(1 + exp(beta·x)) / beta, and x itself where beta·x > threshold (PyTorch's defaults).
Tensor softplus(const Tensor& x, double beta = 1.0, double threshold = 20.0);
// approximate: "none" (x·Φ(x), through erf) or "tanh" (the tanh approximation).
Tensor gelu(const Tensor& x, const std::string& approximate = "none");
Tensor silu(const Tensor& x);  // x·sigmoid(x)
Tensor leaky_relu(const Tensor& x, double negative_slope = 0.01);
// Elements below min become min, above max become max; a min above the max gives the max
// everywhere, NaN stays NaN. At least one bound. The gradient passes where min <= x <= max.
Tensor clamp(const Tensor& x, std::optional<double> min, std::optional<double> max = std::nullopt);
Tensor clamp_min(const Tensor& x, double min);
Tensor clamp_max(const Tensor& x, double max);

// The dtype a binary op of a and b computes in, as PyTorch's: torch.promote_types of the two,
// except that a 0-dim tensor decides only when it is of a higher kind (bool < integer <
// floating) than a dimensioned one. add, sub, mul, div, the comparisons and where convert both
// operands to it (and div of integers to f32); gradients come back in each input's dtype.
DType result_type(const Tensor& a, const Tensor& b);
Tensor operator+(const Tensor& a, const Tensor& b);
Tensor operator-(const Tensor& a, const Tensor& b);
Tensor operator*(const Tensor& a, const Tensor& b);
Tensor operator/(const Tensor& a, const Tensor& b);
Tensor operator+(const Tensor& a, double s);
Tensor operator+(double s, const Tensor& a);
Tensor operator-(const Tensor& a, double s);
Tensor operator-(double s, const Tensor& a);
Tensor operator*(const Tensor& a, double s);
Tensor operator*(double s, const Tensor& a);
Tensor operator/(const Tensor& a, double s);
Tensor operator/(double s, const Tensor& a);

// Comparisons: bool tensors, not differentiable.
Tensor eq(const Tensor& a, const Tensor& b);
Tensor ne(const Tensor& a, const Tensor& b);
Tensor lt(const Tensor& a, const Tensor& b);
Tensor le(const Tensor& a, const Tensor& b);
Tensor gt(const Tensor& a, const Tensor& b);
Tensor ge(const Tensor& a, const Tensor& b);
// Against a scalar, taken in a's dtype (as PyTorch's x > 0.5).
Tensor eq(const Tensor& a, double s);
Tensor ne(const Tensor& a, double s);
Tensor lt(const Tensor& a, double s);
Tensor le(const Tensor& a, double s);
Tensor gt(const Tensor& a, double s);
Tensor ge(const Tensor& a, double s);
// x < y, x > 0.5, 0.5 <= x, ...: the comparisons above. (== and != are left to eq and ne, so
// that comparing two Tensor handles never silently builds a tensor.)
Tensor operator<(const Tensor& a, const Tensor& b);
Tensor operator<=(const Tensor& a, const Tensor& b);
Tensor operator>(const Tensor& a, const Tensor& b);
Tensor operator>=(const Tensor& a, const Tensor& b);
Tensor operator<(const Tensor& a, double s);
Tensor operator<=(const Tensor& a, double s);
Tensor operator>(const Tensor& a, double s);
Tensor operator>=(const Tensor& a, double s);
Tensor operator<(double s, const Tensor& a);
Tensor operator<=(double s, const Tensor& a);
Tensor operator>(double s, const Tensor& a);
Tensor operator>=(double s, const Tensor& a);

// b where cond is true, else c (cond bool; the three broadcast); the gradient goes to the
// branch each element took.
Tensor where(const Tensor& cond, const Tensor& b, const Tensor& c);
// x with value where mask is true (mask broadcasts to x).
Tensor masked_fill(const Tensor& x, const Tensor& mask, double value);
// Bool tensors, not differentiable.
Tensor isnan(const Tensor& x);
Tensor isinf(const Tensor& x);
Tensor isfinite(const Tensor& x);
// |a - b| <= atol + rtol·|b| everywhere (NaN equal to NaN only with equal_nan): one host read.
bool allclose(const Tensor& a, const Tensor& b, double rtol = 1e-5, double atol = 1e-8, bool equal_nan = false);

// --- shape and copies (autograd/ops/shape.cpp) --------------------------------------------
Tensor cat(const std::vector<Tensor>& tensors, int64_t dim = 0);
Tensor stack(const std::vector<Tensor>& tensors, int64_t dim = 0);
// Sums `grad` over broadcast dims so it has `shape` (the backward of broadcasting).
Tensor sum_to(const Tensor& grad, const Shape& shape);

// --- reductions (autograd/ops/reduction.cpp) ----------------------------------------------
Tensor sum(const Tensor& x, const DimList& dims = {}, bool keepdim = false);  // {}: all
Tensor mean(const Tensor& x, const DimList& dims = {}, bool keepdim = false);
MaxResult max(const Tensor& x, int64_t dim, bool keepdim = false);
Tensor argmax(const Tensor& x, int64_t dim, bool keepdim = false);
MaxResult min(const Tensor& x, int64_t dim, bool keepdim = false);  // (values, indices)
Tensor argmin(const Tensor& x, int64_t dim, bool keepdim = false);
// The largest (smallest) element over dims ({}: all); the gradient goes to the element max(dim)
// picks, the first of ties.
Tensor amax(const Tensor& x, const DimList& dims = {}, bool keepdim = false);
Tensor amin(const Tensor& x, const DimList& dims = {}, bool keepdim = false);
// log Σ exp(x) over dims, shifted by the max so it does not overflow.
Tensor logsumexp(const Tensor& x, const DimList& dims, bool keepdim = false);
// Σ (x - mean)² / (N - correction) over dims; correction 1 is Bessel's (PyTorch's default).
Tensor var(const Tensor& x, const DimList& dims = {}, int64_t correction = 1, bool keepdim = false);
Tensor std(const Tensor& x, const DimList& dims = {}, int64_t correction = 1, bool keepdim = false);
// The p-norm over dims ({}: all): (Σ|x|^p)^(1/p); p may be infinity (the largest |x|). The
// 2-norm's gradient x/‖x‖ is 0 where the norm is 0, as PyTorch's.
Tensor norm(const Tensor& x, double p = 2.0, const DimList& dims = {}, bool keepdim = false);

// --- indexing (autograd/ops/index.cpp) -----------------------------------------------------
// Indices are i64; on the CPU one out of range is an error, on a GPU see kernels/index.h.
// out[..., j, ...] = x[..., index[..., j, ...], ...] along dim: index has x's number of dims and
// is no larger than x in the others; the output has the index's shape.
Tensor gather(const Tensor& x, int64_t dim, const Tensor& index);
// self with src[..., j, ...] added at self[..., index[..., j, ...], ...] along dim (duplicates
// add up, in order): index matches self in every other dim and is no larger than src.
Tensor scatter_add(const Tensor& self, int64_t dim, const Tensor& index, const Tensor& src);
// The slices of x at a 1-D index along dim.
Tensor index_select(const Tensor& x, int64_t dim, const Tensor& index);
// self with alpha·source's slice j added at slice index[j] along dim (duplicates add up).
Tensor index_add(const Tensor& self, int64_t dim, const Tensor& index, const Tensor& source, double alpha = 1.0);
// Rows of weight [num_embeddings, embedding_dim] at the indices (any shape): [..., embedding_dim].
// padding_idx's rows pass no gradient to the weight.
Tensor embedding(const Tensor& weight, const Tensor& indices, std::optional<int64_t> padding_idx = std::nullopt);

// --- normalisation (autograd/ops/normalization.cpp) ---------------------------------------
// (x - mean) / sqrt(var + eps) over the trailing normalized_shape dims (var biased), then
// ·weight + bias where given (each of normalized_shape).
Tensor layer_norm(const Tensor& x, const Shape& normalized_shape, const Tensor& weight = Tensor(),
                  const Tensor& bias = Tensor(), double eps = 1e-5);

// --- matrix products (autograd/ops/matmul.cpp) --------------------------------------------
// 1-D·1-D, 2-D·2-D, and batched with broadcast batch dims, as torch.matmul.
Tensor matmul(const Tensor& a, const Tensor& b);
Tensor mm(const Tensor& a, const Tensor& b);   // [m, k]·[k, n]
Tensor bmm(const Tensor& a, const Tensor& b);  // [B, m, k]·[B, k, n]
// x·Wᵀ + b for x [..., in], weight [out, in], bias [out] (may be undefined).
Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias = Tensor());
// relu(linear(x, weight, bias)) fused: one kernel forward (cuBLASLt's ReLU epilogue on a GPU),
// its backward reading a bit mask of the positive outputs.
Tensor linear_relu(const Tensor& x, const Tensor& weight, const Tensor& bias = Tensor());
// "highest" (default): f32 products in full f32. "high": on a GPU they may use TF32 tensor
// cores. The CPU always computes in full precision.
void set_matmul_precision(const std::string& precision);
std::string get_matmul_precision();

// --- softmax and losses (autograd/ops/softmax.cpp, loss.cpp) ------------------------------
Tensor softmax(const Tensor& x, int64_t dim);
Tensor log_softmax(const Tensor& x, int64_t dim);

enum class Reduction { none, mean, sum };
struct CrossEntropyOptions {
  Reduction reduction = Reduction::mean;
  int64_t ignore_index = -100;
  double label_smoothing = 0.0;
};
// logits [N, C] (or [C]), target i64 class indices [N] (or []), PyTorch semantics: the mean is
// over non-ignored targets.
Tensor cross_entropy(const Tensor& logits, const Tensor& target, const CrossEntropyOptions& options = {});
// The elementwise losses (autograd/ops/loss.cpp), as torch.nn.functional's: input and target of
// one shape and floating dtype; reduction none (the per-element losses), mean or sum.
// (input - target)²
Tensor mse_loss(const Tensor& input, const Tensor& target, Reduction reduction = Reduction::mean);
// |input - target|
Tensor l1_loss(const Tensor& input, const Tensor& target, Reduction reduction = Reduction::mean);
// 0.5·d²/beta where |d| < beta, |d| - 0.5·beta elsewhere (d = input - target); beta 0 is l1.
Tensor smooth_l1_loss(const Tensor& input, const Tensor& target, Reduction reduction = Reduction::mean,
                      double beta = 1.0);
// -weight·(t·log p + (1 - t)·log(1 - p)), each log clamped at -100 as PyTorch does; p in [0, 1]
// (on the CPU, a value outside is an error). weight (optional) broadcasts to the input.
Tensor binary_cross_entropy(const Tensor& input, const Tensor& target, const Tensor& weight = Tensor(),
                            Reduction reduction = Reduction::mean);
// -weight[t]·log_probs[i, t] for each row i and its target t (log_probs [N, C] or [C]); rows whose
// target is ignore_index count for nothing; mean divides by the targets' total weight. On the
// CPU a target outside [0, C) is an error. weight (optional): one per class.
Tensor nll_loss(const Tensor& log_probs, const Tensor& target, const Tensor& weight = Tensor(),
                Reduction reduction = Reduction::mean, int64_t ignore_index = -100);
// Σ target·(log target - input) elementwise (0 where target is 0), input being log-probabilities;
// log_target: the target is given as log-probabilities too, exp(t)·(t - input). For PyTorch's
// "batchmean", take sum and divide by the batch size.
Tensor kl_div(const Tensor& input, const Tensor& target, Reduction reduction = Reduction::mean,
              bool log_target = false);
// The same from logits x, stably: (1 - t)·x + (1 + (pos_weight - 1)·t)·softplus(-x), times weight.
Tensor binary_cross_entropy_with_logits(const Tensor& input, const Tensor& target, const Tensor& weight = Tensor(),
                                        Reduction reduction = Reduction::mean, const Tensor& pos_weight = Tensor());

// --- dropout (autograd/ops/dropout.cpp) ---------------------------------------------------
// In training, zeroes each element with probability p and scales the rest by 1/(1-p); the
// mask comes from `gen` (default generator when null). Identity when !training or p == 0.
Tensor dropout(const Tensor& x, double p, bool training, Generator* gen = nullptr);

}  // namespace volt
