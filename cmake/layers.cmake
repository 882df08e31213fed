# volt_layer(NAME [DIR dir] [DEPENDS layer...] [LINK target...] [PRIVATE_LINK target...])
#
# One layer of the library (core, kernels, autograd, nn, data, parallel, train; and the CUDA backend's):
# an object library of the .cpp/.cu files under DIR (default NAME, without cuda/ subfolders
# unless DIR is one). Its headers are staged as volt/<dir>/ under build/layers/<name>/ (a
# symbolic link to the source folder), and a layer's include path holds its own stage and those
# of the layers it DEPENDS on, transitively: `#include "volt/nn/module.h"` from core/ does not
# compile. tests/layers_test (a CTest, scripts-free: cmake -P) checks every file's includes
# against the same order, headers and CUDA files included.
set(VOLT_LAYERS "")
set(VOLT_UMBRELLA_INCLUDE_DIR ${PROJECT_BINARY_DIR}/layers/umbrella)
file(MAKE_DIRECTORY ${VOLT_UMBRELLA_INCLUDE_DIR}/volt)
file(CREATE_LINK ${PROJECT_SOURCE_DIR}/volt.h ${VOLT_UMBRELLA_INCLUDE_DIR}/volt/volt.h SYMBOLIC)

# Messages (VOLT_CHECK's __FILE__) name files from the repository root, not the build machine's
# paths: both the source tree and the staging links are mapped away.
add_compile_options("$<$<COMPILE_LANGUAGE:CXX>:-fmacro-prefix-map=${PROJECT_SOURCE_DIR}/=>"
                    "$<$<COMPILE_LANGUAGE:CUDA>:-Xcompiler=-fmacro-prefix-map=${PROJECT_SOURCE_DIR}/=>")
foreach(stage core kernels autograd nn data parallel train umbrella)
  add_compile_options("$<$<COMPILE_LANGUAGE:CXX>:-fmacro-prefix-map=${PROJECT_BINARY_DIR}/layers/${stage}/volt/=>"
                      "$<$<COMPILE_LANGUAGE:CUDA>:-Xcompiler=-fmacro-prefix-map=${PROJECT_BINARY_DIR}/layers/${stage}/volt/=>")
endforeach()

function(volt_layer name)
  cmake_parse_arguments(L "" "DIR" "DEPENDS;LINK;PRIVATE_LINK" ${ARGN})
  if(NOT L_DIR)
    set(L_DIR ${name})
  endif()
  file(GLOB_RECURSE sources CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/${L_DIR}/*.cpp ${PROJECT_SOURCE_DIR}/${L_DIR}/*.cu)
  if(NOT L_DIR MATCHES "cuda")
    list(FILTER sources EXCLUDE REGEX "/cuda/")
  endif()
  add_library(volt_${name} OBJECT ${sources})
  if(NOT L_DIR MATCHES "/")  # a top-level folder gets its own stage; core/cuda lives in core's
    set(stage ${PROJECT_BINARY_DIR}/layers/${name})
    file(MAKE_DIRECTORY ${stage}/volt)
    file(CREATE_LINK ${PROJECT_SOURCE_DIR}/${L_DIR} ${stage}/volt/${L_DIR} SYMBOLIC)
    target_include_directories(volt_${name} PUBLIC $<BUILD_INTERFACE:${stage}>)
    set(VOLT_LAYERS ${VOLT_LAYERS} ${name} PARENT_SCOPE)
  endif()
  foreach(dep IN LISTS L_DEPENDS)
    target_link_libraries(volt_${name} PUBLIC volt_${dep})
  endforeach()
  target_link_libraries(volt_${name} PUBLIC ${L_LINK} PRIVATE ${L_PRIVATE_LINK})
  target_compile_features(volt_${name} PUBLIC cxx_std_20)
  set_target_properties(volt_${name} PROPERTIES POSITION_INDEPENDENT_CODE ON)
endfunction()
