// Steering: the batched sweep through the plan executor equals one full forward per α; α = 0 changes
// nothing, bit for bit; a hand-built direction flips a hand-built model's answer.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "analyses/constructed_models.h"
#include "heads/steering.h"
#include "test_util.h"
#include "util/error.h"

namespace mechlens {
namespace {

TEST(SteeringTest, BatchedSweepEqualsOneForwardPerAlphaAndZeroChangesNothing) {
  ModelConfig config = testing::tiny_config();
  HookedTransformer model(config);
  model->eval();
  AnswerPrompts prompts;
  prompts.tokens = torch::randint(0, config.d_vocab, {6, 9}, torch::kLong);
  prompts.answer_pos = torch::tensor({8, 8, 5, 8, 2, 7}, torch::kLong);
  prompts.correct = torch::randint(0, config.d_vocab, {6}, torch::kLong);
  prompts.wrong = (prompts.correct + 3) % config.d_vocab;
  SteeringOptions options;
  options.layer = 1;
  options.alphas = {-2.0, 0.0, 0.5, 3.0};
  options.positions = {{3, 4}, {0, 9}, {6, 7}, {2, 5}, {4, 4}, {7, 8}};  // prompt 2: after its answer; 4: none
  options.max_batch = 3;
  const torch::Tensor direction = torch::randn({config.d_model});
  const SteeringResult batched = steer(model, prompts, direction, options);
  const SteeringResult naive = steer_naive(model, prompts, direction, options);
  EXPECT_TRUE(torch::allclose(batched.prob, naive.prob, 1e-5, 1e-6));
  EXPECT_TRUE(torch::allclose(batched.logit_diff, naive.logit_diff, 1e-4, 1e-5));
  EXPECT_TRUE(batched.correct.equal(naive.correct));
  EXPECT_TRUE(batched.to_wrong.equal(naive.to_wrong));
  // α = 0 (and prompts the steering cannot reach) keep the unsteered scores exactly, in both.
  const torch::Tensor all = torch::arange(6);
  const torch::Tensor logits = model->forward(prompts.tokens).index({all, prompts.answer_pos});
  const torch::Tensor base = score_answers(prompts, logits, all)[0];
  EXPECT_TRUE(batched.prob[1].equal(base));
  EXPECT_TRUE(naive.prob[1].equal(base));
  EXPECT_EQ(batched.prob[3][2].item<float>(), base[2].item<float>());  // steered after its answer
  EXPECT_EQ(batched.prob[3][4].item<float>(), base[4].item<float>());  // nothing steered
  EXPECT_NE(batched.prob[3][0].item<float>(), base[0].item<float>());
}

TEST(SteeringTest, AHandBuiltDirectionFlipsAHandBuiltModelsAnswer) {
  // The model predicts the first token (copied x2 into the last position); adding α along token 7's
  // direction at the last position adds α to token 7's logit: above 2 it wins.
  HookedTransformer model = testing::copy_first_token_model(8, 8);
  AnswerPrompts prompts;
  prompts.tokens = torch::randint(0, 6, {5, 6}, torch::kLong);
  prompts.answer_pos = torch::full({5}, 5, torch::kLong);
  prompts.correct = prompts.tokens.select(1, 0).clone();
  prompts.wrong = torch::full({5}, 7, torch::kLong);
  SteeringOptions options;
  options.layer = 0;
  options.alphas = {0.0, 1.0, 4.0};
  options.positions = std::vector<std::pair<int64_t, int64_t>>(5, {5, 6});
  torch::Tensor direction = torch::zeros({9});
  direction[7] = 1.0;
  const SteeringResult result = steer(model, prompts, direction, options);
  EXPECT_TRUE(result.correct[0].equal(torch::ones({5})));
  EXPECT_TRUE(result.correct[1].equal(torch::ones({5})));   // 1 < 2: still the first token
  EXPECT_TRUE(result.to_wrong[2].equal(torch::ones({5})));  // 4 > 2 (+1 at most): token 7
  EXPECT_TRUE(result.logit_diff[2].lt(0).all().item<bool>());
  EXPECT_THROW(steer(model, prompts, torch::zeros({3}), options), InputError);
  options.layer = 1;
  EXPECT_THROW(steer(model, prompts, direction, options), InputError);
  options.layer = 0;
  options.positions[0] = {5, 9};
  EXPECT_THROW(steer(model, prompts, direction, options), InputError);
}

TEST(SteeringTest, MeanDifferenceIsTheGroupMeansDifference) {
  const torch::Tensor acts = torch::tensor({{1.0f, 0.0f}, {3.0f, 2.0f}, {5.0f, 4.0f}});
  const torch::Tensor d = mean_difference(acts, torch::tensor({0, 1, 1}, torch::kLong));
  EXPECT_TRUE(torch::allclose(d, torch::tensor({3.0f, 3.0f})));
  EXPECT_THROW(mean_difference(acts, torch::tensor({1, 1, 1}, torch::kLong)), InputError);
}

TEST(SteeringTest, ProbeDirectionFollowsTheSeparatingAxisNotTheLargestDifference) {
  // Groups differ by 1 along axis 0 (tight) and by 1 along axis 1, which also carries large noise:
  // the mean difference points between the two axes, a probe's direction along the clean axis 0.
  torch::manual_seed(3);
  const int64_t n = 400;
  const torch::Tensor labels = torch::arange(n) % 2;
  torch::Tensor acts = torch::randn({n, 2}) * torch::tensor({0.05f, 3.0f});
  acts = acts + labels.to(torch::kFloat32).unsqueeze(1) * torch::tensor({1.0f, 1.0f});
  const torch::Tensor mean_diff = mean_difference(acts, labels);
  double accuracy = 0;
  const torch::Tensor direction = probe_direction(acts, labels, 0, &accuracy);
  EXPECT_GT(accuracy, 0.95);
  EXPECT_GT(direction[0].item<double>() / direction.norm().item<double>(), 0.95);       // along the clean axis
  EXPECT_NEAR(direction.norm().item<double>(), mean_diff.norm().item<double>(), 1e-4);  // α keeps its scale
  EXPECT_LT(torch::cosine_similarity(direction, mean_diff, 0).item<double>(), 0.99);
  EXPECT_THROW(probe_direction(acts, torch::zeros({n}, torch::kLong), 0), InputError);
}

}  // namespace
}  // namespace mechlens
