// Device selection: what --device accepts, and the clear errors where a GPU cannot be used.
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cstdlib>
#include <string>

#include "runtime/device.h"
#include "test_util.h"
#include "util/error.h"

namespace mechlens {
namespace {

TEST(DeviceTest, CpuIsTheCpu) { EXPECT_EQ(resolve_device("cpu"), torch::Device(torch::kCPU)); }

TEST(DeviceTest, UnknownDevicesNameTheChoices) {
  for (const char* text : {"gpu", "CPU", "cuda0", "", "mps"}) {
    EXPECT_TRUE(testing::throws_with<InputError>([&] { resolve_device(text); }, "expected cpu, cuda or cuda:N"))
        << text;
  }
  for (const char* text : {"cuda:", "cuda:x", "cuda:-1", "cuda:1.5", "cuda:99999"}) {
    EXPECT_TRUE(testing::throws_with<InputError>(
        [&] { resolve_device(text, "--where"); },
        fmt::format("--where '{}': the GPU index after 'cuda:' must be a number", text)))
        << text;
  }
}

// Where this build or machine cannot run on a GPU, asking for one says why and how to get one;
// where it can, the device is the GPU asked for. MECHLENS_EXPECT_GPU=1 (scripts/check_gpu.sh, on a
// GPU machine) turns a refusal into a failure.
TEST(DeviceTest, CudaIsAGpuOrAClearRefusal) {
  const char* expect_gpu = std::getenv("MECHLENS_EXPECT_GPU");
  const bool gpu_expected = expect_gpu != nullptr && std::string(expect_gpu) == "1";
  try {
    const torch::Device device = resolve_device("cuda:0");
    EXPECT_TRUE(device.is_cuda());
    EXPECT_EQ(device.index(), 0);
    EXPECT_TRUE(testing::throws_with<InputError>([&] { resolve_device("cuda:9999"); }, "GPU 9999 does not exist"));
  } catch (const InputError& e) {
    const std::string message = e.what();
    EXPECT_FALSE(gpu_expected) << "a GPU was expected: " << message;
    if (torch_flavour().find("Debian") != std::string::npos) {
      EXPECT_NE(message.find("--device cuda:0: this build's LibTorch (Debian LibTorch"), std::string::npos) << message;
      EXPECT_NE(message.find("build the LibTorch 2 flavour"), std::string::npos) << message;
    } else {
      EXPECT_TRUE(message.find("cannot load LibTorch's CUDA backend") != std::string::npos ||
                  message.find("no CUDA GPU is visible") != std::string::npos)
          << message;
    }
  }
}

}  // namespace
}  // namespace mechlens
