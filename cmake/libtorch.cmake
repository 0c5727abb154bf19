# Which LibTorch mechlens builds against. By default Debian's LibTorch 1.13 (CPU only, from
# libtorch-dev). With -DMECHLENS_TORCH_DIR=<the torch/ folder of a PyTorch 2.x wheel>
# (scripts/setup_libtorch2.sh), LibTorch 2 as PyPI ships it: through its own CMake package when the
# CUDA toolkit is installed (a GPU machine), else its CPU libraries alone (libtorch_cpu, libc10; the
# wheel's CMake package insists on finding CUDA). Either way TORCH_LIBRARIES and TORCH_INCLUDE_DIRS
# are what the targets use.
set(MECHLENS_TORCH_DIR "" CACHE PATH "torch/ folder of a PyTorch 2.x wheel (LibTorch 2); empty: Debian's LibTorch")

# The library that holds LibTorch's CUDA backend, loaded when a command asks for --device cuda
# (runtime/device.cpp); empty where the flavour has none (Debian's LibTorch is CPU-only).
set(MECHLENS_TORCH_CUDA_LIBRARY "")
if(NOT MECHLENS_TORCH_DIR)
  find_package(Torch REQUIRED)
  set(MECHLENS_TORCH_FLAVOUR "Debian LibTorch ${Torch_VERSION}")
  return()
endif()

if(NOT EXISTS "${MECHLENS_TORCH_DIR}/include/torch/torch.h" AND NOT EXISTS
   "${MECHLENS_TORCH_DIR}/include/torch/csrc/api/include/torch/torch.h")
  message(FATAL_ERROR "MECHLENS_TORCH_DIR=${MECHLENS_TORCH_DIR} holds no LibTorch headers "
                      "(expected the torch/ folder of a wheel: scripts/setup_libtorch2.sh prints it)")
endif()
if(EXISTS "${MECHLENS_TORCH_DIR}/lib/libtorch_cuda.so")
  set(MECHLENS_TORCH_CUDA_LIBRARY "${MECHLENS_TORCH_DIR}/lib/libtorch_cuda.so")
endif()
find_package(CUDAToolkit QUIET)
if(CUDAToolkit_FOUND)
  list(APPEND CMAKE_PREFIX_PATH "${MECHLENS_TORCH_DIR}/share/cmake")
  find_package(Torch REQUIRED CONFIG)
  set(MECHLENS_TORCH_FLAVOUR "LibTorch ${Torch_VERSION} from ${MECHLENS_TORCH_DIR}, with CUDA")
  return()
endif()

# The CPU libraries alone; the CUDA backend is loaded at run time when a command asks for it, so the
# binaries start on machines without the wheel's CUDA libraries. The wheel is built with the C++11
# ABI, as Debian's libraries are.
add_library(mechlens_libtorch_cpu INTERFACE)
set(TORCH_INCLUDE_DIRS "${MECHLENS_TORCH_DIR}/include" "${MECHLENS_TORCH_DIR}/include/torch/csrc/api/include")
target_include_directories(mechlens_libtorch_cpu SYSTEM INTERFACE ${TORCH_INCLUDE_DIRS})
target_link_libraries(mechlens_libtorch_cpu INTERFACE "${MECHLENS_TORCH_DIR}/lib/libtorch_cpu.so"
                                                      "${MECHLENS_TORCH_DIR}/lib/libc10.so")
target_compile_definitions(mechlens_libtorch_cpu INTERFACE _GLIBCXX_USE_CXX11_ABI=1)
set(TORCH_LIBRARIES mechlens_libtorch_cpu)
# Executables find the wheel's libraries where they are (they find the CUDA runtime beside them).
set(CMAKE_BUILD_RPATH "${MECHLENS_TORCH_DIR}/lib")
set(MECHLENS_TORCH_FLAVOUR "LibTorch from ${MECHLENS_TORCH_DIR} (CPU libraries)")
