// Sizes are bounded and the parameter memory is estimated before anything is allocated.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "runtime/config.h"
#include "runtime/model.h"
#include "test_util.h"
#include "util/error.h"

namespace mechlens {
namespace {

TEST(ConfigLimitsTest, ParameterCountEqualsTheBuiltModel) {
  for (int variant = 0; variant < 7; ++variant) {
    ModelConfig config = testing::tiny_config();
    if (variant == 1) config.d_mlp = 0;
    if (variant == 2) config.normalization_type = NormType::kNone;
    if (variant == 3) {
      config.gated_mlp = true;
      config.normalization_type = NormType::kRMS;
      config.n_key_value_heads = 2;
    }
    if (variant == 4) {
      config.tie_embeddings = true;
      config.attn_bias = config.mlp_bias = config.unembed_bias = false;
      config.positional_embedding_type = PositionalEmbedding::kRotary;
    }
    if (variant == 5) config.orthogonal_noise = OrthogonalNoise::kQKVO;
    if (variant == 6) config.shared_embed_norm = true;
    HookedTransformer model(config);
    EXPECT_EQ(int64_t(config.parameter_count()), model->n_params()) << "variant " << variant;
  }
}

TEST(ConfigLimitsTest, HugeModelsAreRefusedBeforeAllocating) {
  ModelConfig config = testing::tiny_config();
  config.n_layers = 10'000'000;
  config.d_model = 1024;
  config.d_mlp = 4096;
  try {
    HookedTransformer model(config);
    FAIL() << "expected a ConfigError";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("GB for its"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("n_layers=10000000"), std::string::npos) << e.what();
  }
  EXPECT_THROW(testing::tiny_config().check_fits_in_memory(/*available_bytes=*/1000), ConfigError);
  EXPECT_NO_THROW(testing::tiny_config().check_fits_in_memory(/*available_bytes=*/1e9));
}

TEST(ConfigLimitsTest, SizesBeyondTwoToTheThirtyFirstAreRefusedByName) {
  for (const char* field : {"n_layers", "d_model", "n_heads", "d_head", "n_ctx", "d_vocab", "d_mlp"}) {
    nlohmann::json json = testing::tiny_config().to_json();
    json[field] = int64_t(1) << 40;
    try {
      ModelConfig::from_json(json);
      FAIL() << field;
    } catch (const ConfigError& e) {
      EXPECT_NE(std::string(e.what()).find(field), std::string::npos) << e.what();
    }
  }
}

TEST(ConfigLimitsTest, DeepAndDuplicatedJsonIsRefused) {
  std::string deep = "{\"n_layers\": ";
  for (int i = 0; i < 100000; ++i) deep += "[";
  try {
    ModelConfig::from_json_string(deep);
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("nests 100001 levels deep"), std::string::npos) << e.what();
  }
  try {
    ModelConfig::from_json_string(R"({"n_layers": 2, "d_model": 32, "n_layers": 3})");
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("key 'n_layers' is given twice"), std::string::npos) << e.what();
  }
  // The same key in two different objects is fine; strings may hold brackets.
  EXPECT_NO_THROW(nlohmann::json::parse(R"({"a": {"x": 1}, "b": {"x": "[[[["}})"));
}

}  // namespace
}  // namespace mechlens
