// Orthogonal noise (Wang et al. 2024, as reconstructed): fixed orthogonal matrices times per-head
// scalars added to W_Q W_K^T and W_V W_O, checked against a computation by hand.
#include <gtest/gtest.h>
#include <torch/torch.h>
#include <nlohmann/json.hpp>

#include <cmath>

#include "runtime/model.h"
#include "test_util.h"
#include "util/error.h"

namespace mechlens {
namespace {

ModelConfig noise_config(OrthogonalNoise noise, double scale, bool learnable) {
  ModelConfig config = testing::tiny_config();
  config.orthogonal_noise = noise;
  config.orthogonal_noise_scale = scale;
  config.orthogonal_noise_learnable = learnable;
  return config;
}

Attention attention(HookedTransformer& model, int64_t layer) {
  return model->blocks[layer]->as<TransformerBlock>()->attn;
}

TEST(OrthogonalNoiseTest, MatricesAreOrthogonalAndScalarsStartAtTheScale) {
  HookedTransformer model(noise_config(OrthogonalNoise::kQKVO, 0.25, false));
  const int64_t d_model = model->config().d_model;
  for (int64_t layer = 0; layer < model->config().n_layers; ++layer) {
    Attention attn = attention(model, layer);
    for (const torch::Tensor& R : {attn->R_QK, attn->R_VO}) {
      ASSERT_EQ(R.sizes(), (std::vector<int64_t>{model->config().n_heads, d_model, d_model}));
      const torch::Tensor gram = torch::matmul(R, R.transpose(1, 2));
      EXPECT_TRUE(testing::tensors_close(gram, torch::eye(d_model).expand_as(gram), 1e-5));
      EXPECT_FALSE(R.requires_grad());
    }
    EXPECT_TRUE(testing::tensors_equal(attn->s_QK, torch::full({model->config().n_heads}, 0.25)));
    EXPECT_FALSE(attn->s_VO.requires_grad());
    // Heads and layers get different matrices.
    EXPECT_FALSE(torch::allclose(attn->R_QK[0], attn->R_QK[1]));
    EXPECT_FALSE(torch::allclose(attn->R_QK, attn->R_VO));
  }
  HookedTransformer qk_only(noise_config(OrthogonalNoise::kQK, 0.25, true));
  EXPECT_TRUE(attention(qk_only, 0)->s_QK.requires_grad());
  EXPECT_FALSE(attention(qk_only, 0)->R_VO.defined());
}

TEST(OrthogonalNoiseTest, ZeroScaleGivesTheModelWithoutNoise) {
  torch::NoGradGuard no_grad;
  HookedTransformer plain(testing::tiny_config());
  HookedTransformer noisy(noise_config(OrthogonalNoise::kQKVO, 0.0, false));
  auto noisy_params = noisy->named_parameters();
  for (const auto& item : plain->named_parameters()) noisy_params[item.key()].copy_(item.value());
  const torch::Tensor tokens = testing::random_tokens(2, 9, plain->config().d_vocab);
  EXPECT_TRUE(testing::tensors_equal(noisy->forward(tokens), plain->forward(tokens)));
}

TEST(OrthogonalNoiseTest, ScoresAndOutputFollowTheFormula) {
  torch::NoGradGuard no_grad;
  ModelConfig config = noise_config(OrthogonalNoise::kQKVO, 0.7, false);
  config.n_layers = 1;
  config.d_mlp = 0;
  config.normalization_type = NormType::kNone;  // the attention reads resid_pre itself
  HookedTransformer model(config);
  for (auto& item : model->named_parameters()) {
    if (item.key().find(".b_") != std::string::npos) item.value().normal_(0.0, 0.5);
  }
  const torch::Tensor tokens = testing::random_tokens(2, 6, config.d_vocab);
  auto [logits, cache] = model->run_with_cache(
      tokens,
      model->names_filter({"blocks.0.hook_resid_pre", "blocks.0.attn.hook_attn_scores", "blocks.0.attn.hook_pattern",
                           "blocks.0.hook_attn_out", "blocks.0.attn.hook_result"}));
  Attention attn = attention(model, 0);
  const torch::Tensor x = cache.get("resid_pre", 0);  // [batch, pos, d_model]
  const int64_t pos = x.size(1);
  const torch::Tensor causal = torch::ones({pos, pos}).tril().to(torch::kBool);
  torch::Tensor expected_out = attn->b_O.expand({2, pos, config.d_model}).clone();
  for (int64_t h = 0; h < config.n_heads; ++h) {
    const torch::Tensor q = torch::matmul(x, attn->W_Q[h]) + attn->b_Q[h];  // [batch, pos, d_head]
    const torch::Tensor k = torch::matmul(x, attn->W_K[h]) + attn->b_K[h];
    const torch::Tensor v = torch::matmul(x, attn->W_V[h]) + attn->b_V[h];
    const torch::Tensor qk_noise = torch::matmul(torch::matmul(x, attn->R_QK[h]), x.transpose(1, 2));
    const torch::Tensor scores = (torch::matmul(q, k.transpose(1, 2)) + 0.7 * qk_noise) /
                                 std::sqrt(double(config.d_head));  // [batch, dest, src]
    const torch::Tensor got = cache.get("attn_scores", 0).select(1, h);
    EXPECT_TRUE(testing::tensors_close(got.masked_select(causal), scores.masked_select(causal), 1e-4)) << h;
    const torch::Tensor pattern = torch::softmax(scores.masked_fill(causal.logical_not(), -INFINITY), -1);
    const torch::Tensor head_out =
        torch::matmul(pattern, torch::matmul(v, attn->W_O[h]) + 0.7 * torch::matmul(x, attn->R_VO[h]));
    EXPECT_TRUE(testing::tensors_close(cache.get("result", 0).select(2, h), head_out, 1e-4)) << h;
    expected_out = expected_out + head_out;
  }
  EXPECT_TRUE(testing::tensors_close(cache.get("attn_out", 0), expected_out, 1e-4));
}

TEST(OrthogonalNoiseTest, LearnableScalarsTrainAndTheMatricesStayFixed) {
  HookedTransformer model(noise_config(OrthogonalNoise::kQKVO, 0.1, true));
  const torch::Tensor tokens = testing::random_tokens(2, 9, model->config().d_vocab);
  model->forward(tokens).logsumexp(-1).mean().backward();
  Attention attn = attention(model, 1);
  ASSERT_TRUE(attn->s_QK.grad().defined());
  EXPECT_GT(attn->s_QK.grad().abs().sum().item<double>(), 0.0);
  EXPECT_GT(attn->s_VO.grad().abs().sum().item<double>(), 0.0);
  EXPECT_FALSE(attn->R_QK.grad().defined());
  EXPECT_FALSE(attn->R_VO.grad().defined());
}

TEST(OrthogonalNoiseTest, CachedKeysAndValuesAreRefused) {
  torch::NoGradGuard no_grad;
  HookedTransformer model(noise_config(OrthogonalNoise::kQK, 0.1, false));
  const ModelConfig& config = model->config();
  ForwardOptions options;
  for (int64_t layer = 0; layer < config.n_layers; ++layer) {
    options.past_key_values.push_back(
        {torch::zeros({1, 2, config.n_heads, config.d_head}), torch::zeros({1, 2, config.n_heads, config.d_head})});
  }
  EXPECT_TRUE(
      testing::throws_with<InputError>([&] { model->forward(testing::random_tokens(1, 3, config.d_vocab), options); },
                                       "past_key_values are not supported by a model with orthogonal noise"));
}

TEST(OrthogonalNoiseTest, ConfigRoundTripsAndRejectsUnknownKinds) {
  const ModelConfig config = noise_config(OrthogonalNoise::kVO, 0.3, true);
  EXPECT_EQ(ModelConfig::from_json(config.to_json()), config);
  nlohmann::json bad = config.to_json();
  bad["orthogonal_noise"] = "qkv";
  EXPECT_TRUE(testing::throws_with<ConfigError>(
      [&] { ModelConfig::from_json(bad); },
      "config field 'orthogonal_noise' is 'qkv', expected one of: none, qk, vo, qk_vo"));
}

}  // namespace
}  // namespace mechlens
