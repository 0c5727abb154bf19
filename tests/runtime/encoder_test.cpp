// Encoders (BERT, TransformerLens's HookedEncoder): bidirectional attention, token-type embeddings
// summed and normalised by ln_embed, post-LN blocks, and no unembedding (the output is the last
// residual stream). Each property against what a causal decoder provably does instead.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <nlohmann/json.hpp>

#include "runtime/model.h"
#include "test_util.h"
#include "util/error.h"

namespace mechlens {
namespace {

ModelConfig encoder_config() {
  ModelConfig config = testing::tiny_config();
  config.attention_dir = AttentionDir::kBidirectional;
  config.norm_placement = NormPlacement::kPost;
  config.ln_embed = true;
  config.d_vocab_token_type = 2;
  config.has_unembed = false;
  config.eps = 1e-12;
  return config;
}

// Norm weights and biases away from 1 and 0, so that using the wrong one shows.
HookedTransformer perturbed(const ModelConfig& config) {
  HookedTransformer model(config);
  torch::NoGradGuard no_grad;
  at::Generator generator = at::detail::createCPUGenerator(3);
  for (auto& param : model->parameters()) param.add_(0.2 * torch::randn(param.sizes(), generator));
  return model;
}

TEST(EncoderTest, EarlierPositionsSeeLaterTokensOnlyWhenBidirectional) {
  for (AttentionDir dir : {AttentionDir::kCausal, AttentionDir::kBidirectional}) {
    ModelConfig config = encoder_config();
    config.attention_dir = dir;
    HookedTransformer model = perturbed(config);
    torch::NoGradGuard no_grad;
    torch::Tensor tokens = testing::random_tokens(2, 6, config.d_vocab);
    torch::Tensor changed = tokens.clone();
    changed.select(1, 5).add_(1).remainder_(config.d_vocab);
    const torch::Tensor a = model->forward(tokens).narrow(1, 0, 5), b = model->forward(changed).narrow(1, 0, 5);
    if (dir == AttentionDir::kCausal) EXPECT_TRUE(torch::equal(a, b));
    else EXPECT_GT((a - b).abs().min().item<double>(), 0.0);  // every earlier position moves
  }
}

TEST(EncoderTest, OutputIsTheLastResidualStreamAndEmbeddingsAreNormalisedSums) {
  const ModelConfig config = encoder_config();
  HookedTransformer model = perturbed(config);
  torch::NoGradGuard no_grad;
  const torch::Tensor tokens = testing::random_tokens(2, 5, config.d_vocab);
  auto [output, cache] = model->run_with_cache(tokens);
  EXPECT_EQ(output.sizes(), (std::vector<int64_t>{2, 5, config.d_model}));
  EXPECT_TRUE(torch::equal(output, cache.at("blocks.1.hook_resid_post")));
  // Token type 0 at every position, added to the token and position embeddings, then ln_embed.
  EXPECT_TRUE(torch::equal(cache.at("hook_token_type_embed"),
                           model->token_type_embed->W_token_type[0].expand({2, 5, config.d_model})));
  const torch::Tensor sum = cache.at("hook_embed") + cache.at("hook_pos_embed") + cache.at("hook_token_type_embed");
  const torch::Tensor expected =
      torch::layer_norm(sum, {config.d_model}, model->ln_embed->w, model->ln_embed->b, config.eps);
  EXPECT_TRUE(testing::tensors_close(cache.at("ln_embed.hook_normalized"), expected, 1e-6));
  EXPECT_TRUE(torch::equal(cache.at("blocks.0.hook_resid_pre"), cache.at("ln_embed.hook_normalized")));
  // Hooks fire in forward order: the embedding norm before the first block.
  const auto& names = model->hook_names();
  const auto at = [&](const std::string& name) { return std::find(names.begin(), names.end(), name) - names.begin(); };
  EXPECT_LT(at("hook_token_type_embed"), at("ln_embed.hook_normalized"));
  EXPECT_LT(at("ln_embed.hook_normalized"), at("blocks.0.hook_resid_pre"));
  EXPECT_FALSE(model->unembed);
}

TEST(EncoderTest, RightPaddedPromptsGetWhatTheyGetAlone) {
  const ModelConfig config = encoder_config();
  HookedTransformer model = perturbed(config);
  torch::NoGradGuard no_grad;
  const torch::Tensor tokens = testing::random_tokens(2, 7, config.d_vocab);
  torch::Tensor mask = torch::ones({2, 7}, torch::kLong);
  mask[1].narrow(0, 4, 3).zero_();  // prompt 1 has 4 tokens
  ForwardOptions options;
  options.attention_mask = mask;
  const torch::Tensor batched = model->forward(tokens, options);
  const torch::Tensor alone = model->forward(tokens[1].narrow(0, 0, 4).unsqueeze(0));
  EXPECT_TRUE(testing::tensors_close(batched[1].narrow(0, 0, 4), alone[0], 1e-5));
}

TEST(EncoderTest, KeyValueCachesAreRefusedAndConfigRoundTrips) {
  const ModelConfig config = encoder_config();
  HookedTransformer model(config);
  torch::NoGradGuard no_grad;
  ForwardOptions options;
  options.past_key_values.push_back({torch::zeros({1, 2, 4, 4}), torch::zeros({1, 2, 4, 4})});
  options.past_key_values.push_back({torch::zeros({1, 2, 4, 4}), torch::zeros({1, 2, 4, 4})});
  EXPECT_THROW(model->forward(testing::random_tokens(1, 3, config.d_vocab), options), InputError);

  const ModelConfig back = ModelConfig::from_json(config.to_json());
  EXPECT_EQ(back, config);
  EXPECT_EQ(config.to_json()["attention_dir"], "bidirectional");
  // parameter_count covers W_token_type and ln_embed and leaves out the absent unembedding.
  EXPECT_EQ(config.parameter_count(), double(model->n_params()));

  ModelConfig bad = config;
  bad.normalization_type = NormType::kNone;
  bad.norm_placement = NormPlacement::kPre;
  EXPECT_THROW(bad.validate(), ConfigError);  // ln_embed needs a norm
  bad = config;
  bad.d_vocab_token_type = -1;
  EXPECT_THROW(bad.validate(), ConfigError);
  nlohmann::json text = config.to_json();
  text["attention_dir"] = "sideways";
  EXPECT_THROW(ModelConfig::from_json(text), ConfigError);
}

}  // namespace
}  // namespace mechlens
