// The message of the volt::Error that a call throws, for EXPECT_THAT(..., HasSubstr(...)).
#pragma once

#include <functional>
#include <string>

#include "volt/core/error.h"

namespace volt::test {

// what() of the volt::Error thrown by f; a marker no expected message contains if it throws
// none (any other exception propagates and fails the test).
inline std::string error_message(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "<no volt::Error thrown>";
}

}  // namespace volt::test
