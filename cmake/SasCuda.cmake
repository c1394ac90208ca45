# SAS_CUDA = AUTO|ON|OFF -> SAS_WITH_CUDA (ON when the CUDA kernels are built).
# Architectures: sm_80, sm_86, sm_89 as SASS only, sm_90 as SASS + PTX (compute_90, JIT for newer GPUs).
# The CUDA runtime is linked statically, so libsas_kernels.so loads on hosts without a driver.
string(TOUPPER "${SAS_CUDA}" _sas_cuda_mode)
set(SAS_WITH_CUDA OFF)
if(NOT _sas_cuda_mode MATCHES "^(AUTO|ON|OFF)$")
  message(FATAL_ERROR "SAS_CUDA must be AUTO, ON or OFF (got '${SAS_CUDA}')")
endif()

if(NOT _sas_cuda_mode STREQUAL "OFF")
  if(NOT DEFINED CMAKE_CUDA_ARCHITECTURES OR CMAKE_CUDA_ARCHITECTURES STREQUAL "")
    set(CMAKE_CUDA_ARCHITECTURES "80-real;86-real;89-real;90")
  endif()
  include(CheckLanguage)
  check_language(CUDA)
  if(CMAKE_CUDA_COMPILER)
    enable_language(CUDA)
    set(SAS_WITH_CUDA ON)
  elseif(_sas_cuda_mode STREQUAL "ON")
    message(FATAL_ERROR "SAS_CUDA=ON but no working CUDA compiler (nvcc) was found; "
                        "put nvcc on the PATH or set CMAKE_CUDA_COMPILER, or use -DSAS_CUDA=OFF")
  else()
    message(STATUS "SAS_CUDA=AUTO: nvcc not found, building the CPU kernels only")
  endif()
endif()

if(SAS_WITH_CUDA)
  set(CMAKE_CUDA_STANDARD 17)
  set(CMAKE_CUDA_STANDARD_REQUIRED ON)
  set(CMAKE_CUDA_RUNTIME_LIBRARY Static)
  find_package(CUDAToolkit REQUIRED)
  # Device-side warnings are errors; host-side code compiled by nvcc gets the gcc warnings too.
  set(SAS_CUDA_FLAGS
      -Werror all-warnings
      -Xcompiler=-Wall,-Wextra,-Werror,-Wno-unused-parameter
      -lineinfo
      $<$<CONFIG:Release,RelWithDebInfo>:-O3>)
  message(STATUS "CUDA ${CMAKE_CUDA_COMPILER_VERSION}: architectures ${CMAKE_CUDA_ARCHITECTURES}, static runtime")
endif()
