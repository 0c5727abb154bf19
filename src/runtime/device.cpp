#include "runtime/device.h"

#include <dlfcn.h>
#include <fmt/format.h>
#include <torch/cuda.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <optional>

#include "runtime/torch_build.h"
#include "util/error.h"

namespace mechlens {
namespace {

// LibTorch registers its CUDA backend when libtorch_cuda is loaded. A wheel's CPU-libraries build
// does not link it (the binaries then need none of CUDA's libraries), so it is loaded here, once.
void load_cuda_backend(const std::string& what, const std::string& text) {
  const std::string library = MECHLENS_TORCH_CUDA_LIBRARY;
  if (dlopen("libtorch_cuda.so", RTLD_NOW | RTLD_NOLOAD) != nullptr) return;  // linked, or loaded before
  MECHLENS_CHECK(InputError, !library.empty(),
                 "{} {}: this build's LibTorch ({}) has no CUDA backend; build the LibTorch 2 flavour "
                 "(README, \"Build flavours\") to run on a GPU",
                 what, text, MECHLENS_TORCH_FLAVOUR);
  MECHLENS_CHECK(InputError, std::filesystem::exists(library),
                 "{} {}: LibTorch's CUDA backend {} is missing (was the wheel's torch/ folder moved?)", what, text,
                 library);
  if (dlopen(library.c_str(), RTLD_NOW | RTLD_GLOBAL) == nullptr) {
    const char* reason = dlerror();
    MECHLENS_FAIL(InputError,
                  "{} {}: cannot load LibTorch's CUDA backend {}: {}. It needs its wheel's CUDA libraries: build "
                  "against the torch/ folder of a `pip install torch` (which brings them; README, \"Build flavours\")",
                  what, text, library, reason ? reason : "unknown error");
  }
}

}  // namespace

torch::Device resolve_device(const std::string& text, const std::string& what, int local_rank) {
  if (text == "cpu") return torch::Device(torch::kCPU);
  const bool cuda = text == "cuda" || text.rfind("cuda:", 0) == 0;
  MECHLENS_CHECK(InputError, cuda, "{} '{}': expected cpu, cuda or cuda:N", what, text);
  std::optional<int64_t> index;  // unset: this rank's GPU
  if (text.rfind("cuda:", 0) == 0) {
    const std::string digits = text.substr(5);
    const bool number = !digits.empty() && digits.size() <= 4 && std::all_of(digits.begin(), digits.end(), [](char c) {
      return std::isdigit(static_cast<unsigned char>(c)) != 0;
    });
    MECHLENS_CHECK(InputError, number,
                   "{} '{}': the GPU index after 'cuda:' must be a number 0..9999 (cuda:0, cuda:1, ...)", what, text);
    index = std::stoll(digits);
  }
  load_cuda_backend(what, text);
  const int64_t count = static_cast<int64_t>(torch::cuda::device_count());
  MECHLENS_CHECK(InputError, count > 0,
                 "{} {}: no CUDA GPU is visible (check the driver with nvidia-smi, and CUDA_VISIBLE_DEVICES)", what,
                 text);
  if (!index) index = local_rank % count;
  MECHLENS_CHECK(InputError, *index < count, "{} {}: GPU {} does not exist; {} GPU{} visible (cuda:0..cuda:{})", what,
                 text, *index, count, count == 1 ? " is" : "s are", count - 1);
  return torch::Device(torch::kCUDA, static_cast<c10::DeviceIndex>(*index));
}

std::string torch_flavour() { return MECHLENS_TORCH_FLAVOUR; }

std::string cuda_backend() {
  const std::string library = MECHLENS_TORCH_CUDA_LIBRARY;
  return library.empty() ? "none in this flavour (CPU only)" : library + " (loaded by --device cuda)";
}

}  // namespace mechlens
