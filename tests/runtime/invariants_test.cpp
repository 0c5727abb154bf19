// Identities every correct transformer forward satisfies, checked through the hooks.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "runtime/model.h"
#include "test_util.h"
#include "util/error.h"

namespace mechlens {
namespace {

class InvariantsTest : public ::testing::Test {
 protected:
  torch::NoGradGuard no_grad;
};

TEST_F(InvariantsTest, HeadResultsSumToAttnOut) {
  ModelConfig config = testing::tiny_config();
  HookedTransformer model(config);
  torch::NoGradGuard guard;
  // Give the biases non-zero values so b_O matters.
  for (auto& item : model->named_parameters()) {
    if (item.key().find(".b_") != std::string::npos) item.value().normal_(0.0, 0.5);
  }
  const torch::Tensor tokens = testing::random_tokens(2, 9, config.d_vocab);
  // Fast path (no hook_result) vs per-head path (hook_result hooked): separate runs.
  auto [logits_fast, plain] = model->run_with_cache(tokens, model->names_filter({"blocks.*.hook_attn_out"}));
  auto [logits_split, split] = model->run_with_cache(tokens, model->names_filter({"blocks.*.attn.hook_result"}));
  for (int64_t layer = 0; layer < config.n_layers; ++layer) {
    const torch::Tensor result = split.get("result", layer);  // [batch, pos, head, d_model]
    EXPECT_EQ(result.sizes(), (std::vector<int64_t>{2, 9, config.n_heads, config.d_model}));
    const torch::Tensor b_O = model->blocks[layer]->as<TransformerBlock>()->attn->b_O;
    EXPECT_TRUE(testing::tensors_close(result.sum(2) + b_O, plain.get("attn_out", layer), 1e-5)) << layer;
  }
  EXPECT_TRUE(testing::tensors_close(logits_split, logits_fast, 1e-5));
}

TEST_F(InvariantsTest, AblatingHeadResultEqualsAblatingHeadZ) {
  ModelConfig config = testing::tiny_config();
  HookedTransformer model(config);
  const torch::Tensor tokens = testing::random_tokens(2, 9, config.d_vocab);
  auto zero_head_1 = [](int64_t head_dim) {
    return [head_dim](const torch::Tensor& act, const HookPointImpl&) {
      torch::Tensor out = act.clone();
      out.select(head_dim, 1).zero_();
      return out;
    };
  };
  // result_h = z_h W_O[h], so both ablations remove the same term from attn_out.
  const torch::Tensor via_result = model->run_with_hooks(tokens, {{"blocks.1.attn.hook_result", zero_head_1(2)}});
  const torch::Tensor via_z = model->run_with_hooks(tokens, {{"blocks.1.attn.hook_z", zero_head_1(2)}});
  EXPECT_TRUE(testing::tensors_close(via_result, via_z, 1e-5));
  EXPECT_GT((via_z - model->forward(tokens)).abs().max().item<double>(), 1e-4);
}

TEST_F(InvariantsTest, ResidualStreamDecomposes) {
  ModelConfig config = testing::tiny_config();
  HookedTransformer model(config);
  auto [logits, cache] = model->run_with_cache(testing::random_tokens(2, 8, config.d_vocab));
  EXPECT_TRUE(
      testing::tensors_equal(cache.at("blocks.0.hook_resid_pre"), cache.at("hook_embed") + cache.at("hook_pos_embed")));
  for (int64_t layer = 0; layer < config.n_layers; ++layer) {
    EXPECT_TRUE(testing::tensors_equal(cache.get("resid_mid", layer),
                                       cache.get("resid_pre", layer) + cache.get("attn_out", layer)));
    EXPECT_TRUE(testing::tensors_equal(cache.get("resid_post", layer),
                                       cache.get("resid_mid", layer) + cache.get("mlp_out", layer)));
    if (layer + 1 < config.n_layers) {
      EXPECT_TRUE(testing::tensors_equal(cache.get("resid_pre", layer + 1), cache.get("resid_post", layer)));
    }
  }
}

TEST_F(InvariantsTest, PatternsAreCausalAndRowsSumToOne) {
  ModelConfig config = testing::tiny_config();
  HookedTransformer model(config);
  auto [logits, cache] = model->run_with_cache(testing::random_tokens(3, 11, config.d_vocab),
                                               model->names_filter({"pattern", "attn_scores"}));
  for (int64_t layer = 0; layer < config.n_layers; ++layer) {
    const torch::Tensor pattern = cache.get("pattern", layer);  // [batch, head, dest, src]
    const torch::Tensor above = torch::ones({11, 11}, torch::kBool).triu(1);
    EXPECT_EQ(pattern.masked_select(above).abs().max().item<float>(), 0.0f);
    EXPECT_TRUE(testing::tensors_close(pattern.sum(-1), torch::ones({3, 4, 11}), 1e-6));
    EXPECT_TRUE(cache.get("attn_scores", layer).masked_select(above).isneginf().all().item<bool>());
  }
}

// A padded batch must give each prompt what it gets alone, with left or right padding.
void expect_padded_equals_single(const ModelConfig& config, bool left_padding) {
  HookedTransformer model(config);
  const std::vector<int64_t> lengths{7, 4, 1};
  const int64_t max_len = 7;
  torch::Tensor tokens = torch::zeros({3, max_len}, torch::kLong);
  torch::Tensor mask = torch::zeros({3, max_len}, torch::kLong);
  std::vector<torch::Tensor> singles;
  for (int64_t b = 0; b < 3; ++b) {
    torch::Tensor prompt = testing::random_tokens(1, lengths[b], config.d_vocab, 10 + b);
    const int64_t offset = left_padding ? max_len - lengths[b] : 0;
    tokens[b].narrow(0, offset, lengths[b]).copy_(prompt[0]);
    mask[b].narrow(0, offset, lengths[b]).fill_(1);
    singles.push_back(model->forward(prompt));  // [1, len, d_vocab]
  }
  ForwardOptions options;
  options.attention_mask = mask;
  const torch::Tensor batched = model->forward(tokens, options);
  for (int64_t b = 0; b < 3; ++b) {
    const int64_t offset = left_padding ? max_len - lengths[b] : 0;
    EXPECT_TRUE(testing::tensors_close(batched[b].narrow(0, offset, lengths[b]), singles[b][0], 1e-5))
        << "prompt " << b << (left_padding ? " (left padding)" : " (right padding)");
  }
  EXPECT_FALSE(batched.isnan().any().item<bool>());
}

TEST_F(InvariantsTest, PaddedBatchEqualsSinglePrompts) {
  ModelConfig config = testing::tiny_config();
  expect_padded_equals_single(config, /*left_padding=*/false);
  expect_padded_equals_single(config, /*left_padding=*/true);
  config.positional_embedding_type = PositionalEmbedding::kRotary;
  expect_padded_equals_single(config, /*left_padding=*/true);
}

TEST_F(InvariantsTest, GroupedQueryAttentionEqualsRepeatedKeyValueHeads) {
  ModelConfig gqa_config = testing::tiny_config();
  gqa_config.n_key_value_heads = 2;
  ModelConfig mha_config = gqa_config;
  mha_config.n_key_value_heads = 0;
  HookedTransformer gqa(gqa_config), mha(mha_config);
  auto mha_params = mha->named_parameters();
  for (const auto& item : gqa->named_parameters()) {
    torch::Tensor value = item.value();
    const std::string& name = item.key();
    const bool kv = name.find("W_K") != std::string::npos || name.find("W_V") != std::string::npos ||
                    name.find("b_K") != std::string::npos || name.find("b_V") != std::string::npos;
    if (kv) value = value.repeat_interleave(2, 0);  // query head h reads kv head h / 2
    mha_params[name].copy_(value);
  }
  const torch::Tensor tokens = testing::random_tokens(2, 10, gqa_config.d_vocab);
  auto [gqa_logits, gqa_cache] = gqa->run_with_cache(tokens);
  EXPECT_EQ(gqa_cache.at("blocks.0.attn.hook_k").sizes(), (std::vector<int64_t>{2, 10, 2, 4}));
  EXPECT_TRUE(testing::tensors_close(gqa_logits, mha->forward(tokens), 1e-5));
}

TEST_F(InvariantsTest, StartAndStopAtLayerCompose) {
  ModelConfig config = testing::tiny_config();
  config.n_layers = 3;
  HookedTransformer model(config);
  const torch::Tensor tokens = testing::random_tokens(2, 6, config.d_vocab);
  ForwardOptions first;
  first.stop_at_layer = 1;
  const torch::Tensor resid = model->forward(tokens, first);  // resid_pre of layer 1
  auto [logits, cache] = model->run_with_cache(tokens, model->names_filter({"blocks.1.hook_resid_pre"}));
  EXPECT_TRUE(testing::tensors_equal(resid, cache.at("blocks.1.hook_resid_pre")));
  ForwardOptions rest;
  rest.start_at_layer = 1;
  EXPECT_TRUE(testing::tensors_equal(model->forward(resid, rest), logits));
  ForwardOptions bad;
  bad.stop_at_layer = 4;
  EXPECT_TRUE(testing::throws_with<InputError>([&] { model->forward(tokens, bad); }, "stop_at_layer=4"));
}

TEST_F(InvariantsTest, SameSeedSameWeightsOtherSeedOtherWeights) {
  ModelConfig config = testing::tiny_config();
  HookedTransformer a(config), b(config);
  config.seed += 1;
  HookedTransformer c(config);
  const torch::Tensor tokens = testing::random_tokens(1, 5, config.d_vocab);
  EXPECT_TRUE(testing::tensors_equal(a->forward(tokens), b->forward(tokens)));
  EXPECT_FALSE(torch::equal(a->forward(tokens), c->forward(tokens)));
}

TEST_F(InvariantsTest, InitialisationScaleFollowsGamma) {
  ModelConfig config = testing::tiny_config();
  config.d_model = 256;
  config.init_gamma = 1.0;  // normal, std = 1/fan_in
  HookedTransformer small(config);
  const double std_q = small->blocks[0]->as<TransformerBlock>()->attn->W_Q.std().item<double>();
  EXPECT_NEAR(std_q, 1.0 / 256, 0.1 / 256);
  config.init_form = InitForm::kUniform;
  config.init_gamma = 0.5;  // uniform on +-sqrt(6/fan_in)
  HookedTransformer uniform(config);
  const torch::Tensor w = uniform->blocks[0]->as<TransformerBlock>()->mlp->W_out;
  EXPECT_LE(w.abs().max().item<double>(), std::sqrt(6.0 / config.d_mlp));
  EXPECT_GT(w.abs().max().item<double>(), 0.95 * std::sqrt(6.0 / config.d_mlp));
}

}  // namespace
}  // namespace mechlens
