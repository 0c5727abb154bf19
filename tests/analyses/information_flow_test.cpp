// Information-flow routes: the attention decomposition is exact (its parts sum to the block's
// output), shares follow the proximity formula computed independently from the parts, sum to one
// per node, do not depend on the other prompts of the batch, and a hand-built copy head's only route is the one it
// copies.
#include "tracing/information_flow.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "constructed_models.h"
#include "test_util.h"
#include "util/error.h"

namespace mechlens {
namespace {

class InformationFlowVariantTest : public ::testing::TestWithParam<testing::ConfigVariant> {};

TEST_P(InformationFlowVariantTest, PartsSumToTheAttentionOutputAndSharesFollowTheProximityFormula) {
  ModelConfig config = testing::tiny_config();
  GetParam().apply(config);
  HookedTransformer model(config);
  model->eval();
  torch::NoGradGuard no_grad;
  const torch::Tensor tokens = testing::random_tokens(2, 6, config.d_vocab, 9);
  const ActivationCache cache = model->run_with_cache(tokens).second;
  const InformationFlow flow = information_flow(model, tokens);
  // Prompts are independent: the second prompt alone gets the same shares (to float32 rounding: a batch of
  // one takes other GEMM kernels on some CPUs, a few ulps apart; prompts that mixed would differ by ~0.1).
  const InformationFlow alone = information_flow(model, tokens.narrow(0, 1, 1));
  EXPECT_TRUE(testing::tensors_close(alone.attention[0], flow.attention[1], 1e-5));
  EXPECT_TRUE(testing::tensors_close(alone.attention_residual[0], flow.attention_residual[1], 1e-5));

  for (int64_t layer = 0; layer < config.n_layers; ++layer) {
    const std::string prefix = "blocks." + std::to_string(layer) + ".";
    const torch::Tensor parts = attention_parts(model, tokens, layer);  // [batch, dest, src, head, d_model]
    const torch::Tensor attn_out = cache.at(prefix + "hook_attn_out");
    torch::Tensor sum = parts.sum({2, 3});
    if (config.attn_bias) sum = sum + model->named_parameters()[prefix + "attn.b_O"];
    EXPECT_TRUE(testing::tensors_close(sum, attn_out, 1e-5)) << "layer " << layer;

    // Shares from the parts, one (prompt, dest) at a time.
    const torch::Tensor resid_pre = cache.at(prefix + "hook_resid_pre");
    for (int64_t b = 0; b < 2; ++b) {
      for (int64_t t = 0; t < 6; ++t) {
        const torch::Tensor y = resid_pre[b][t] + attn_out[b][t];
        const double norm = y.abs().sum().item<double>();
        torch::Tensor near = (norm - (y - parts[b][t]).abs().sum(-1)).clamp_min(0);  // [src, head]
        const double residual = std::max(0.0, norm - (y - resid_pre[b][t]).abs().sum().item<double>());
        const double total = near.sum().item<double>() + residual;
        ASSERT_GT(total, 0);
        EXPECT_TRUE(testing::tensors_close(flow.attention[b][layer].select(1, t).transpose(0, 1), near / total, 1e-5));
        EXPECT_NEAR(flow.attention_residual[b][layer][t].item<double>(), residual / total, 1e-5);
        EXPECT_NEAR(flow.attention_coverage[b][layer][t].item<double>(), total / norm, 1e-4);
      }
    }
  }
  // Every node's shares sum to one.
  const torch::Tensor attention_total = flow.attention.sum({2, 4}) + flow.attention_residual;
  EXPECT_TRUE(testing::tensors_close(attention_total, torch::ones_like(attention_total), 1e-5));
  if (flow.has_mlp()) {
    const torch::Tensor mlp_total = flow.mlp + flow.mlp_residual;
    EXPECT_TRUE(testing::tensors_close(mlp_total, torch::ones_like(mlp_total), 1e-5));
  }
  // Causal: no share flows from a later source.
  EXPECT_EQ(flow.attention.triu(1).abs().sum().item<float>(), 0.0f);
}

INSTANTIATE_TEST_SUITE_P(Variants, InformationFlowVariantTest,
                         ::testing::Values(testing::kPreLn, testing::kPostLn, testing::kAttnOnly, testing::kRotary,
                                           testing::ConfigVariant{"gqa",
                                                                  [](ModelConfig& c) { c.n_key_value_heads = 2; }}),
                         testing::variant_name);

TEST(InformationFlowTest, AHandBuiltCopyHeadHasOneRouteFromTheCopiedPosition) {
  HookedTransformer model = testing::copy_first_token_model();
  const torch::Tensor tokens = torch::tensor({{3, 1, 4, 1, 5, 2}}, torch::kLong);
  const InformationFlow flow = information_flow(model, tokens);
  ASSERT_FALSE(flow.has_mlp());
  // At the last position only source 0 contributes through the head; the rest is the residual.
  const torch::Tensor last = flow.attention[0][0][0][5];  // [src]
  EXPECT_GT(last[0].item<float>(), 0.3f);
  EXPECT_EQ(last.narrow(0, 1, 5).abs().sum().item<float>(), 0.0f);
  EXPECT_NEAR(last[0].item<float>() + flow.attention_residual[0][0][5].item<float>(), 1.0, 1e-6);
}

TEST(InformationFlowTest, ModelsWithOrthogonalValueNoiseAreRefused) {
  ModelConfig config = testing::tiny_config();
  config.orthogonal_noise = OrthogonalNoise::kVO;
  HookedTransformer model(config);
  EXPECT_TRUE(testing::throws_with<InputError>(
      [&] { information_flow(model, testing::random_tokens(1, 4, config.d_vocab)); }, "orthogonal VO noise"));
}

}  // namespace
}  // namespace mechlens
