// Maps a runtime DType to a C++ type for templated code:
//   dispatch_floating(t, "relu", [&]<class T>() { ... });
// f16/bf16 are Eigen's half types on the CPU; arithmetic on them is done in float.
#pragma once

#include <Eigen/Core>

#include "volt/core/dtype.h"
#include "volt/core/error.h"

namespace volt {

using Half = Eigen::half;
using BFloat16 = Eigen::bfloat16;

// The type arithmetic happens in: float for the half types, the type itself otherwise.
template <class T>
struct AccType {
  using type = T;
};
template <>
struct AccType<Half> {
  using type = float;
};
template <>
struct AccType<BFloat16> {
  using type = float;
};
template <class T>
using acc_t = typename AccType<T>::type;

template <class F>
decltype(auto) dispatch_floating(DType t, const char* op, F&& f) {
  switch (t) {
    case DType::f32:
      return f.template operator()<float>();
    case DType::f64:
      return f.template operator()<double>();
    case DType::f16:
      return f.template operator()<Half>();
    case DType::bf16:
      return f.template operator()<BFloat16>();
    default:
      VOLT_FAIL(op, ": expected a floating dtype (f32, f64, f16, bf16), got ", t);
  }
}

template <class F>
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
      return dispatch_floating(t, op, std::forward<F>(f));
  }
}

}  // namespace volt
