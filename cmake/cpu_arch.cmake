# CPU instruction set. x86-64-v3 (AVX2 + FMA) makes Eigen's GEMM about 3x faster than the
# baseline; it is chosen when the building host can run it, so binaries still start anywhere
# the build does. -DVOLT_CPU_ARCH=native (or an empty value for the compiler's default) overrides.
# Only volt's own targets get the flag; nothing in volt's headers depends on it.
if(NOT DEFINED VOLT_CPU_ARCH)
  set(arch "")
  if(CMAKE_SYSTEM_PROCESSOR MATCHES "x86_64|AMD64")
    include(CheckCXXSourceRuns)
    set(CMAKE_REQUIRED_FLAGS "-march=x86-64-v3")
    check_cxx_source_runs("int main() { __builtin_cpu_init(); return __builtin_cpu_supports(\"avx2\") && __builtin_cpu_supports(\"fma\") ? 0 : 1; }"
                          VOLT_HOST_HAS_X86_64_V3)
    unset(CMAKE_REQUIRED_FLAGS)
    if(VOLT_HOST_HAS_X86_64_V3)
      set(arch "x86-64-v3")
    endif()
  endif()
  set(VOLT_CPU_ARCH "${arch}" CACHE STRING "Value for -march= (empty: the compiler's default)")
endif()
if(VOLT_CPU_ARCH)
  add_compile_options($<$<COMPILE_LANGUAGE:CXX>:-march=${VOLT_CPU_ARCH}>)
endif()
message(STATUS "volt: CPU architecture: ${VOLT_CPU_ARCH}")
