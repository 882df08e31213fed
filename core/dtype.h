// Element types. f16/bf16 are storage types: kernels load them, compute in float, store back.
#pragma once

#include <cstdint>
#include <ostream>
#include <string>

namespace volt {

enum class DType : uint8_t { f32, f64, f16, bf16, i32, i64, u8, boolean };

std::size_t itemsize(DType t);
const char* dtype_name(DType t);  // "f32", "f64", ... as printed in errors
bool is_floating(DType t);
bool is_integral(DType t);  // integer types and bool
bool is_half(DType t);      // f16 or bf16: storage types computed in f32
// The smallest dtype both convert to without losing their kind, as torch.promote_types: bool <
// integers < floating; u8 with i32 is i32; f16 with bf16 is f32; anything with f64 is f64.
DType promote_types(DType a, DType b);
std::ostream& operator<<(std::ostream& os, DType t);

}  // namespace volt
