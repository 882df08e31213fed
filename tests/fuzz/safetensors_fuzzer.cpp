// libFuzzer target for the safetensors reader: the input as a file held in memory. What loads
// must save and load again to the same tensors and metadata (save and load agree on the format).
//
// A volt::Error is the expected outcome for bad input; anything else is a finding: a crash, a
// sanitizer report, an exception of another type (std::terminate), a broken invariant (abort).
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>

#include "volt/core/error.h"
#include "volt/nn/serialize.h"

namespace {

[[noreturn]] void broken(const char* what, const std::string& detail = "") {
  std::fprintf(stderr, "safetensors_fuzzer: invariant broken: %s %s\n", what, detail.c_str());
  std::abort();
}

bool same_tensor(const volt::Tensor& a, const volt::Tensor& b) {
  return a.dtype() == b.dtype() && a.shape() == b.shape() && a.nbytes() == b.nbytes() &&
         (a.nbytes() == 0 || std::memcmp(a.data_ptr(), b.data_ptr(), a.nbytes()) == 0);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  volt::nn::Metadata metadata;
  volt::nn::StateDict tensors;
  try {
    tensors = volt::nn::load_safetensors_from_string(bytes, &metadata);
  } catch (const volt::Error&) {
    return 0;
  }
  for (const auto& [name, t] : tensors) {
    if (!t.defined() || !t.is_contiguous() || t.requires_grad()) broken("a loaded tensor is not plain", name);
    if (t.dtype() == volt::DType::boolean)
      for (std::size_t i = 0; i < t.nbytes(); ++i)
        if (static_cast<const uint8_t*>(t.data_ptr())[i] > 1) broken("a BOOL byte other than 0 or 1", name);
  }
  // Anything volt loads, volt saves, and reads back unchanged.
  std::string saved;
  try {
    saved = volt::nn::save_safetensors_to_string(tensors, metadata);
  } catch (const volt::Error& e) {
    broken("a loaded file cannot be saved again:", e.what());
  }
  volt::nn::Metadata metadata2;
  volt::nn::StateDict tensors2;
  try {
    tensors2 = volt::nn::load_safetensors_from_string(saved, &metadata2);
  } catch (const volt::Error& e) {
    broken("a saved file does not load:", e.what());
  }
  if (metadata2 != metadata) broken("metadata changed in a save and load");
  if (tensors2.size() != tensors.size()) broken("tensor count changed in a save and load");
  for (auto a = tensors.begin(), b = tensors2.begin(); a != tensors.end(); ++a, ++b)
    if (a->first != b->first || !same_tensor(a->second, b->second))
      broken("a tensor changed in a save and load", a->first);
  return 0;
}
