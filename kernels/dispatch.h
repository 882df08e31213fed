// The two dispatches every op goes through, one of each for every op and every device:
//
//   launch(kernels::unary, x.device(), args...)   the device: runs the CPU function, or its CUDA
//                                                 twin with that device current and its stream
//   dispatch_floating<Types>(dtype, op, f)        the dtype: f.operator()<T>() with T the storage
//                                                 type (the CPU and CUDA kernels name their own
//                                                 half types through Types)
//
// A kernel family's header (elementwise.h, reduce.h, ...) declares its kernels' CPU and CUDA
// entry points and one Kernel table per kernel. The CPU function is in the table from the
// start; the CUDA twin is plugged in by the volt_cuda library when it is linked into a program.
// Both take the same arguments, the Stream last (the CPU runs in order and ignores it).
#pragma once

#include <cstdint>
#include <type_traits>
#include <utility>

#include "volt/core/device.h"
#include "volt/core/device_backend.h"
#include "volt/core/dtype.h"
#include "volt/core/error.h"
#include "volt/core/host_device.h"
#include "volt/core/stream.h"

namespace volt::kernels {

template <class Fn>
struct Kernel;

template <class... Args>
struct Kernel<void(Args...)> {
  using Fn = void(Args...);
  const char* name;
  Fn* cpu;
  Fn* cuda = nullptr;  // set by volt_cuda's static initialisers
};

// Runs kernel `k` on `device`: the CPU function, or the CUDA twin with `device` current and
// its current stream. The op layer has checked the arguments and that the device is usable.
template <class... Args, class... A>
void launch(const Kernel<void(Args...)>& k, Device device, A&&... args) {
  if (device.is_cpu()) return k.cpu(std::forward<A>(args)..., Stream{});
  VOLT_CHECK(k.cuda != nullptr, k.name, ": no CUDA kernel is linked into this program (link volt::cuda)");
  const DeviceGuard guard(device);
  k.cuda(std::forward<A>(args)..., current_stream(device));
}

// The storage types of the floating dtypes, for dispatch_floating: the CPU kernels use Eigen's
// half types, the CUDA kernels CUDA's (the same bit layouts).
//   struct Types { using f16 = ...; using bf16 = ...; };
template <class Types, class F>
decltype(auto) dispatch_floating(DType t, const char* op, F&& f) {
  switch (t) {
    case DType::f32:
      return f.template operator()<float>();
    case DType::f64:
      return f.template operator()<double>();
    case DType::f16:
      return f.template operator()<typename Types::f16>();
    case DType::bf16:
      return f.template operator()<typename Types::bf16>();
    default:
      VOLT_FAIL(op, ": expected a floating dtype (f32, f64, f16, bf16), got ", t);
  }
}

// Every dtype: the floating ones as above, then i32, i64, u8 and bool.
template <class Types, class F>
decltype(auto) dispatch_all(DType t, const char* op, F&& f) {
  switch (t) {
    case DType::i32:
      return f.template operator()<int32_t>();
    case DType::i64:
      return f.template operator()<int64_t>();
    case DType::u8:
      return f.template operator()<uint8_t>();
    case DType::boolean:
      return f.template operator()<bool>();
    default:
      return dispatch_floating<Types>(t, op, std::forward<F>(f));
  }
}

// Calls f(std::integral_constant<E, K>{}) for the K among Ks equal to k, so each op compiles to
// its own loop with only its own math (one switching loop would give relu the registers of pow).
template <class E, E... Ks, class F>
void with_kind(E k, F&& f) {
  const bool found = ((k == Ks && (f(std::integral_constant<E, Ks>{}), true)) || ...);
  VOLT_CHECK(found, "kernel: op ", static_cast<int>(k), " is not handled here");
}

}  // namespace volt::kernels
