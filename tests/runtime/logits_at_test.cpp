// ForwardOptions::logits_at (the training path: the last layer runs at the loss positions only)
// gives the full forward's logits and the same gradients, on every architecture variant.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "runtime/model.h"
#include "test_util.h"
#include "util/error.h"

namespace mechlens {
namespace {

using Variant = testing::ConfigVariant;

const Variant kVariants[] = {
    testing::kPreLn,
    testing::kPostLn,
    testing::kAttnOnly,
    testing::kPostLnAttnOnly,
    testing::kRotary,
    testing::kNoNorm,
    {"gqa_gated",
     [](ModelConfig& c) {
       c.n_key_value_heads = 1;
       c.gated_mlp = true;
       c.act_fn = ActFn::kSiLU;
     }},
    {"orthogonal_noise",
     [](ModelConfig& c) {
       c.norm_placement = NormPlacement::kPost;
       c.orthogonal_noise = OrthogonalNoise::kQKVO;
       c.orthogonal_noise_learnable = true;
     }},
};

class LogitsAtTest : public ::testing::TestWithParam<Variant> {
 protected:
  HookedTransformer make_model() {
    ModelConfig config = testing::tiny_config();
    GetParam().apply(config);
    return HookedTransformer(config);
  }
};

// Positions per row, with repeats and different counts of distinct positions, as training pads them.
const torch::Tensor kPositions = torch::tensor({{0, 3, 6, 6}, {2, 2, 2, 2}, {6, 5, 1, 4}}, torch::kLong);

TEST_P(LogitsAtTest, EqualsTheFullForwardAtThosePositions) {
  HookedTransformer model = make_model();
  torch::NoGradGuard no_grad;
  const torch::Tensor tokens = testing::random_tokens(3, 7, model->config().d_vocab);
  const torch::Tensor full = model->forward(tokens);  // [3, 7, d_vocab]
  ForwardOptions options;
  options.logits_at = kPositions;
  const torch::Tensor chosen = model->forward(tokens, options);  // [3, 4, d_vocab]
  ASSERT_EQ(chosen.sizes(), (std::vector<int64_t>{3, 4, model->config().d_vocab}));
  EXPECT_TRUE(testing::tensors_close(chosen, select_positions(full, kPositions), 1e-5));
}

TEST_P(LogitsAtTest, EqualsTheFullForwardWithPadding) {
  HookedTransformer model = make_model();
  torch::NoGradGuard no_grad;
  const torch::Tensor tokens = testing::random_tokens(3, 7, model->config().d_vocab);
  // Left padding on row 1, right padding on row 2.
  const torch::Tensor mask =
      torch::tensor({{1, 1, 1, 1, 1, 1, 1}, {0, 0, 1, 1, 1, 1, 1}, {1, 1, 1, 1, 1, 0, 0}}, torch::kLong);
  ForwardOptions full_options;
  full_options.attention_mask = mask;
  const torch::Tensor full = model->forward(tokens, full_options);
  ForwardOptions options = full_options;
  options.logits_at = kPositions;
  EXPECT_TRUE(testing::tensors_close(model->forward(tokens, options), select_positions(full, kPositions), 1e-5));
}

TEST_P(LogitsAtTest, GivesTheSameGradients) {
  HookedTransformer full_model = make_model();
  HookedTransformer chosen_model = make_model();  // same config seed: same weights
  const torch::Tensor tokens = testing::random_tokens(3, 7, full_model->config().d_vocab);
  const torch::Tensor targets = testing::random_tokens(3, 4, full_model->config().d_vocab, 7);
  auto loss_of = [&](const torch::Tensor& logits) {
    return torch::nn::functional::cross_entropy(logits.reshape({-1, logits.size(-1)}), targets.reshape({-1}));
  };
  loss_of(select_positions(full_model->forward(tokens), kPositions)).backward();
  ForwardOptions options;
  options.logits_at = kPositions;
  loss_of(chosen_model->forward(tokens, options)).backward();
  auto chosen_params = chosen_model->named_parameters();
  for (const auto& item : full_model->named_parameters()) {
    if (!item.value().requires_grad()) continue;
    const torch::Tensor expected = item.value().grad();
    ASSERT_TRUE(expected.defined()) << item.key();
    EXPECT_TRUE(testing::tensors_close(chosen_params[item.key()].grad(), expected, 1e-5)) << item.key();
  }
}

INSTANTIATE_TEST_SUITE_P(Variants, LogitsAtTest, ::testing::ValuesIn(kVariants), testing::variant_name);

TEST(LogitsAtErrorsTest, BadPositionsAndHooksOnTheLastBlockAreRefused) {
  HookedTransformer model(testing::tiny_config());
  const torch::Tensor tokens = testing::random_tokens(2, 5, model->config().d_vocab);
  ForwardOptions options;
  options.logits_at = torch::tensor({{0, 5}, {1, 2}}, torch::kLong);
  try {
    model->forward(tokens, options);
    FAIL() << "position 5 of 5 accepted";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("outside 0..4"), std::string::npos) << e.what();
  }
  options.logits_at = torch::tensor({{0, 1}}, torch::kLong);
  EXPECT_THROW(model->forward(tokens, options), InputError);  // batch 1 for 2 prompts
  options.logits_at = torch::tensor({{0, 1}, {1, 2}}, torch::kLong);
  const std::string last = fmt::format("blocks.{}.hook_resid_post", model->config().n_layers - 1);
  try {
    model->run_with_hooks(tokens, {{last, [](const torch::Tensor&, const HookPointImpl&) { return torch::Tensor(); }}},
                          options);
    FAIL() << "hook on the last block accepted";
  } catch (const HookError& e) {
    EXPECT_NE(std::string(e.what()).find(last), std::string::npos) << e.what();
  }
  // Hooks on earlier layers see every position, as in a full forward.
  int64_t seen_pos = 0;
  model->run_with_hooks(tokens,
                        {{"blocks.0.hook_resid_post",
                          [&](const torch::Tensor& x, const HookPointImpl&) {
                            seen_pos = x.size(1);
                            return torch::Tensor();
                          }}},
                        options);
  EXPECT_EQ(seen_pos, 5);
}

}  // namespace
}  // namespace mechlens
