// Every architecture variant builds, runs, exposes the right hooks and gives finite logits.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <algorithm>

#include "runtime/model.h"
#include "test_util.h"

namespace mechlens {
namespace {

using Variant = testing::ConfigVariant;

const Variant kVariants[] = {
    testing::kPreLn,
    testing::kPostLn,
    testing::kAttnOnly,
    testing::kPostLnAttnOnly,
    testing::kRotary,
    {"rms", [](ModelConfig& c) { c.normalization_type = NormType::kRMS; }},
    testing::kNoNorm,
    {"gated_silu",
     [](ModelConfig& c) {
       c.gated_mlp = true;
       c.act_fn = ActFn::kSiLU;
     }},
    {"gqa", [](ModelConfig& c) { c.n_key_value_heads = 1; }},
    {"relu_no_bias_tied",
     [](ModelConfig& c) {
       c.act_fn = ActFn::kReLU;
       c.attn_bias = false;
       c.mlp_bias = false;
       c.tie_embeddings = true;
     }},
    {"gelu_new_no_pos",
     [](ModelConfig& c) {
       c.act_fn = ActFn::kGELUNew;
       c.positional_embedding_type = PositionalEmbedding::kNone;
     }},
    {"uniform_small_init",
     [](ModelConfig& c) {
       c.init_form = InitForm::kUniform;
       c.init_gamma = 1.0;
     }},
};

class VariantsTest : public ::testing::TestWithParam<Variant> {};

bool has_hook(const HookedTransformer& model, const std::string& name) {
  const auto& names = model->hook_names();
  return std::find(names.begin(), names.end(), name) != names.end();
}

TEST_P(VariantsTest, RunsWithExpectedHooks) {
  ModelConfig config = testing::tiny_config();
  GetParam().apply(config);
  HookedTransformer model(config);
  torch::NoGradGuard no_grad;
  auto [logits, cache] = model->run_with_cache(testing::random_tokens(2, 7, config.d_vocab));
  EXPECT_EQ(logits.sizes(), (std::vector<int64_t>{2, 7, config.d_vocab}));
  EXPECT_TRUE(logits.isfinite().all().item<bool>());
  EXPECT_EQ(has_hook(model, "blocks.0.hook_resid_mid"), !config.attn_only());
  EXPECT_EQ(has_hook(model, "blocks.0.mlp.hook_pre_linear"), config.gated_mlp);
  EXPECT_EQ(has_hook(model, "blocks.0.attn.hook_rot_q"),
            config.positional_embedding_type == PositionalEmbedding::kRotary);
  EXPECT_EQ(has_hook(model, "hook_pos_embed"), config.positional_embedding_type == PositionalEmbedding::kStandard);
  EXPECT_EQ(has_hook(model, "blocks.1.ln1.hook_scale"), config.has_norm());
  EXPECT_EQ(has_hook(model, "ln_final.hook_normalized"),
            config.has_norm() && config.norm_placement == NormPlacement::kPre);
  EXPECT_EQ(model->named_parameters().contains("unembed.W_U"), !config.tie_embeddings);
  for (const auto& name : cache.names()) {
    EXPECT_EQ(cache.at(name).sizes().vec(), model->hook_shape(name, 2, 7)) << name;
  }
}

TEST(PostNormTest, ResidualStreamIsNormalisedAfterEachSublayer) {
  ModelConfig config = testing::tiny_config();
  config.norm_placement = NormPlacement::kPost;
  HookedTransformer model(config);
  auto [logits, cache] = model->run_with_cache(testing::random_tokens(1, 6, config.d_vocab));
  // LN with unit weight and zero bias: every position has mean 0 and mean square ~1.
  for (const char* name : {"blocks.0.hook_resid_mid", "blocks.0.hook_resid_post"}) {
    const torch::Tensor x = cache.at(name);
    EXPECT_LT(x.mean(-1).abs().max().item<double>(), 1e-5) << name;
    EXPECT_TRUE(testing::tensors_close(x.pow(2).mean(-1), torch::ones({1, 6}), 1e-3)) << name;
  }
}

INSTANTIATE_TEST_SUITE_P(AllVariants, VariantsTest, ::testing::ValuesIn(kVariants), testing::variant_name);

}  // namespace
}  // namespace mechlens
