// Loading checkpoints memory-mapped: tensors are views of the file (equal to a plain read), weights
// already in the wanted dtype stay views (no copy), writing a weight never writes the file, released
// pages read back unchanged, bfloat16 loading computes as the bfloat16 model does, and the memory check
// counts the dtype's bytes.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <filesystem>

#include "io/checkpoint.h"
#include "io/mapped_file.h"
#include "io/safetensors.h"
#include "test_util.h"
#include "util/error.h"

namespace mechlens {
namespace {

TEST(MappedLoadingTest, ViewsEqualAPlainReadAndWritesNeverReachTheFile) {
  testing::TestDir dir;
  HookedTransformer model(testing::tiny_config());
  save_checkpoint(model, dir.file("m.safetensors"));
  const SafetensorsFile read = read_safetensors(dir.file("m.safetensors"));
  const SafetensorsFile mapped = map_safetensors(dir.file("m.safetensors"));
  ASSERT_EQ(read.tensors.size(), mapped.tensors.size());
  for (size_t i = 0; i < read.tensors.size(); ++i) {
    EXPECT_EQ(read.tensors[i].first, mapped.tensors[i].first);
    EXPECT_TRUE(is_mapped_view(mapped.tensors[i].second)) << mapped.tensors[i].first;
    EXPECT_FALSE(is_mapped_view(read.tensors[i].second));
    EXPECT_TRUE(torch::equal(read.tensors[i].second, mapped.tensors[i].second)) << read.tensors[i].first;
  }

  HookedTransformer loaded = load_checkpoint(dir.file("m.safetensors"));
  torch::Tensor W_Q = loaded->named_parameters()["blocks.0.attn.W_Q"];
  EXPECT_TRUE(is_mapped_view(W_Q));  // float32 stored, float32 wanted: no copy
  const torch::Tensor original = W_Q.clone();
  {
    torch::NoGradGuard no_grad;
    W_Q.add_(1.0);  // copy-on-write: this process's page only
  }
  HookedTransformer again = load_checkpoint(dir.file("m.safetensors"));
  EXPECT_TRUE(torch::equal(again->named_parameters()["blocks.0.attn.W_Q"], original));
  // Released pages come back from the file when read again.
  const torch::Tensor W_E = again->named_parameters()["embed.W_E"];
  const torch::Tensor before = W_E.clone();
  release_mapped_pages(W_E);
  EXPECT_TRUE(torch::equal(W_E, before));
  // The model outlives the file's name: the mapping keeps the data.
  std::filesystem::remove(dir.file("m.safetensors"));
  const torch::Tensor tokens = testing::random_tokens(2, 6, model->config().d_vocab);
  torch::NoGradGuard no_grad;
  EXPECT_TRUE(torch::equal(again->forward(tokens), model->forward(tokens)));
}

TEST(MappedLoadingTest, BfloatSixteenWeightsLoadAsViewsAndComputeAsTheBfloatSixteenModel) {
  testing::TestDir dir;
  HookedTransformer model(testing::tiny_config());
  model->to(torch::kBFloat16);
  save_checkpoint(model, dir.file("bf16.safetensors"));
  LoadOptions bf16;
  bf16.dtype = torch::kBFloat16;
  HookedTransformer loaded = load_checkpoint(dir.file("bf16.safetensors"), bf16);
  for (const auto& item : loaded->named_parameters()) {
    EXPECT_EQ(item.value().scalar_type(), torch::kBFloat16) << item.key();
    EXPECT_TRUE(is_mapped_view(item.value())) << item.key();
  }
  torch::NoGradGuard no_grad;
  const torch::Tensor tokens = testing::random_tokens(2, 6, model->config().d_vocab);
  EXPECT_TRUE(torch::equal(loaded->forward(tokens), model->forward(tokens)));
  // float32 from the same file: converted copies, the values exactly the bfloat16 ones.
  HookedTransformer widened = load_checkpoint(dir.file("bf16.safetensors"));
  for (const auto& item : widened->named_parameters()) {
    EXPECT_EQ(item.value().scalar_type(), torch::kFloat32);
    EXPECT_FALSE(is_mapped_view(item.value())) << item.key();
    EXPECT_TRUE(torch::equal(item.value(), model->named_parameters()[item.key()].to(torch::kFloat32)));
  }
}

TEST(MappedLoadingTest, TheMemoryCheckCountsTheWeightsDtype) {
  const ModelConfig config = testing::tiny_config();
  const double three_bytes_each = config.parameter_count() * 3;
  EXPECT_TRUE(
      testing::throws_with<ConfigError>([&] { config.check_fits_in_memory(three_bytes_each, 4); }, "--model-dtype bf16"));
  EXPECT_NO_THROW(config.check_fits_in_memory(three_bytes_each, 2));
}

}  // namespace
}  // namespace mechlens
