// Linked with core's objects only (tests/CMakeLists.txt): core compiles and links without the
// layers above it. Exits non-zero unless core's own API behaves.
#include <cstdio>

#include "volt/core/device_backend.h"
#include "volt/core/error.h"
#include "volt/core/generator.h"
#include "volt/core/tensor.h"

int main() {
  using namespace volt;
  Tensor t = empty({2, 3}, DType::f32);
  float* p = t.data_ptr<float>();
  for (int i = 0; i < 6; ++i)
    p[i] = static_cast<float>(i);
  const Tensor d = t.detach();
  const bool ok_meta = t.numel() == 6 && t.dim() == 2 && t.is_contiguous() && d.data_ptr() == t.data_ptr() &&
                       describe(t) == "f32[2, 3] on cpu";
  Generator gen(7);
  const bool ok_gen = gen.reserve(3) == 0 && gen.offset() == 3;
  bool ok_errors = false;
  try {
    (void)Tensor().numel();
  } catch (const Error&) {
    ok_errors = !cuda::is_available();  // no CUDA backend is linked into this program
  }
  if (!(ok_meta && ok_gen && ok_errors)) {
    std::printf("core alone: failed (metadata %d, generator %d, errors %d)\n", ok_meta, ok_gen, ok_errors);
    return 1;
  }
  std::printf("core alone: ok\n");
  return 0;
}
