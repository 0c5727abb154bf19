// TransformerLens's weight processing: each step keeps what the model computes (logits, or
// log-probabilities for center_unembed) and leaves the weights in the promised form; steps that
// cannot be exact on an architecture are refused. (TransformerLens parity: tests/parity.)
#include "runtime/weight_processing.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <string>

#include "test_util.h"
#include "util/error.h"

namespace mechlens {
namespace {

// A model whose norm weights, norm biases and attention/MLP biases are all non-trivial, so that no
// step can pass by folding zeros and ones.
HookedTransformer randomised_model(const ModelConfig& config) {
  HookedTransformer model(config);
  torch::manual_seed(3);
  torch::NoGradGuard no_grad;
  for (auto& item : model->named_parameters()) {
    const std::string& name = item.key();
    if (name.size() > 2 && name.substr(name.size() - 2) == ".w") {
      item.value().copy_(1.0 + 0.3 * torch::randn_like(item.value()));
    } else if (item.value().dim() <= 2 && name.find(".b") != std::string::npos) {
      item.value().copy_(0.3 * torch::randn_like(item.value()));
    }
  }
  model->eval();
  return model;
}

torch::Tensor log_probs(HookedTransformer& model, const torch::Tensor& tokens) {
  torch::NoGradGuard no_grad;
  return torch::log_softmax(model->forward(tokens), -1);
}

torch::Tensor parameter(HookedTransformer& model, const std::string& name) {
  for (const auto& item : model->named_parameters()) {
    if (item.key() == name) return item.value();
  }
  ADD_FAILURE() << "no parameter " << name;
  return {};
}

WeightProcessing all_steps() { return {true, true, true, true}; }

TEST(WeightProcessing, EveryStepKeepsTheLogitsOfAPreLayerNormModel) {
  const torch::Tensor tokens = testing::random_tokens(3, 9, testing::tiny_config().d_vocab);
  for (int step = 0; step < 4; ++step) {
    HookedTransformer model = randomised_model(testing::tiny_config());
    torch::NoGradGuard no_grad;
    const torch::Tensor before = model->forward(tokens);
    WeightProcessing processing;
    (step == 0   ? processing.fold_ln
     : step == 1 ? processing.center_writing_weights
     : step == 2 ? processing.center_unembed
                 : processing.fold_value_biases) = true;
    process_weights(model, processing);
    const torch::Tensor after = model->forward(tokens);
    if (processing.center_unembed) {
      // Logits move by one constant per position; log-probabilities stay.
      EXPECT_TRUE(testing::tensors_close(torch::log_softmax(after, -1), torch::log_softmax(before, -1), 1e-5));
      EXPECT_FALSE(testing::tensors_close(after, before, 1e-3));
    } else {
      EXPECT_TRUE(testing::tensors_close(after, before, 1e-5)) << "step " << step;
    }
  }
}

TEST(WeightProcessing, LeavesTheWeightsInThePromisedForm) {
  HookedTransformer model = randomised_model(testing::tiny_config());
  const torch::Tensor tokens = testing::random_tokens(2, 7, testing::tiny_config().d_vocab);
  const torch::Tensor before = log_probs(model, tokens);
  process_weights(model, all_steps());
  EXPECT_TRUE(testing::tensors_close(log_probs(model, tokens), before, 1e-5));
  for (const char* norm : {"blocks.0.ln1", "blocks.1.ln2", "ln_final"}) {
    EXPECT_TRUE(torch::equal(parameter(model, std::string(norm) + ".w"), torch::ones({16}))) << norm;
    EXPECT_TRUE(torch::equal(parameter(model, std::string(norm) + ".b"), torch::zeros({16}))) << norm;
  }
  const auto zero_mean = [&](const std::string& name, int64_t dim) {
    EXPECT_LT(parameter(model, name).mean(dim).abs().max().item<double>(), 1e-6) << name;
  };
  for (const char* writer : {"embed.W_E", "pos_embed.W_pos", "blocks.0.attn.W_O", "blocks.1.mlp.W_out"}) {
    zero_mean(writer, -1);
  }
  zero_mean("blocks.0.attn.W_Q", 1);  // reads a zero-mean input: its mean over d_model is removed
  zero_mean("blocks.1.mlp.W_in", 0);
  zero_mean("unembed.W_U", -1);  // centred over the vocabulary (last)
  EXPECT_TRUE(torch::equal(parameter(model, "blocks.1.attn.b_V"), torch::zeros({4, 4})));
}

TEST(WeightProcessing, FoldsRmsNormAndValueBiasesUnderGroupedQueryAttention) {
  ModelConfig config = testing::tiny_config();
  config.normalization_type = NormType::kRMS;
  config.n_key_value_heads = 2;
  config.positional_embedding_type = PositionalEmbedding::kRotary;
  HookedTransformer model = randomised_model(config);
  const torch::Tensor tokens = testing::random_tokens(2, 8, config.d_vocab);
  const torch::Tensor before = log_probs(model, tokens);
  process_weights(model, {/*fold_ln=*/true, false, /*center_unembed=*/true, /*fold_value_biases=*/true});
  EXPECT_TRUE(testing::tensors_close(log_probs(model, tokens), before, 1e-5));
  EXPECT_TRUE(torch::equal(parameter(model, "ln_final.w"), torch::ones({16})));
}

void expect_refused(const ModelConfig& config, const WeightProcessing& processing, const std::string& reason) {
  HookedTransformer model = randomised_model(config);
  try {
    process_weights(model, processing);
    ADD_FAILURE() << "accepted; expected: " << reason;
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find(reason), std::string::npos) << e.what();
  }
}

TEST(WeightProcessing, RefusesStepsThatWouldChangeTheComputation) {
  ModelConfig post = testing::tiny_config();
  post.norm_placement = NormPlacement::kPost;
  expect_refused(post, {true, false, false, false}, "post-norm blocks");
  expect_refused(post, {false, true, false, false}, "pre-LayerNorm");
  ModelConfig rms = testing::tiny_config();
  rms.normalization_type = NormType::kRMS;
  expect_refused(rms, {false, true, false, false}, "center_writing_weights");
  ModelConfig tied = testing::tiny_config();
  tied.tie_embeddings = true;
  tied.unembed_bias = false;
  expect_refused(tied, {false, false, true, false}, "W_U is tied");
  ModelConfig no_bias = testing::tiny_config();
  no_bias.attn_bias = false;
  expect_refused(no_bias, {true, false, false, false}, "blocks.0.ln1.b is not zero");
  expect_refused(no_bias, {false, false, false, true}, "no attention biases");
  ModelConfig no_norm = testing::tiny_config();
  no_norm.normalization_type = NormType::kNone;
  expect_refused(no_norm, {true, false, false, false}, "no normalisation");
  ModelConfig noisy = testing::tiny_config();
  noisy.orthogonal_noise = OrthogonalNoise::kQK;
  expect_refused(noisy, {false, false, false, true}, "orthogonal noise");
}

}  // namespace
}  // namespace mechlens
