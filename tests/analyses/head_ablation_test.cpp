// Head ablation: what it replaces, provably: a zeroed head equals a hand-written hook, a head whose
// output weights are zero changes nothing when ablated, mean values are the masked averages.
#include "ablation/head_ablation.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "hooks/hook_names.h"
#include "test_util.h"
#include "util/error.h"

namespace mechlens {
namespace {

HookedTransformer small_model() {
  ModelConfig config = testing::tiny_config();
  config.n_layers = 2;
  HookedTransformer model(config);
  model->eval();
  return model;
}

TEST(HeadAblationTest, ParsesHeadsAndWholeLayersAndNamesBadParts) {
  const ModelConfig config = small_model()->config();
  const auto heads = parse_heads("L1H0,L0H*", config);
  ASSERT_EQ(int64_t(heads.size()), 1 + config.n_heads);
  EXPECT_EQ(heads[0].layer, 1);
  EXPECT_EQ(format_heads(heads).substr(0, 9), "L1H0,L0H0");
  for (const auto& [text, message] :
       std::vector<std::pair<std::string, std::string>>{{"L1", "'L1' is not a head"},
                                                        {"H2", "'H2' is not a head"},
                                                        {"L9H0", "layer 9 is out of range"},
                                                        {"L0H99", "head 99 is out of range"},
                                                        {"L0Hx", "'L0Hx' is not a head"}}) {
    try {
      parse_heads(text, config);
      ADD_FAILURE() << text << " was accepted";
    } catch (const InputError& e) {
      EXPECT_NE(std::string(e.what()).find(message), std::string::npos) << e.what();
    }
  }
}

TEST(HeadAblationTest, ZeroAblationEqualsAHandWrittenHookAndEndsWithItsScope) {
  HookedTransformer model = small_model();
  torch::NoGradGuard no_grad;
  const torch::Tensor tokens = testing::random_tokens(3, 6, model->config().d_vocab, 5);
  const torch::Tensor clean = model->forward(tokens);
  const torch::Tensor by_hand =
      model->run_with_hooks(tokens, {{act_name("z", 1), [](const torch::Tensor& z, const HookPointImpl&) {
                                        torch::Tensor out = z.clone();
                                        out.select(2, 1).zero_();
                                        return out;
                                      }}});
  {
    const HookScope scope = ablate_heads(model, parse_heads("L1H1", model->config()), HeadAblation::kZero);
    EXPECT_TRUE(testing::tensors_equal(model->forward(tokens), by_hand));
  }
  EXPECT_TRUE(testing::tensors_equal(model->forward(tokens), clean));  // the scope removed its hooks
  EXPECT_FALSE(testing::tensors_close(by_hand, clean, 1e-6));
}

TEST(HeadAblationTest, AHeadWithZeroOutputWeightsChangesNothingWhenAblated) {
  HookedTransformer model = small_model();
  torch::NoGradGuard no_grad;
  model->named_parameters()["blocks.0.attn.W_O"][2].zero_();  // head 0.2 writes nothing
  const torch::Tensor tokens = testing::random_tokens(2, 5, model->config().d_vocab, 6);
  const torch::Tensor clean = model->forward(tokens);
  const torch::Tensor lengths = torch::full({2}, 5, torch::kLong);
  const auto heads = parse_heads("L0H2", model->config());
  for (HeadAblation kind : {HeadAblation::kZero, HeadAblation::kMean}) {
    const torch::Tensor means = mean_head_outputs(model, heads, tokens, lengths);
    const HookScope scope = ablate_heads(model, heads, kind, means);
    EXPECT_TRUE(testing::tensors_close(model->forward(tokens), clean, 1e-6));
  }
}

TEST(HeadAblationTest, MeansAverageOnlyThePromptsOwnPositions) {
  HookedTransformer model = small_model();
  torch::NoGradGuard no_grad;
  torch::Tensor tokens = testing::random_tokens(2, 5, model->config().d_vocab, 7);
  const torch::Tensor lengths = torch::tensor({5, 3}, torch::kLong);
  const auto heads = parse_heads("L1H0", model->config());
  const torch::Tensor means = mean_head_outputs(model, heads, tokens, lengths);  // [1, d_head]
  // By hand: each prompt alone (no padding), positions pooled.
  const torch::Tensor z0 = model->run_with_cache(tokens[0].unsqueeze(0)).second.at(act_name("z", 1))[0].select(1, 0);
  const torch::Tensor z1 =
      model->run_with_cache(tokens[1].narrow(0, 0, 3).unsqueeze(0)).second.at(act_name("z", 1))[0].select(1, 0);
  EXPECT_TRUE(testing::tensors_close(means[0], torch::cat({z0, z1}).mean(0), 1e-5));
}

}  // namespace
}  // namespace mechlens
