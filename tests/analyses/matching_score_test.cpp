// Matching-mechanism scores: the hand-built solution answers k-hop queries and scores 1, random
// weights score near chance, the matrices equal a plain computation from the parameters, and the
// kernel score is 1 exactly for multiples of the identity.
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "matching/matching_score.h"
#include "matching/matching_solution.h"
#include "tasks/example_tensors.h"
#include "tasks/task_factory.h"
#include "test_util.h"
#include "util/error.h"

namespace mechlens {
namespace {

std::vector<int64_t> id_tokens() {
  std::vector<int64_t> tokens;
  for (int64_t t = 1; t <= 100; ++t) tokens.push_back(t);
  return tokens;
}

double accuracy_on_hops(HookedTransformer& model, int64_t hops, const std::string& split) {
  std::unique_ptr<Task> task = make_task("matching", {"orders=" + std::to_string(hops), "split=" + split});
  const std::vector<Example> examples = generate_examples(*task, 200, 5);
  const PromptSet prompts = to_tensors(examples, false);
  torch::NoGradGuard no_grad;
  const torch::Tensor tokens = prompts.tokens.narrow(1, 0, prompts.lengths.max().item<int64_t>());
  const torch::Tensor predicted = model->forward(tokens).select(1, tokens.size(1) - 1).argmax(-1);
  int64_t correct = 0;
  for (size_t i = 0; i < examples.size(); ++i)
    correct += predicted[int64_t(i)].item<int64_t>() == examples[i].answer[0];
  return double(correct) / double(examples.size());
}

TEST(MatchingSolutionTest, AnswersQueriesOfAsManyHopsAsItHasHopLayers) {
  for (int64_t hops : {1, 2, 3}) {
    MatchingSolutionOptions options;
    options.hops = hops;
    HookedTransformer model = build_matching_solution(options);
    EXPECT_GE(accuracy_on_hops(model, hops, "test"), 0.98) << hops << " hops";
    EXPECT_GE(accuracy_on_hops(model, hops, "ood"), 0.98) << hops << " hops, OOD tokens";
  }
}

TEST(MatchingScoreTest, TheSolutionScoresOneAndRandomWeightsScoreNearChance) {
  HookedTransformer solution = build_matching_solution({});
  MatchingOptions options;
  options.tokens = id_tokens();
  const MatchingScores built = matching_scores(solution, options);
  ASSERT_EQ(built.layers, (std::vector<int64_t>{1, 2}));
  EXPECT_GT(built.score.min().item<float>(), 0.95f);
  EXPECT_EQ(built.top1.min().item<float>(), 1.0f);
  // K = c x (the projector onto the token block): (tr K)^2 / (d ||K||^2) = d_token / d_model.
  const MatchingSolutionOptions defaults;
  const double d_model = double(solution->config().d_model);
  EXPECT_NEAR(built.kernel_score.min().item<float>(), double(defaults.d_token) / d_model, 1e-4);
  EXPECT_NEAR(built.kernel_score.max().item<float>(), double(defaults.d_token) / d_model, 1e-4);
  EXPECT_EQ(built.embeddings, "raw");  // the solution has no norm

  ModelConfig config = testing::tiny_config();
  config.n_layers = 3;
  config.d_vocab = 201;
  config.d_model = 64;
  config.d_head = 16;
  HookedTransformer random(config);
  const MatchingScores chance = matching_scores(random, options);
  EXPECT_LT(chance.score.max().item<float>(), 3.0f / 100);
  EXPECT_GT(chance.score.min().item<float>(), 0.5f / 100);
  EXPECT_LT(chance.kernel_score.max().item<float>(), 0.2f);
  EXPECT_EQ(chance.embeddings, "layer-0 norm");
}

// The embeddings are the model's own: with shared_embed_norm the rows' lengths do not matter.
TEST(MatchingScoreTest, EmbeddingsAreTheOnesTheForwardUses) {
  MatchingOptions options;
  options.normalised = false;  // raw: every row's length would show
  for (const bool shared : {true, false}) {
    ModelConfig config = testing::tiny_config();
    config.n_layers = 3;
    config.shared_embed_norm = shared;
    HookedTransformer model(config);
    const MatchingScores before = matching_scores(model, options);
    {
      torch::NoGradGuard no_grad;
      model->embed->W_E.mul_(torch::linspace(0.2, 4.0, config.d_vocab).unsqueeze(1));
    }
    // Unchanged exactly when the forward rescales every row to one norm.
    EXPECT_EQ(bool(testing::tensors_close(matching_scores(model, options).matrix, before.matrix, 1e-4)), shared)
        << "shared_embed_norm " << shared;
  }
}

TEST(MatchingScoreTest, MatricesEqualAPlainComputationFromTheParameters) {
  ModelConfig config = testing::tiny_config();
  config.n_layers = 3;
  config.n_heads = 2;
  config.n_key_value_heads = 1;  // grouped-query: both query heads read key-value head 0
  HookedTransformer model(config);
  torch::NoGradGuard no_grad;
  auto p = model->named_parameters();
  auto vo = [&](int64_t l) {  // summed over heads: sum_h W_V[kv] W_O[h]
    const std::string b = "blocks." + std::to_string(l) + ".attn.";
    return p[b + "W_V"][0].matmul(p[b + "W_O"][0]) + p[b + "W_V"][0].matmul(p[b + "W_O"][1]);
  };
  auto qk = [&](int64_t l, int64_t h) {
    const std::string b = "blocks." + std::to_string(l) + ".attn.";
    return p[b + "W_Q"][h].matmul(p[b + "W_K"][0].t());
  };
  MatchingOptions options;
  options.tokens = {1, 4, 9, 16};
  options.normalised = false;
  options.positional = true;
  const MatchingScores scores = matching_scores(model, options);
  const torch::Tensor e =
      p["embed.W_E"].index_select(0, torch::tensor(options.tokens, torch::kLong)) + p["pos_embed.W_pos"].mean(0);
  for (int64_t h = 0; h < 2; ++h) {
    const torch::Tensor m1 = e.matmul(qk(1, h)).matmul(e.matmul(vo(0)).t());
    const torch::Tensor m2 = e.matmul(vo(1)).matmul(qk(2, h)).matmul(e.matmul(vo(0)).t());
    EXPECT_TRUE(testing::tensors_close(scores.matrix[0][h], m1, 1e-5));
    EXPECT_TRUE(testing::tensors_close(scores.matrix[1][h], m2, 1e-5));
    const torch::Tensor soft = torch::softmax(m1 / std::sqrt(double(config.d_head)), -1);
    EXPECT_NEAR(scores.score[0][h].item<float>(), soft.diagonal().mean().item<float>(), 1e-6);
  }
  EXPECT_EQ(scores.embeddings, "raw + mean position");
  EXPECT_EQ(scores.queries, "X_1 = E");

  // Moved queries: layer 1's query is the token as layer 0's value-output map writes it; deeper
  // layers are unchanged.
  options.moved_queries = true;
  const MatchingScores moved = matching_scores(model, options);
  for (int64_t h = 0; h < 2; ++h) {
    const torch::Tensor m1 = e.matmul(vo(0)).matmul(qk(1, h)).matmul(e.matmul(vo(0)).t());
    EXPECT_TRUE(testing::tensors_close(moved.matrix[0][h], m1, 1e-5));
    EXPECT_TRUE(testing::tensors_equal(moved.matrix[1][h], scores.matrix[1][h]));
    const double kernel = identity_kernel_score(vo(0).matmul(qk(1, h)).matmul(vo(0).t()).to(torch::kFloat64));
    EXPECT_NEAR(moved.kernel_score[0][h].item<float>(), kernel, 1e-5);
  }
  EXPECT_EQ(moved.queries, "X_1 = E W_VO(0)");

  // A setup layer first: layer 1 fuses the pairs (keys E W_VO(1)) and layer 2 is the only hop layer.
  options.fusion_layer = 1;
  for (const bool moved_query : {false, true}) {
    options.moved_queries = moved_query;
    const MatchingScores later = matching_scores(model, options);
    EXPECT_EQ(later.layers, std::vector<int64_t>{2});
    EXPECT_EQ(later.queries, moved_query ? "X_2 = E W_VO(1)" : "X_2 = E");
    const torch::Tensor query = moved_query ? e.matmul(vo(1)) : e;
    for (int64_t h = 0; h < 2; ++h) {
      const torch::Tensor m = query.matmul(qk(2, h)).matmul(e.matmul(vo(1)).t());
      EXPECT_TRUE(testing::tensors_close(later.matrix[0][h], m, 1e-5)) << "moved " << moved_query;
    }
  }
}

TEST(MatchingScoreTest, KernelScoreIsOneExactlyForMultiplesOfTheIdentity) {
  EXPECT_NEAR(identity_kernel_score(torch::eye(5)), 1.0, 1e-12);
  EXPECT_NEAR(identity_kernel_score(-3 * torch::eye(5)), 1.0, 1e-12);
  EXPECT_EQ(identity_kernel_score(torch::zeros({4, 4})), 0.0);
  EXPECT_LT(identity_kernel_score(torch::diag(torch::tensor({1.0, -1.0, 1.0, -1.0}))), 1e-12);
  EXPECT_TRUE(testing::throws_with<InputError>([] { identity_kernel_score(torch::zeros({2, 3})); }, "square"));
}

TEST(MatchingScoreTest, BadTokensAndOneLayerModelsAreRefused) {
  ModelConfig config = testing::tiny_config();
  HookedTransformer model(config);
  MatchingOptions options;
  options.tokens = {1, 23};
  EXPECT_TRUE(testing::throws_with<InputError>([&] { matching_scores(model, options); },
                                               "token 23 is not in the model's vocabulary (0..22)"));
  options.tokens = {1, 5, 1};
  EXPECT_TRUE(testing::throws_with<InputError>([&] { matching_scores(model, options); },
                                               "token 1 appears more than once in the token set"));
  options.tokens = {1, 5};
  for (const int64_t fusion : {int64_t(-1), config.n_layers - 1}) {  // no hop layer would follow the last
    options.fusion_layer = fusion;
    EXPECT_TRUE(
        testing::throws_with<InputError>([&] { matching_scores(model, options); },
                                         fmt::format("fusion layer {}: expected 0..{}", fusion, config.n_layers - 2)));
  }
  config.n_layers = 1;
  HookedTransformer shallow(config);
  EXPECT_TRUE(testing::throws_with<InputError>([&] { matching_scores(shallow, {}); }, "at least one hop layer"));
}

}  // namespace
}  // namespace mechlens
