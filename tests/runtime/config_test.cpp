#include "runtime/config.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "test_util.h"
#include "util/error.h"

namespace mechlens {
namespace {

TEST(ConfigTest, JsonRoundTripPreservesEveryField) {
  ModelConfig config = testing::tiny_config();
  config.n_key_value_heads = 2;
  config.act_fn = ActFn::kSiLU;
  config.gated_mlp = true;
  config.normalization_type = NormType::kRMS;
  config.norm_placement = NormPlacement::kPost;
  config.positional_embedding_type = PositionalEmbedding::kRotary;
  config.rotary_dim = 2;
  config.rotary_base = 500.0;
  config.attn_bias = false;
  config.tie_embeddings = true;
  config.init_form = InitForm::kUniform;
  config.init_gamma = 1.0;
  const ModelConfig back = ModelConfig::from_json(config.to_json());
  EXPECT_EQ(back, config);
  EXPECT_EQ(back.to_json().dump(), config.to_json().dump());
}

TEST(ConfigTest, UsesTransformerLensFieldNames) {
  const nlohmann::json json = testing::tiny_config().to_json();
  for (const char* field : {"n_layers", "d_model", "n_heads", "d_head", "n_key_value_heads", "d_mlp", "n_ctx",
                            "d_vocab", "act_fn", "normalization_type", "positional_embedding_type"}) {
    EXPECT_TRUE(json.contains(field)) << field;
  }
  EXPECT_EQ(json["normalization_type"], "LN");
}

TEST(ConfigTest, MissingFieldsTakeDefaultsAndNullNormMeansNone) {
  const ModelConfig config = ModelConfig::from_json_string(R"({"n_layers": 3, "normalization_type": null})");
  EXPECT_EQ(config.n_layers, 3);
  EXPECT_EQ(config.d_model, ModelConfig{}.d_model);
  EXPECT_EQ(config.normalization_type, NormType::kNone);
}

TEST(ConfigTest, UnknownFieldIsRejected) {
  EXPECT_TRUE(testing::throws_with<ConfigError>([] { ModelConfig::from_json_string(R"({"n_layer": 3})"); },
                                                "unknown model config field 'n_layer'"));
}

TEST(ConfigTest, BadValuesNameFieldAndConstraint) {
  EXPECT_TRUE(testing::throws_with<ConfigError>(
      [] { ModelConfig::from_json_string(R"({"n_heads": 4, "n_key_value_heads": 3})"); },
      "'n_key_value_heads' is 3, expected a divisor of n_heads=4"));
  EXPECT_TRUE(testing::throws_with<ConfigError>([] { ModelConfig::from_json_string(R"({"act_fn": "tanh"})"); },
                                                "'act_fn' is 'tanh', expected one of: relu, gelu, gelu_new, silu"));
  EXPECT_TRUE(testing::throws_with<ConfigError>([] { ModelConfig::from_json_string(R"({"d_model": 1.5})"); },
                                                "'d_model' is 1.5, expected an integer"));
  EXPECT_TRUE(testing::throws_with<ConfigError>(
      [] { ModelConfig::from_json_string(R"({"positional_embedding_type": "rotary", "d_head": 8, "rotary_dim": 3})"); },
      "'rotary_dim' is 3"));
  EXPECT_TRUE(testing::throws_with<ConfigError>([] { ModelConfig::from_json_string("{not json"); }, "not valid JSON"));
}

}  // namespace
}  // namespace mechlens
