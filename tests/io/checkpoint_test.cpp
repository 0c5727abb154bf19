#include "io/checkpoint.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <filesystem>

#include <nlohmann/json.hpp>

#include "test_util.h"
#include "util/error.h"

namespace mechlens {
namespace {

namespace fs = std::filesystem;

class CheckpointTest : public ::testing::Test {
 protected:
  std::string path(const std::string& name) const { return dir_.file(name); }
  testing::TestDir dir_;
};

TEST_F(CheckpointTest, RoundTripIsBitExact) {
  ModelConfig config = testing::tiny_config();
  config.n_key_value_heads = 2;
  config.positional_embedding_type = PositionalEmbedding::kRotary;
  HookedTransformer model(config);
  save_checkpoint(model, path("model.safetensors"));
  HookedTransformer loaded = load_checkpoint(path("model.safetensors"));
  EXPECT_EQ(loaded->config(), config);
  auto original = model->named_parameters();
  for (const auto& item : loaded->named_parameters()) {
    EXPECT_TRUE(testing::tensors_equal(item.value(), original[item.key()])) << item.key();
  }
  const torch::Tensor tokens = testing::random_tokens(2, 8, config.d_vocab);
  EXPECT_TRUE(testing::tensors_equal(loaded->forward(tokens), model->forward(tokens)));
  // Parameter names are TransformerLens's.
  EXPECT_TRUE(original.contains("blocks.1.attn.W_Q"));
  EXPECT_TRUE(original.contains("embed.W_E"));
  EXPECT_TRUE(original.contains("unembed.W_U"));
}

TEST_F(CheckpointTest, WritesNoTemporaryFilesAndOverwritesAtomically) {
  HookedTransformer model(testing::tiny_config());
  save_checkpoint(model, path("a.safetensors"));
  save_checkpoint(model, path("a.safetensors"));
  size_t files = 0;
  for (const auto& entry : fs::directory_iterator(dir_.path())) {
    ++files;
    EXPECT_EQ(entry.path().filename(), "a.safetensors");
  }
  EXPECT_EQ(files, 1u);
}

TEST_F(CheckpointTest, TruncatedFileNamesTheTensorAndSaysTruncated) {
  HookedTransformer model(testing::tiny_config());
  save_checkpoint(model, path("t.safetensors"));
  fs::resize_file(path("t.safetensors"), fs::file_size(path("t.safetensors")) - 100);
  EXPECT_TRUE(
      testing::throws_with<CheckpointError>([&] { load_checkpoint(path("t.safetensors")); }, "the file is truncated"));
  fs::resize_file(path("t.safetensors"), 5);
  EXPECT_TRUE(testing::throws_with<CheckpointError>([&] { load_checkpoint(path("t.safetensors")); },
                                                    "t.safetensors: file has 5 bytes"));
}

TEST_F(CheckpointTest, MisShapedTensorReportsBothShapesAndConfig) {
  HookedTransformer model(testing::tiny_config());
  NamedTensors tensors;
  for (const auto& item : model->named_parameters()) {
    torch::Tensor value = item.value();
    if (item.key() == "blocks.1.attn.W_Q") value = torch::zeros({8, 16, 2});
    tensors.emplace_back(item.key(), value);
  }
  write_safetensors(
      path("s.safetensors"), tensors,
      {{"format", kCheckpointFormat}, {"format_version", "1"}, {"config", model->config().to_json().dump()}});
  EXPECT_TRUE(testing::throws_with<CheckpointError>(
      [&] { load_checkpoint(path("s.safetensors")); },
      "blocks.1.attn.W_Q has shape [8, 16, 2], expected [4, 16, 4] (n_layers=2, d_model=16, n_heads=4"));
  EXPECT_TRUE(testing::throws_with<CheckpointError>([&] { load_checkpoint(path("s.safetensors")); },
                                                    "first mismatch at dim 0"));
}

TEST_F(CheckpointTest, MisNamedTensorsListedMissingAndUnexpected) {
  HookedTransformer model(testing::tiny_config());
  NamedTensors tensors;
  for (const auto& item : model->named_parameters()) {
    std::string name = item.key() == "blocks.0.mlp.W_in" ? "blocks.0.mlp.W_inn" : item.key();
    tensors.emplace_back(name, item.value());
  }
  write_safetensors(
      path("n.safetensors"), tensors,
      {{"format", kCheckpointFormat}, {"format_version", "1"}, {"config", model->config().to_json().dump()}});
  EXPECT_TRUE(testing::throws_with<CheckpointError>([&] { load_checkpoint(path("n.safetensors")); },
                                                    "missing [blocks.0.mlp.W_in], unexpected [blocks.0.mlp.W_inn]"));
}

TEST_F(CheckpointTest, IntegerDtypeRejectedFloatDtypesConverted) {
  HookedTransformer model(testing::tiny_config());
  NamedTensors tensors;
  for (const auto& item : model->named_parameters()) tensors.emplace_back(item.key(), item.value().to(torch::kFloat16));
  const std::map<std::string, std::string> metadata{
      {"format", kCheckpointFormat}, {"format_version", "1"}, {"config", model->config().to_json().dump()}};
  write_safetensors(path("h.safetensors"), tensors, metadata);
  HookedTransformer half = load_checkpoint(path("h.safetensors"));
  EXPECT_TRUE(testing::tensors_close(half->embed->W_E, model->embed->W_E, 1e-2));
  tensors[0].second = tensors[0].second.to(torch::kInt32);
  write_safetensors(path("i.safetensors"), tensors, metadata);
  EXPECT_TRUE(testing::throws_with<CheckpointError>([&] { load_checkpoint(path("i.safetensors")); },
                                                    "embed.W_E has dtype Int, expected a floating-point type"));
}

TEST_F(CheckpointTest, ForeignSafetensorsAndBadConfigAreExplained) {
  write_safetensors(path("f.safetensors"), {{"x", torch::zeros({2})}});
  EXPECT_TRUE(
      testing::throws_with<CheckpointError>([&] { load_checkpoint(path("f.safetensors")); },
                                            "__metadata__.format is '(missing)', expected 'mechlens-checkpoint'"));
  write_safetensors(path("c.safetensors"), {{"x", torch::zeros({2})}},
                    {{"format", kCheckpointFormat}, {"format_version", "1"}, {"config", R"({"n_heads": 0})"}});
  EXPECT_TRUE(testing::throws_with<CheckpointError>([&] { load_checkpoint(path("c.safetensors")); },
                                                    "__metadata__.config: config field 'n_heads' is 0"));
  write_safetensors(path("v.safetensors"), {{"x", torch::zeros({2})}},
                    {{"format", kCheckpointFormat}, {"format_version", "9"}});
  EXPECT_TRUE(testing::throws_with<CheckpointError>([&] { load_checkpoint(path("v.safetensors")); },
                                                    "format_version is '9', expected '1'"));
}

}  // namespace
}  // namespace mechlens
