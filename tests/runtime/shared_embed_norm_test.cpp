// shared_embed_norm: every token embedding enters at the one learned norm embed.row_norm, so a row's
// own length no longer matters; checked against the formula, by rescaling rows, and at initialisation.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "runtime/model.h"
#include "runtime/weight_processing.h"
#include "test_util.h"
#include "util/error.h"

namespace mechlens {
namespace {

ModelConfig shared_norm_config() {
  ModelConfig config = testing::tiny_config();
  config.shared_embed_norm = true;
  config.norm_placement = NormPlacement::kPost;
  return config;
}

TEST(SharedEmbedNormTest, EveryEmbeddedRowHasTheSharedNorm) {
  torch::NoGradGuard no_grad;
  HookedTransformer model(shared_norm_config());
  model->embed->row_norm.fill_(1.7);
  const torch::Tensor tokens = testing::random_tokens(3, 8, model->config().d_vocab);
  torch::Tensor embedded;
  model->run_with_hooks(tokens, {{"hook_embed", [&](const torch::Tensor& x, const HookPointImpl&) {
                                    embedded = x.clone();
                                    return x;
                                  }}});
  EXPECT_TRUE(testing::tensors_close(embedded.norm(2, -1), torch::full({3, 8}, 1.7), 1e-5));
  // The formula: W_E[t] / |W_E[t]| * row_norm.
  const torch::Tensor rows = model->embed->W_E.index_select(0, tokens.flatten()).view({3, 8, -1});
  EXPECT_TRUE(testing::tensors_close(embedded, rows / rows.norm(2, -1, true) * 1.7, 1e-6));
}

TEST(SharedEmbedNormTest, RescalingARowLeavesTheLogitsUnchanged) {
  torch::NoGradGuard no_grad;
  HookedTransformer model(shared_norm_config());
  const torch::Tensor tokens = testing::random_tokens(2, 10, model->config().d_vocab);
  const torch::Tensor before = model->forward(tokens);
  model->embed->W_E.mul_(torch::rand({model->config().d_vocab, 1}) * 5 + 0.1);  // each row its own factor
  EXPECT_TRUE(testing::tensors_close(model->forward(tokens), before, 1e-5));

  // Without the option the same rescaling changes them: the test can fail.
  HookedTransformer free_rows(testing::tiny_config());
  const torch::Tensor free_before = free_rows->forward(tokens);
  free_rows->embed->W_E.mul_(3.0);
  EXPECT_FALSE(testing::tensors_close(free_rows->forward(tokens), free_before, 1e-3));
}

TEST(SharedEmbedNormTest, StartsAtTheRowsMeanNormAndLeavesTheOtherWeightsAsDrawn) {
  torch::NoGradGuard no_grad;
  ModelConfig config = shared_norm_config();
  HookedTransformer shared(config);
  config.shared_embed_norm = false;
  HookedTransformer free_rows(config);
  EXPECT_NEAR(shared->embed->row_norm.item<double>(), shared->embed->W_E.norm(2, -1).mean().item<double>(), 1e-6);
  auto shared_params = shared->named_parameters();
  for (const auto& item : free_rows->named_parameters()) {
    EXPECT_TRUE(testing::tensors_equal(shared_params[item.key()], item.value())) << item.key();
  }
  EXPECT_EQ(shared->n_params(), free_rows->n_params() + 1);
  EXPECT_EQ(int64_t(shared->config().parameter_count()), shared->n_params());
  EXPECT_TRUE(shared->embed->row_norm.requires_grad());
}

TEST(SharedEmbedNormTest, CentringWritingWeightsIsRefused) {
  ModelConfig config = shared_norm_config();
  config.norm_placement = NormPlacement::kPre;
  HookedTransformer model(config);
  WeightProcessing processing;
  processing.center_writing_weights = true;
  EXPECT_TRUE(testing::throws_with<ConfigError>([&] { process_weights(model, processing); },
                                                "rescales each row of W_E to one norm"));
}

}  // namespace
}  // namespace mechlens
