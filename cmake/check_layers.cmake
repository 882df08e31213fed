# cmake -DROOT=<source dir> -P check_layers.cmake
#
# The layer rule of the design: a file includes only headers of its own layer and the layers
# below it, and only CUDA files include CUDA headers. Checks every .h/.cpp/.cu/.cuh of the
# library (tests, benchmarks and examples are users and may include anything) and fails
# naming each offending line. Allowed, per folder (the first that matches):
#   core/cuda     core, core/cuda                 kernels/cuda  core, core/cuda, kernels, kernels/cuda
#   core          core                            kernels       core, kernels
#   autograd      core, kernels, autograd         nn            core, kernels, autograd, nn
#   data          core, data                      parallel      core … nn, data, parallel
#   parallel/cuda core, core/cuda, kernels … parallel, parallel/cuda
#   train         core … parallel, train          volt.h        every layer but the CUDA ones
# kernels/cpu/ headers are the CPU kernels' own: only kernels/cpu/ includes them.
cmake_minimum_required(VERSION 3.25)
set(rules
    "core/cuda/|core core/cuda"
    "kernels/cuda/|core core/cuda kernels kernels/cuda"
    "core/|core"
    "kernels/cpu/|core kernels kernels/cpu"
    "kernels/|core kernels"
    "autograd/|core kernels autograd"
    "nn/|core kernels autograd nn"
    "data/|core data"
    "parallel/cuda/|core core/cuda kernels autograd nn data parallel parallel/cuda"
    "parallel/|core kernels autograd nn data parallel"
    "train/|core kernels autograd nn data parallel train"
    "volt.h|core kernels autograd nn data parallel train")

if(NOT ROOT)
  message(FATAL_ERROR "check_layers: pass -DROOT=<the source directory>")
endif()
file(GLOB_RECURSE files RELATIVE ${ROOT} ${ROOT}/core/* ${ROOT}/kernels/* ${ROOT}/autograd/* ${ROOT}/nn/*
     ${ROOT}/data/* ${ROOT}/parallel/* ${ROOT}/train/*)
list(APPEND files volt.h)
list(FILTER files INCLUDE REGEX "\\.(h|cpp|cu|cuh)$")

set(violations 0)
set(checked 0)
foreach(file IN LISTS files)
  set(allowed "")
  foreach(rule IN LISTS rules)
    string(REPLACE "|" ";" parts "${rule}")
    list(GET parts 0 prefix)
    list(GET parts 1 layers)
    string(FIND "${file}" "${prefix}" at)
    if(at EQUAL 0)
      string(REPLACE " " ";" allowed "${layers}")
      break()
    endif()
  endforeach()
  file(STRINGS ${ROOT}/${file} lines REGEX "^[ \t]*#[ \t]*include[ \t]*[\"<]")
  math(EXPR checked "${checked} + 1")
  foreach(line IN LISTS lines)
    if(line MATCHES "#[ \t]*include[ \t]*[\"<]\\.\\./")
      message("${file}: a relative include reaches outside its folder: ${line}")
      math(EXPR violations "${violations} + 1")
      continue()
    endif()
    if(NOT line MATCHES "#[ \t]*include[ \t]*[\"<]volt/([a-z_]+)(/cuda/|/cpu/|/)?")
      continue()
    endif()
    set(layer ${CMAKE_MATCH_1})
    if(CMAKE_MATCH_2 STREQUAL "/cuda/")
      set(layer ${layer}/cuda)
    elseif(CMAKE_MATCH_2 STREQUAL "/cpu/")
      set(layer ${layer}/cpu)
    endif()
    if(layer STREQUAL "volt.h" OR NOT layer IN_LIST allowed)
      string(REPLACE ";" ", " allowed_text "${allowed}")
      message("${file}: includes a header of '${layer}', above its layer or outside it (allowed: ${allowed_text}): ${line}")
      math(EXPR violations "${violations} + 1")
    endif()
  endforeach()
endforeach()

if(violations GREATER 0)
  message(FATAL_ERROR "check_layers: ${violations} include(s) break the layer rule")
endif()
message(STATUS "check_layers: ${checked} files follow the layer rule")
