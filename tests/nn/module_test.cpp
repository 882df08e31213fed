// nn::Module: naming, modes, conversions and state dicts; the layers' behaviour and init.
#include <gtest/gtest.h>

#include <cmath>
#include <string>

#include "test_support.h"
#include "volt/volt.h"

namespace volt::nn {
namespace {

using volt::testing::error_of;

// The main job's network, under the attribute names PyTorch's version would use.
struct Net : Module {
  std::shared_ptr<Linear> fc1 = register_module("fc1", std::make_shared<Linear>(6, 4));
  std::shared_ptr<Dropout> drop = register_module("drop", std::make_shared<Dropout>(0.5));
  std::shared_ptr<Linear> fc2 = register_module("fc2", std::make_shared<Linear>(4, 3));
  Tensor forward(const Tensor& x) override { return (*fc2)(drop->forward(relu((*fc1)(x)))); }
};

TEST(Module, NamedParametersUseDottedNamesInRegistrationOrder) {
  Net net;
  std::vector<std::string> names;
  for (const auto& [name, t] : net.named_parameters())
    names.push_back(name);
  EXPECT_EQ(names, (std::vector<std::string>{"fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"}));
  EXPECT_EQ(net.parameters().size(), 4u);
  EXPECT_EQ(net.parameters(false).size(), 0u);
  EXPECT_EQ(net.fc1->weight.shape(), (Shape{4, 6}));
  for (const Tensor& p : net.parameters())
    EXPECT_TRUE(p.requires_grad());
}

TEST(Module, SequentialNamesChildrenByIndex) {
  Sequential seq{std::make_shared<Flatten>(), std::make_shared<Linear>(4, 2), std::make_shared<ReLU>()};
  std::vector<std::string> names;
  for (const auto& [name, t] : seq.named_parameters())
    names.push_back(name);
  EXPECT_EQ(names, (std::vector<std::string>{"1.weight", "1.bias"}));
  EXPECT_EQ(seq(ones({3, 2, 2})).shape(), (Shape{3, 2}));
}

TEST(Module, DuplicateOrDottedNamesAreRejected) {
  struct Bad : Module {
    void add(const std::string& n) { register_parameter(n, zeros({1})); }
  } m;
  m.add("w");
  EXPECT_NE(error_of([&] { m.add("w"); }).find("already registered"), std::string::npos);
  EXPECT_NE(error_of([&] { m.add("a.b"); }).find("invalid name"), std::string::npos);
}

TEST(Module, TrainAndEvalReachChildrenAndSwitchDropout) {
  Net net;
  EXPECT_TRUE(net.drop->is_training());
  net.eval();
  EXPECT_FALSE(net.is_training());
  EXPECT_FALSE(net.drop->is_training());
  const Tensor x = ones({8, 4});
  EXPECT_TRUE(net.drop->forward(x).is_same(x));  // identity in eval
  net.train();
  const auto kept = net.drop->forward(x).to_vector<float>();
  for (float v : kept)
    EXPECT_TRUE(v == 0.0f || v == 2.0f);
}

TEST(Module, LinearInitialisationBoundsFollowPyTorch) {
  Generator gen(1);
  Linear fc(400, 50, true, &gen);
  const double bound = 1.0 / std::sqrt(400.0);
  const auto w = fc.weight.to_vector<float>();
  const auto b = fc.bias.to_vector<float>();
  float wmax = 0, bmax = 0;
  for (float v : w)
    wmax = std::max(wmax, std::abs(v));
  for (float v : b)
    bmax = std::max(bmax, std::abs(v));
  EXPECT_LE(wmax, bound);
  EXPECT_GT(wmax, 0.95 * bound);  // 20000 uniform draws reach close to the edge
  EXPECT_LE(bmax, bound);
  Generator same(1);
  Linear again(400, 50, true, &same);
  EXPECT_EQ(again.weight.to_vector<float>(), w);
}

TEST(Module, LinearForwardMatchesTheFormula) {
  Linear fc(3, 2);
  const Tensor x = tensor({1.0, 2.0, 3.0}).reshape({1, 3});
  const auto w = fc.weight.to_vector<float>();
  const auto b = fc.bias.to_vector<float>();
  const auto y = fc(x).to_vector<float>();
  for (int o = 0; o < 2; ++o)
    EXPECT_NEAR(y[o], b[o] + w[o * 3] * 1 + w[o * 3 + 1] * 2 + w[o * 3 + 2] * 3, 1e-6);
  EXPECT_NE(error_of([&] { fc(ones({2, 4})); }).find("[2, 4]"), std::string::npos);
}

TEST(Module, StateDictSharesMemoryAndLoadsBack) {
  Net a, b;
  StateDict sd = a.state_dict();
  ASSERT_EQ(sd.size(), 4u);
  EXPECT_EQ(sd.at("fc1.weight").data_ptr(), a.fc1->weight.data_ptr());
  b.load_state_dict(sd);
  for (const auto& [name, t] : b.named_parameters())
    EXPECT_EQ(t.to_vector<float>(), sd.at(name).to_vector<float>()) << name;
  EXPECT_NE(b.fc1->weight.data_ptr(), a.fc1->weight.data_ptr());  // copied, not aliased
}

TEST(Module, LoadStateDictReportsEveryProblem) {
  Net net;
  StateDict sd = net.state_dict();
  sd.erase("fc2.bias");
  sd["fc1.weight"] = zeros({5, 6});
  sd["extra.weight"] = zeros({1});
  const std::string msg = error_of([&] { net.load_state_dict(sd); });
  EXPECT_NE(msg.find("missing key: fc2.bias"), std::string::npos) << msg;
  EXPECT_NE(msg.find("unexpected key: extra.weight"), std::string::npos) << msg;
  EXPECT_NE(msg.find("size mismatch for fc1.weight"), std::string::npos) << msg;
  EXPECT_NE(msg.find("[5, 6]"), std::string::npos) << msg;
  // Non-strict ignores missing and unexpected keys but never a wrong shape.
  sd["fc1.weight"] = zeros({4, 6});
  net.load_state_dict(sd, false);
  EXPECT_EQ(net.fc1->weight.to_vector<float>(), std::vector<float>(24, 0.0f));
}

TEST(Module, ToDtypeKeepsHandlesValid) {
  Net net;
  Tensor w = net.fc1->weight;  // a handle an optimizer would hold
  const auto before = w.to_vector<double>();
  net.to(DType::f64);
  EXPECT_EQ(w.dtype(), DType::f64);
  EXPECT_EQ(w.to_vector<double>(), before);
  EXPECT_THROW(net.to(DType::i32), Error);
  EXPECT_THROW(net.to(Device::cuda(0)), Error);  // no CUDA backend in this build
}

TEST(Module, ZeroGradDropsOrZeroes) {
  Net net;
  net.eval();
  sum(net(ones({2, 6}))).backward();
  ASSERT_TRUE(net.fc1->weight.grad().defined());
  net.zero_grad(false);
  EXPECT_EQ(net.fc1->weight.grad().to_vector<float>(), std::vector<float>(24, 0.0f));
  net.zero_grad();
  EXPECT_FALSE(net.fc1->weight.grad().defined());
}

TEST(Init, KaimingAndXavierBounds) {
  Generator gen(5);
  Tensor w = empty({64, 32});
  init::kaiming_uniform_(w, 0.0, init::FanMode::fan_in, "relu", &gen);
  const double kb = std::sqrt(2.0) * std::sqrt(3.0 / 32.0);
  for (float v : w.to_vector<float>())
    EXPECT_LE(std::abs(v), kb);
  init::xavier_uniform_(w, 1.0, &gen);
  const double xb = std::sqrt(6.0 / 96.0);
  for (float v : w.to_vector<float>())
    EXPECT_LE(std::abs(v), xb);
  init::zeros_(w);
  EXPECT_EQ(w.to_vector<float>(), std::vector<float>(64 * 32, 0.0f));
  EXPECT_DOUBLE_EQ(init::calculate_gain("leaky_relu", std::sqrt(5.0)), std::sqrt(1.0 / 3.0));
  Tensor v = empty({3});
  EXPECT_THROW(init::kaiming_uniform_(v), Error);
}

TEST(CrossEntropyLossModule, MatchesFunctional) {
  CrossEntropyLoss loss({Reduction::sum});
  const Tensor logits = tensor({1.0, 2.0, 0.5, -1.0}).reshape({2, 2});
  const Tensor target = tensor(std::vector<int64_t>{1, 0});
  EXPECT_FLOAT_EQ(loss(logits, target).item<float>(),
                  functional::cross_entropy(logits, target, {Reduction::sum}).item<float>());
  EXPECT_THROW(loss.Module::forward(logits), Error);
}

}  // namespace
}  // namespace volt::nn

