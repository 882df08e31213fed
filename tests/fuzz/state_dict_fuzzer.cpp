// libFuzzer target for loading weights: the input as a safetensors file, loaded into a small
// fixed module with load_state_dict, strict and not. The module has the shape of a real one:
// Linear layers in a Sequential (floating parameters) and an integer buffer beside them, as
// BatchNorm's num_batches_tracked is, so that dtype conversions into both kinds are reached.
//
// A volt::Error is the expected outcome for bad input; anything else is a finding: a crash, a
// sanitizer report, an exception of another type (std::terminate), or a broken invariant
// (abort): a load that fails must leave the module as it was, a strict load that succeeds
// must succeed non-strict too, and a load that succeeds must leave each loaded value in place.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>

#include "volt/autograd/ops.h"
#include "volt/core/error.h"
#include "volt/core/generator.h"
#include "volt/nn/modules.h"
#include "volt/nn/serialize.h"

namespace {

using namespace volt;

[[noreturn]] void broken(const char* what, const std::string& detail = "") {
  std::fprintf(stderr, "state_dict_fuzzer: invariant broken: %s %s\n", what, detail.c_str());
  std::abort();
}

// body.0.weight [3, 4], body.0.bias [3], body.2.weight [2, 3] (f32); steps [] (i64).
struct Net : nn::Module {
  explicit Net(Generator* gen)
      : body(register_module("body", std::make_shared<nn::Sequential>(std::initializer_list<std::shared_ptr<Module>>{
                                         std::make_shared<nn::Linear>(4, 3, true, gen), std::make_shared<nn::ReLU>(),
                                         std::make_shared<nn::Linear>(3, 2, false, gen)}))) {
    register_buffer("steps", zeros({}, TensorOptions(DType::i64)));
  }
  std::shared_ptr<nn::Sequential> body;
};

bool same_bytes(const Tensor& a, const Tensor& b) {
  return a.dtype() == b.dtype() && a.shape() == b.shape() &&
         (a.nbytes() == 0 || std::memcmp(a.data_ptr(), b.data_ptr(), a.nbytes()) == 0);
}

// A deep copy of the module's values, to compare after a load.
nn::StateDict snapshot(const Net& net) {
  nn::StateDict out;
  for (const auto& [name, t] : net.state_dict())
    out[name] = t.clone();
  return out;
}

void load_into_fresh_module(const nn::StateDict& state, bool strict, bool& loaded) {
  Generator gen(7);
  Net net(&gen);
  const nn::StateDict before = snapshot(net);
  try {
    net.load_state_dict(state, strict);
    loaded = true;
  } catch (const Error&) {
    loaded = false;
  }
  const nn::StateDict after = net.state_dict();
  for (const auto& [name, t] : after) {
    const auto given = state.find(name);
    if (!loaded || given == state.end()) {
      if (!same_bytes(t, before.at(name)))
        broken(loaded ? "an entry not in the file changed" : "a failed load wrote", name);
      continue;
    }
    // What the module holds is the file's value converted to the module's dtype.
    if (t.dtype() != before.at(name).dtype() || t.shape() != before.at(name).shape())
      broken("a load changed a tensor's dtype or shape", name);
    if (!same_bytes(t, given->second.to(t.dtype()))) broken("a loaded value is not the file's", name);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
  nn::StateDict state;
  try {
    state = nn::load_safetensors_from_string(std::string_view(reinterpret_cast<const char*>(data), size));
  } catch (const Error&) {
    return 0;
  }
  bool strict_loaded = false, loose_loaded = false;
  load_into_fresh_module(state, true, strict_loaded);
  load_into_fresh_module(state, false, loose_loaded);
  if (strict_loaded && !loose_loaded) broken("a strict load succeeded where a non-strict one failed");
  return 0;
}
