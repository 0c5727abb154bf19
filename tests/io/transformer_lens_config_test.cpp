// TransformerLens config dicts (cfg.to_dict()) map to ModelConfig; what mechlens cannot compute is
// refused by field name. Weights and hooks are compared with TransformerLens itself in
// tests/parity/transformer_lens_parity.py.
#include "io/transformer_lens.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <nlohmann/json.hpp>

#include "runtime/mlp.h"
#include "util/error.h"

namespace mechlens {
namespace {

nlohmann::json gqa_config() {
  return nlohmann::json::parse(R"({
    "n_layers": 2, "d_model": 32, "n_ctx": 24, "d_head": 8, "model_name": "custom", "n_heads": 4,
    "d_mlp": 64, "act_fn": "silu", "d_vocab": 40, "eps": 1e-06, "use_attn_result": true,
    "use_attn_scale": true, "attn_scale": 2.8284271247461903, "normalization_type": "RMS",
    "attn_only": false, "seed": 0, "positional_embedding_type": "rotary", "final_rms": false,
    "d_vocab_out": 40, "parallel_attn_mlp": false, "rotary_dim": 8, "n_params": 24576,
    "use_hook_tokens": false, "gated_mlp": true, "default_prepend_bos": true, "dtype": "torch.float32",
    "tokenizer_prepends_bos": null, "n_key_value_heads": 2, "rotary_base": 10000,
    "rotary_adjacent_pairs": false, "attention_dir": "causal", "use_local_attn": false})");
}

TEST(TransformerLensConfigTest, MapsFieldsAndAlwaysHasBiases) {
  const nlohmann::json tl = gqa_config();
  ASSERT_TRUE(is_transformer_lens_config(tl));
  const ModelConfig config = config_from_transformer_lens(tl);
  EXPECT_EQ(config.n_key_value_heads, 2);
  EXPECT_EQ(config.d_mlp, 64);
  EXPECT_TRUE(config.gated_mlp);
  EXPECT_EQ(config.act_fn, ActFn::kSiLU);
  EXPECT_EQ(config.normalization_type, NormType::kRMS);
  EXPECT_EQ(config.positional_embedding_type, PositionalEmbedding::kRotary);
  EXPECT_EQ(config.rotary_dim, 8);
  EXPECT_DOUBLE_EQ(config.eps, 1e-6);
  EXPECT_TRUE(config.attn_bias && config.mlp_bias && config.unembed_bias);
  EXPECT_FALSE(is_transformer_lens_config(config.to_json()));  // mechlens's own configs are not mistaken
}

TEST(TransformerLensConfigTest, AttentionOnlyWithNullMlp) {
  nlohmann::json tl = gqa_config();
  tl["attn_only"] = true;
  tl["d_mlp"] = nullptr;
  tl["act_fn"] = nullptr;
  EXPECT_EQ(config_from_transformer_lens(tl).d_mlp, 0);
}

TEST(TransformerLensConfigTest, OtherNamesOfTheSameActivationsMapToThem) {
  for (const auto& [name, fn] : std::vector<std::pair<const char*, ActFn>>{
           {"gelu_fast", ActFn::kGELUNew}, {"gelu_pytorch_tanh", ActFn::kGELUNew}, {"swish", ActFn::kSiLU}}) {
    nlohmann::json tl = gqa_config();
    tl["act_fn"] = name;
    EXPECT_EQ(config_from_transformer_lens(tl).act_fn, fn) << name;
  }
  // TransformerLens's gelu_fast, as it writes it, is gelu_new (the tanh form) up to float rounding.
  const torch::Tensor x = torch::linspace(-12, 12, 4001, torch::kFloat64);
  const torch::Tensor gelu_fast = 0.5 * x * (1.0 + torch::tanh(x * 0.7978845608 * (1.0 + 0.044715 * x * x)));
  EXPECT_LT((apply_activation(x, ActFn::kGELUNew) - gelu_fast).abs().max().item<double>(), 1e-8);
}

TEST(TransformerLensConfigTest, UnsupportedFeaturesAreRefusedByName) {
  const std::vector<std::pair<const char*, nlohmann::json>> cases{{"parallel_attn_mlp", true},
                                                                  {"use_local_attn", true},
                                                                  {"rotary_adjacent_pairs", true},
                                                                  {"attn_scale", 3.0},
                                                                  {"act_fn", "solu_ln"},
                                                                  {"normalization_type", "LNPost"},
                                                                  {"positional_embedding_type", "alibi"},
                                                                  {"d_vocab_out", 41}};
  for (const auto& [field, value] : cases) {
    nlohmann::json tl = gqa_config();
    tl[field] = value;
    try {
      config_from_transformer_lens(tl);
      FAIL() << field;
    } catch (const ConfigError& e) {
      EXPECT_NE(std::string(e.what()).find(field), std::string::npos) << e.what();
    }
  }
}

TEST(TransformerLensConfigTest, StateDictNamesAndBuffers) {
  nlohmann::json tl = gqa_config();
  tl["normalization_type"] = "RMSPre";
  const ModelConfig config = config_from_transformer_lens(tl);
  const NamedTensors tensors{
      {"blocks.0.attn._W_K", torch::zeros({2, 32, 8})}, {"blocks.0.attn._b_V", torch::zeros({2, 8})},
      {"blocks.0.attn.W_Q", torch::zeros({4, 32, 8})},  {"blocks.0.attn.mask", torch::ones({24, 24}, torch::kBool)},
      {"blocks.0.attn.IGNORE", torch::zeros({})},       {"blocks.0.attn.rotary_sin", torch::zeros({24, 8})}};
  const NamedTensors out = tensors_from_transformer_lens(tensors, tl, config, "m.safetensors");
  std::vector<std::string> names;
  for (const auto& [name, tensor] : out) names.push_back(name);
  EXPECT_NE(std::find(names.begin(), names.end(), "blocks.0.attn.W_K"), names.end());
  EXPECT_NE(std::find(names.begin(), names.end(), "blocks.0.attn.b_V"), names.end());
  EXPECT_EQ(std::find(names.begin(), names.end(), "blocks.0.attn.mask"), names.end());
  EXPECT_EQ(std::find(names.begin(), names.end(), "blocks.0.attn.IGNORE"), names.end());
  // RMSPre has no weights: unit weights for every norm of the model, no biases.
  EXPECT_NE(std::find(names.begin(), names.end(), "blocks.1.ln2.w"), names.end());
  EXPECT_NE(std::find(names.begin(), names.end(), "ln_final.w"), names.end());
  EXPECT_EQ(std::find(names.begin(), names.end(), "ln_final.b"), names.end());
}

}  // namespace
}  // namespace mechlens
