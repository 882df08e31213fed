# cmake --install: the libraries, the headers under include/volt/, voltConfig.cmake with its
# version file and the targets volt::volt (and, in a CUDA build, the component `cuda` with
# volt::cuda), and pkg-config files volt.pc (and volt-cuda.pc).
include(CMakePackageConfigHelpers)
set(VOLT_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/volt)

install(TARGETS volt EXPORT volt-targets ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR})
install(EXPORT volt-targets NAMESPACE volt:: DESTINATION ${VOLT_CMAKE_DIR})

# The public headers: every layer's, without the CPU kernels' internals and the CUDA files.
install(FILES volt.h DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/volt)
foreach(layer core kernels autograd nn data parallel train)
  install(DIRECTORY ${layer}/ DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/volt/${layer}
          FILES_MATCHING PATTERN "*.h"
          PATTERN cpu EXCLUDE PATTERN cuda EXCLUDE)
endforeach()

if(VOLT_WITH_CUDA)
  install(TARGETS volt_cuda volt_cuda_whole EXPORT volt-cuda-targets ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR})
  install(EXPORT volt-cuda-targets NAMESPACE volt:: DESTINATION ${VOLT_CMAKE_DIR})
  install(DIRECTORY core/cuda/ DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/volt/core/cuda FILES_MATCHING PATTERN "*.h")
endif()

configure_package_config_file(cmake/voltConfig.cmake.in ${PROJECT_BINARY_DIR}/voltConfig.cmake
                              INSTALL_DESTINATION ${VOLT_CMAKE_DIR})
write_basic_package_version_file(${PROJECT_BINARY_DIR}/voltConfigVersion.cmake COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/voltConfig.cmake ${PROJECT_BINARY_DIR}/voltConfigVersion.cmake
        DESTINATION ${VOLT_CMAKE_DIR})

file(RELATIVE_PATH VOLT_PC_TO_PREFIX /${CMAKE_INSTALL_LIBDIR}/pkgconfig /)
string(REGEX REPLACE "/$" "" VOLT_PC_TO_PREFIX "${VOLT_PC_TO_PREFIX}")
configure_file(cmake/volt.pc.in ${PROJECT_BINARY_DIR}/volt.pc @ONLY)
install(FILES ${PROJECT_BINARY_DIR}/volt.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
if(VOLT_WITH_CUDA)
  configure_file(cmake/volt-cuda.pc.in ${PROJECT_BINARY_DIR}/volt-cuda.pc @ONLY)
  install(FILES ${PROJECT_BINARY_DIR}/volt-cuda.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
endif()