namespace volt::nn {
namespace {

// Each activation module computes its functional form with the module's options; Identity is
// the input itself; the loss modules call their functions with their reduction.
TEST(ActivationModules, MatchTheirFunctions) {
  const Tensor x = tensor({-2.0, -0.5, 0.0, 0.75, 3.0});
  const auto same = [](const Tensor& a, const Tensor& b) { return a.to_vector<float>() == b.to_vector<float>(); };
  EXPECT_TRUE(same(LeakyReLU(0.2)(x), leaky_relu(x, 0.2)));
  EXPECT_TRUE(same(LeakyReLU()(x), leaky_relu(x, 0.01)));
  EXPECT_TRUE(same(GELU()(x), gelu(x)));
  EXPECT_TRUE(same(GELU("tanh")(x), gelu(x, "tanh")));
  EXPECT_FALSE(same(GELU("tanh")(x), gelu(x)));
  EXPECT_TRUE(same(SiLU()(x), silu(x)));
  EXPECT_TRUE(same(Softplus(2.0, 1.0)(x), softplus(x, 2.0, 1.0)));
  EXPECT_TRUE(same(Tanh()(x), tanh(x)));
  EXPECT_TRUE(same(Sigmoid()(x), sigmoid(x)));
  EXPECT_TRUE(same(Softmax(0)(x), softmax(x, 0)));
  EXPECT_TRUE(same(LogSoftmax(0)(x), log_softmax(x, 0)));
  Identity identity;
  EXPECT_EQ(identity(x).data_ptr(), x.data_ptr());
  EXPECT_THROW(GELU("fast")(x), Error);

  const Tensor y = tensor({0.0, 0.0, 0.5, 1.0, 2.0});
  EXPECT_FLOAT_EQ(MSELoss(Reduction::sum)(x, y).item<float>(), mse_loss(x, y, Reduction::sum).item<float>());
  EXPECT_FLOAT_EQ(L1Loss()(x, y).item<float>(), l1_loss(x, y).item<float>());
  EXPECT_FLOAT_EQ(SmoothL1Loss(Reduction::mean, 0.5)(x, y).item<float>(),
                  smooth_l1_loss(x, y, Reduction::mean, 0.5).item<float>());
  const Tensor p = sigmoid(x);
  EXPECT_FLOAT_EQ(BCELoss()(p, sigmoid(y)).item<float>(), binary_cross_entropy(p, sigmoid(y)).item<float>());
  EXPECT_NEAR(BCEWithLogitsLoss()(x, sigmoid(y)).item<float>(), BCELoss()(p, sigmoid(y)).item<float>(), 1e-6);
  MSELoss mse;
  EXPECT_THROW(mse.Module::forward(x), Error);
}

TEST(Embedding, LooksUpRowsAndPaddingGetsNoGradient) {
  manual_seed(3);
  Embedding emb(5, 2, /*padding_idx=*/-1);  // wraps to 4
  EXPECT_EQ(*emb.padding_idx, 4);
  EXPECT_EQ(emb.weight.select(0, 4).to_vector<double>(), (std::vector<double>{0.0, 0.0}));
  {
    NoGradGuard no_grad;
    emb.weight.select(0, 4).fill_(7.0);  // the padding row's values still come out
  }
  const Tensor idx = tensor(std::vector<int64_t>{1, 4, 1, 0}, {2, 2});
  const Tensor out = emb(idx);
  ASSERT_EQ(out.shape(), (Shape{2, 2, 2}));
  const auto w = emb.weight.to_vector<double>();
  const auto o = out.to_vector<double>();
  const int64_t rows[] = {1, 4, 1, 0};
  for (int r = 0; r < 4; ++r)
    for (int c = 0; c < 2; ++c)
      EXPECT_EQ(o[static_cast<std::size_t>(r * 2 + c)], w[static_cast<std::size_t>(rows[r] * 2 + c)]);
  sum(mul(out, 2.0)).backward();
  // Row 1 is looked up twice, row 0 once, rows 2 and 3 never, row 4 is padding.
  EXPECT_EQ(emb.weight.grad().to_vector<double>(),
            (std::vector<double>{2.0, 2.0, 4.0, 4.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0}));
  EXPECT_NE(error_of([&] { emb(tensor(std::vector<int64_t>{5})); }).find("index 5 at flat position 0 is out of range"),
            std::string::npos);
  EXPECT_NE(error_of([&] { emb(tensor({1.0})); }).find("the index must be an i64 tensor"), std::string::npos);
  EXPECT_THROW(Embedding(3, 2, 3), Error);
}

TEST(LayerNorm, NormalisesTheTrailingDimsAndLearnsAnAffine) {
  LayerNorm ln(Shape{3});
  EXPECT_EQ(ln.parameters().size(), 2u);
  EXPECT_EQ(ln.weight.to_vector<double>(), (std::vector<double>{1.0, 1.0, 1.0}));
  const Tensor x = tensor({{1.0, 2.0, 6.0}, {-1.0, -1.0, 2.0}});
  const auto y = ln(x).to_vector<double>();
  for (int r = 0; r < 2; ++r) {
    double mu = 0, var = 0;
    for (int c = 0; c < 3; ++c)
      mu += y[static_cast<std::size_t>(r * 3 + c)] / 3;
    for (int c = 0; c < 3; ++c)
      var += std::pow(y[static_cast<std::size_t>(r * 3 + c)] - mu, 2) / 3;
    EXPECT_NEAR(mu, 0.0, 1e-6);
    EXPECT_NEAR(var, 1.0, 1e-4);  // eps 1e-5 shrinks it a little
  }
  EXPECT_EQ(LayerNorm(Shape{3}, 1e-5, false).parameters().size(), 0u);
  EXPECT_EQ(LayerNorm(Shape{3}, 1e-5, true, false).parameters().size(), 1u);
  EXPECT_NE(error_of([&] { ln(tensor({1.0, 2.0})); }).find("does not end in normalized_shape [3]"), std::string::npos);
}

TEST(Clone, SharesParametersByDefaultAndCopiesTheStructure) {
  Generator gen(1);
  Sequential net{std::make_shared<Linear>(3, 4, true, &gen), std::make_shared<ReLU>(), std::make_shared<Dropout>(0.25),
                 std::make_shared<LayerNorm>(Shape{4}), std::make_shared<Linear>(4, 2, false, &gen)};
  net.named_children()[2].second->eval();  // a child's own mode survives the copy
  const uint64_t offset = gen.offset();
  const auto copy = net.clone();
  EXPECT_EQ(gen.offset(), offset);  // nothing re-initialised
  ASSERT_EQ(copy->named_children().size(), 5u);
  for (std::size_t i = 0; i < 5; ++i) {
    EXPECT_NE(copy->named_children()[i].second.get(), net.named_children()[i].second.get());
    EXPECT_EQ(copy->named_children()[i].second->is_training(), net.named_children()[i].second->is_training());
  }
  const auto ours = net.named_parameters(), theirs = copy->named_parameters();
  ASSERT_EQ(ours.size(), theirs.size());
  for (std::size_t i = 0; i < ours.size(); ++i) {
    EXPECT_EQ(ours[i].first, theirs[i].first);
    EXPECT_TRUE(ours[i].second.is_same(theirs[i].second));
  }
  const Tensor x = randn({5, 3});
  net.eval(), copy->eval();
  EXPECT_EQ(net(x).to_vector<float>(), (*copy)(x).to_vector<float>());
}

TEST(Clone, MapReplacesEveryParameterAndTheLayersComputeWithIt) {
  Linear fc(3, 2);
  const auto copy = std::dynamic_pointer_cast<Linear>(fc.clone([](const Tensor& t) { return t * 2.0; }));
  ASSERT_NE(copy, nullptr);
  EXPECT_EQ(copy->weight.to_vector<float>(), (fc.weight * 2.0).to_vector<float>());
  EXPECT_TRUE(copy->weight.is_same(copy->parameters()[0]));  // the member is the registered one
  const Tensor x = randn({4, 3});
  EXPECT_EQ((*copy)(x).to_vector<float>(), linear(x, fc.weight * 2.0, fc.bias * 2.0).to_vector<float>());
  // The copies are differentiable: a backward through the clone reaches the original.
  (*copy)(x).sum().backward();
  ASSERT_TRUE(fc.weight.grad().defined());
  EXPECT_EQ(fc.weight.grad().to_vector<float>(), (x.sum(0).expand({2, 3}) * 2.0).to_vector<float>());
}

struct Custom : Module {
  std::shared_ptr<Linear> fc = register_module("fc", std::make_shared<Linear>(2, 2));
  Tensor forward(const Tensor& x) override { return (*fc)(x); }
};

struct CustomWithClone : Custom {
  std::shared_ptr<Module> clone(const TensorMap& map = {}) const override {
    auto copy = clone_as(*this, map);
    copy->fc = copy->registered_module<Linear>("fc");
    return copy;
  }
};

TEST(Clone, AModuleOfYourOwnMustImplementIt) {
  Custom custom;
  EXPECT_NE(
      error_of([&] { custom.clone(); }).find("volt::nn::(anonymous namespace)::Custom does not implement clone()"),
      std::string::npos)
      << error_of([&] { custom.clone(); });
  CustomWithClone with;
  const auto copy = std::dynamic_pointer_cast<CustomWithClone>(with.clone());
  ASSERT_NE(copy, nullptr);
  EXPECT_NE(copy->fc.get(), with.fc.get());
  EXPECT_EQ(copy->fc.get(), copy->named_children()[0].second.get());
  EXPECT_TRUE(copy->fc->weight.is_same(with.fc->weight));
}

}  // namespace
}  // namespace volt::nn
