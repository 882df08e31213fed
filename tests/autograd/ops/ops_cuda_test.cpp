// Every op through the public API on CUDA against the CPU reference: outputs and gradients
// for the same inputs, in f32 (and f16/bf16 where the op takes them), odd sizes included.
#include <functional>

#include "cuda_test_support.h"
#include "test_support.h"

namespace volt {
namespace {

using Fn = std::function<Tensor(const std::vector<Tensor>&)>;

struct Case {
  std::string name;
  std::vector<Shape> shapes;
  Fn fn;
  std::vector<DType> dtypes = {DType::f32};
};
void PrintTo(const Case& c, std::ostream* os) { *os << c.name; }

const Device kGpu = Device::cuda(0);

// Runs fn on leaves made from `host` on `device`; returns the output and each input's gradient
// for the loss sum(out * weights).
std::vector<Tensor> run_on(const Case& c, const std::vector<Tensor>& host, Device device) {
  std::vector<Tensor> inputs;
  for (const Tensor& h : host) {
    Tensor x = h.to(device).detach();
    if (is_floating(x.dtype())) x.requires_grad_(true);
    inputs.push_back(x);
  }
  Tensor out = c.fn(inputs);
  std::vector<Tensor> results{out.detach().to(Device::cpu())};
  if (out.requires_grad()) {
    Generator gen(11);
    const Tensor weights = rand(out.shape(), DType::f32, &gen).to(out.dtype()).to(device);
    sum(mul(out, weights)).to(DType::f32).backward();
    for (const Tensor& x : inputs)
      if (x.requires_grad()) results.push_back(x.grad().defined() ? x.grad().to(Device::cpu()) : Tensor());
  }
  return results;
}

class CudaOps : public ::testing::TestWithParam<Case> {};

TEST_P(CudaOps, MatchCpu) {
  VOLT_REQUIRE_CUDA();
  const Case& c = GetParam();
  for (DType dtype : c.dtypes) {
    std::vector<Tensor> host;
    for (std::size_t i = 0; i < c.shapes.size(); ++i) {
      Generator gen(1 + i);
      host.push_back(randn(c.shapes[i], DType::f32, &gen).to(dtype));
    }
    const auto expected = run_on(c, host, Device::cpu());
    const auto actual = run_on(c, host, kGpu);
    ASSERT_EQ(actual.size(), expected.size());
    for (std::size_t k = 0; k < expected.size(); ++k) {
      if (!expected[k].defined()) continue;
      EXPECT_TRUE(testing::all_close(actual[k], expected[k], testing::agreement_tolerance(dtype)))
          << c.name << " " << dtype_name(dtype) << (k == 0 ? " output" : " gradient " + std::to_string(k - 1));
    }
  }
}

Tensor labels(int64_t n, int64_t classes) {
  Generator gen(5);
  return randint(0, classes, {n}, DType::i64, &gen);
}

std::vector<Case> cases() {
  const std::vector<DType> all_float = {DType::f32, DType::f16, DType::bf16};
  std::vector<Case> list = {
      {"add_broadcast", {{3, 1, 5}, {4, 5}}, [](auto& x) { return add(x[0], x[1]); }, all_float},
      {"sub_mul_div", {{6, 7}, {7}}, [](auto& x) { return div(mul(sub(x[0], x[1]), x[0]), add(abs(x[1]), 1.0)); }},
      {"unary_chain",
       {{1023}},
       [](auto& x) { return tanh(sigmoid(exp(x[0]) * 0.5) + sqrt(abs(x[0]) + 1.0)); },
       all_float},
      {"relu", {{65537}}, [](auto& x) { return relu(x[0]); }, all_float},
      {"transposed_input", {{7, 9}}, [](auto& x) { return relu(x[0].t()) * 2.0; }},
      {"pow_log", {{33}}, [](auto& x) { return log(pow(abs(x[0]) + 0.5, 2.5)); }},
      {"sum_dims",
       {{4, 5, 6}},
       [](auto& x) {
         return sum(x[0], {0, 2}, true);
       }},
      {"sum_all_large", {{65537}}, [](auto& x) { return sum(x[0]); }},
      {"mean_rows", {{7, 1023}}, [](auto& x) { return mean(x[0], {1}); }},
      {"max_dim", {{5, 7}}, [](auto& x) { return max(x[0], 1).values; }},
      {"softmax", {{8, 10}}, [](auto& x) { return softmax(x[0], 1); }, all_float},
      {"log_softmax_dim0", {{9, 4}}, [](auto& x) { return log_softmax(x[0], 0); }},
      {"matmul", {{7, 9}, {9, 5}}, [](auto& x) { return matmul(x[0], x[1]); }, all_float},
      {"matmul_batched", {{2, 3, 4}, {4, 5}}, [](auto& x) { return matmul(x[0], x[1]); }},
      {"linear", {{64, 784}, {100, 784}, {100}}, [](auto& x) { return linear(x[0], x[1], x[2]); }, all_float},
      {"linear_odd", {{1, 7}, {3, 7}, {3}}, [](auto& x) { return linear(x[0], x[1], x[2]); }},
      {"cross_entropy", {{64, 10}}, [](auto& x) { return cross_entropy(x[0], labels(64, 10).to(x[0].device())); }},
      {"cross_entropy_options",
       {{7, 5}},
       [](auto& x) {
         Tensor t = tensor(std::vector<int64_t>{1, -100, 4, 0, 2, -100, 3}).to(x[0].device());
         return cross_entropy(x[0], t, {Reduction::mean, -100, 0.1});
       }},
      {"cross_entropy_sum",
       {{1023, 3}},
       [](auto& x) { return cross_entropy(x[0], labels(1023, 3).to(x[0].device()), {Reduction::sum}); }},
      {"dropout_same_mask",
       {{7, 1023}},
       [](auto& x) {
         Generator gen(3);
         return dropout(x[0], 0.5, true, &gen);
       },
       all_float},
      {"cat_stack",
       {{2, 3}, {4, 3}},
       [](auto& x) {
         return stack({cat({x[0], x[1]}, 0), cat({x[1], x[0]}, 0)}, 1);
       }},
      {"views",
       {{4, 6}},
       [](auto& x) {
         return x[0].view({2, 12}).narrow(1, 3, 5).expand({3, 2, 5}).contiguous() * 3.0;
       }},
      {"empty", {{0, 5}}, [](auto& x) { return relu(x[0]) + 1.0; }},
  };
  return list;
}

INSTANTIATE_TEST_SUITE_P(Ops, CudaOps, ::testing::ValuesIn(cases()), [](const auto& info) { return info.param.name; });

TEST(CudaOps, ArgmaxAndAccuracyOnTheDevice) {
  VOLT_REQUIRE_CUDA();
  const Tensor logits = randn({1000, 10});
  const Tensor y = labels(1000, 10);
  const Tensor correct_cpu = sum(eq(argmax(logits, 1), y));
  const Tensor correct_gpu = sum(eq(argmax(logits.to(kGpu), 1), y.to(kGpu)));
  EXPECT_EQ(correct_gpu.device(), kGpu);
  EXPECT_EQ(correct_gpu.item<int64_t>(), correct_cpu.item<int64_t>());
}

TEST(CudaOps, RandomTensorsMatchTheCpuStream) {
  VOLT_REQUIRE_CUDA();
  for (DType t : {DType::f32, DType::f64}) {
    Generator a(9), b(9);
    EXPECT_EQ(rand({1027}, TensorOptions(t).device(kGpu), &a).to_vector<double>(),
              rand({1027}, TensorOptions(t), &b).to_vector<double>());
    EXPECT_EQ(a.offset(), b.offset());
  }
  Generator a(4), b(4);
  EXPECT_EQ(randint(-3, 1000, {777}, TensorOptions(DType::i64).device(kGpu), &a).to_vector<int64_t>(),
            randint(-3, 1000, {777}, DType::i64, &b).to_vector<int64_t>());
}

// The fused optimizer kernels against the CPU optimizers, several steps, lr changed in between.
template <class Opt, class Options>
void expect_same_training(Options options) {
  Generator gen(2);
  const Tensor init = randn({37, 5}, {}, &gen);
  std::vector<Tensor> grads;
  for (int s = 0; s < 4; ++s)
    grads.push_back(randn({37, 5}, {}, &gen));
  Tensor p_cpu = init.clone().requires_grad_(true);
  Tensor p_gpu = init.to(kGpu).detach().requires_grad_(true);
  Opt cpu_opt({p_cpu}, options), gpu_opt({p_gpu}, options);
  for (int s = 0; s < 4; ++s) {
    if (s == 2) {
      cpu_opt.set_lr(options.lr * 0.5);
      gpu_opt.set_lr(options.lr * 0.5);
    }
    p_cpu.set_grad(grads[s]);
    p_gpu.set_grad(grads[s].to(kGpu));
    cpu_opt.step();
    gpu_opt.step();
  }
  EXPECT_TRUE(testing::all_close(p_gpu, p_cpu, 1e-5));
  EXPECT_EQ(gpu_opt.step_count(), 4);
}

TEST(CudaOptim, FusedStepsMatchTheCpu) {
  VOLT_REQUIRE_CUDA();
  expect_same_training<optim::SGD>(optim::SGDOptions{.lr = 0.1});
  expect_same_training<optim::SGD>(
      optim::SGDOptions{.lr = 0.1, .momentum = 0.9, .dampening = 0.1, .weight_decay = 1e-2});
  expect_same_training<optim::SGD>(optim::SGDOptions{.lr = 0.1, .momentum = 0.9, .nesterov = true});
  expect_same_training<optim::Adam>(optim::AdamOptions{.lr = 1e-2, .weight_decay = 1e-2});
  expect_same_training<optim::AdamW>(optim::adamw_defaults());
}

}  // namespace
}  // namespace volt
