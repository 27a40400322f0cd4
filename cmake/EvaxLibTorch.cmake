# The LibTorch the node is built against. Two flavours:
# - Debian's LibTorch 1.13 (CPU only), found by default;
# - the CUDA LibTorch of PyPI's torch wheel (scripts/build.sh --cuda): EVAX_LIBTORCH_DIR names its
#   `torch` package folder (site-packages/torch). The wheel keeps its CUDA libraries beside it
#   (site-packages/nvidia/*/lib); they are used instead of the CUDA toolkit's, which has the same
#   sonames at other versions.
# Sets EVAX_LIBTORCH_CUDA (ON when LibTorch has CUDA) and writes evax_build_config.h.

set(EVAX_LIBTORCH_DIR "" CACHE PATH "The torch package folder of a PyPI torch wheel (the CUDA flavour); empty: Debian's LibTorch")

if(EVAX_LIBTORCH_DIR)
  if(NOT EXISTS "${EVAX_LIBTORCH_DIR}/share/cmake/Torch/TorchConfig.cmake")
    message(FATAL_ERROR "EVAX_LIBTORCH_DIR=${EVAX_LIBTORCH_DIR} holds no share/cmake/Torch (run scripts/install-libtorch-cuda.sh)")
  endif()
  # <dir> first so that find_library() takes <dir>/lib before Debian's libtorch in /usr/lib.
  list(PREPEND CMAKE_PREFIX_PATH "${EVAX_LIBTORCH_DIR}" "${EVAX_LIBTORCH_DIR}/share/cmake")
  get_filename_component(evax_site_packages "${EVAX_LIBTORCH_DIR}" DIRECTORY)
  file(GLOB evax_wheel_cuda_lib_dirs LIST_DIRECTORIES true "${evax_site_packages}/nvidia/cu[0-9]*/lib")
  foreach(dir IN LISTS evax_wheel_cuda_lib_dirs)
    # FindCUDAToolkit keeps a cache value it is given: the wheel's runtime and NVRTC, not the toolkit's.
    file(GLOB cudart "${dir}/libcudart.so.[0-9]*")
    file(GLOB nvrtc "${dir}/libnvrtc.so.[0-9]*")
    if(cudart AND nvrtc)
      set(CUDA_cudart_LIBRARY "${cudart}" CACHE FILEPATH "CUDA runtime of the torch wheel")
      set(CUDA_nvrtc_LIBRARY "${nvrtc}" CACHE FILEPATH "NVRTC of the torch wheel")
    endif()
  endforeach()
  # The node compiles no CUDA code of its own; naming the architectures (A100, H100/H200) keeps
  # Caffe2's configure from probing for a GPU.
  set(TORCH_CUDA_ARCH_LIST "8.0;9.0")
  # Only what the node calls is recorded as needed; LibTorch's own RPATH finds the rest of the
  # wheel's CUDA libraries.
  add_link_options(LINKER:--as-needed)
endif()

find_package(Torch REQUIRED)

set(EVAX_LIBTORCH_CUDA OFF)
if(TARGET torch_cuda OR TORCH_CUDA_LIBRARIES)
  set(EVAX_LIBTORCH_CUDA ON)
endif()
get_filename_component(EVAX_LIBTORCH_LIB_DIR "${TORCH_LIBRARY}" DIRECTORY)
if(EVAX_LIBTORCH_CUDA)
  find_library(EVAX_LIBTORCH_CUDA_LIBRARY torch_cuda PATHS "${EVAX_LIBTORCH_LIB_DIR}" NO_DEFAULT_PATH REQUIRED)
  message(STATUS "evax: LibTorch ${Torch_VERSION} with CUDA, linking ${EVAX_LIBTORCH_CUDA_LIBRARY}")
else()
  message(STATUS "evax: LibTorch ${Torch_VERSION}, CPU only (${TORCH_LIBRARY})")
endif()

# CUDA graphs (batch-1 latency) where the LibTorch has CUDA.
option(EVAX_CUDA_GRAPHS "Capture small-batch forwards as CUDA graphs when LibTorch has CUDA" ON)
set(EVAX_WITH_CUDA_GRAPHS 0)
if(EVAX_CUDA_GRAPHS AND EVAX_LIBTORCH_CUDA)
  set(EVAX_WITH_CUDA_GRAPHS 1)
endif()
if(EVAX_LIBTORCH_CUDA)
  set(EVAX_LIBTORCH_WITH_CUDA 1)
else()
  set(EVAX_LIBTORCH_WITH_CUDA 0)
endif()
# One header rather than per-target definitions: the inference tests reuse the module's
# precompiled header, which is only valid under the same definitions.
configure_file("${PROJECT_SOURCE_DIR}/inference/src/evax_build_config.h.in"
               "${PROJECT_BINARY_DIR}/inference/generated/evax_build_config.h" @ONLY)
