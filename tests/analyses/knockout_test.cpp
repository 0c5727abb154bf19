// Attention knock-out: the batched grid equals one full forward per knocked-out run on every
// architecture variant; on a hand-built copying head, blocking the copied source breaks the
// prediction while blocking a source the head provably ignores changes nothing, bit for bit.
#include "tracing/knockout.h"
#include "tracing/knockout_path.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "constructed_models.h"
#include "test_util.h"
#include "util/error.h"

namespace mechlens {
namespace {

AnswerPrompts random_prompts(const ModelConfig& config, int64_t batch, int64_t n_pos, uint64_t seed) {
  AnswerPrompts prompts;
  prompts.tokens = testing::random_tokens(batch, n_pos, config.d_vocab, seed);
  prompts.answer_pos = torch::full({batch}, n_pos - 1, torch::kLong);
  prompts.answer_pos[0] = n_pos - 2;  // answers at different positions
  prompts.correct = testing::random_tokens(1, batch, config.d_vocab, seed + 1)[0];
  prompts.wrong = testing::random_tokens(1, batch, config.d_vocab, seed + 2)[0];
  return prompts;
}

// A span per prompt: positions [1, 3) in even prompts, [2, 5) in odd ones.
PositionSpan moving_span(int64_t batch) {
  PositionSpan span{"middle", {}};
  for (int64_t b = 0; b < batch; ++b) span.per_prompt.push_back(b % 2 == 0 ? std::pair{1, 3} : std::pair{2, 5});
  return span;
}

void expect_same_result(const KnockoutResult& batched, const KnockoutResult& naive, double tolerance) {
  EXPECT_EQ(batched.dims, naive.dims);
  EXPECT_TRUE(testing::tensors_close(batched.prob, naive.prob, tolerance));
  EXPECT_TRUE(testing::tensors_close(batched.logit_diff, naive.logit_diff, 10 * tolerance));
  EXPECT_TRUE(testing::tensors_close(batched.relative_prob_change, naive.relative_prob_change, 10 * tolerance));
  EXPECT_TRUE(testing::tensors_equal(batched.correct, naive.correct));
}

class KnockoutVariantTest : public ::testing::TestWithParam<testing::ConfigVariant> {};

TEST_P(KnockoutVariantTest, BatchedGridEqualsOneForwardPerRun) {
  ModelConfig config = testing::tiny_config();
  config.n_layers = 3;
  GetParam().apply(config);
  const int64_t batch = 5, n_pos = 8;
  KnockoutSession session(HookedTransformer(config), random_prompts(config, batch, n_pos, 11));
  const PositionSpan span = moving_span(batch);
  for (const bool per_head : {false, true}) {
    for (const int64_t window : {1, 2}) {
      KnockoutOptions options;
      options.per_head = per_head;
      options.window = window;
      options.max_batch = 7;  // several packs
      options.sources = {source_at_position(0, batch, n_pos), source_at_position(n_pos - 1, batch, n_pos),
                         source_from_span(span, n_pos), source_from_span(span, n_pos, /*all_but=*/true)};
      // An edge of its own: destination 5 (in every prompt) -> the span.
      options.sources[2].destinations = std::vector<std::pair<int64_t, int64_t>>(size_t(batch), {5, 6});
      const KnockoutResult batched = session.run(options);
      const KnockoutResult naive = session.run_naive(options);
      SCOPED_TRACE(::testing::Message() << "per_head " << per_head << " window " << window);
      const std::vector<int64_t> expected_shape = per_head ? std::vector<int64_t>{4 - window, config.n_heads, 4, batch}
                                                           : std::vector<int64_t>{4 - window, 4, batch};
      ASSERT_EQ(batched.prob.sizes().vec(), expected_shape);
      expect_same_result(batched, naive, 1e-5);
      EXPECT_GT(batched.rows_computed, 0);
      // "all but the span" hides every other source: the run changes for some prompt.
      EXPECT_FALSE(
          testing::tensors_close(naive.prob.select(-2, 3), naive.base_prob.expand_as(naive.prob.select(-2, 3)), 1e-4));
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Variants, KnockoutVariantTest,
                         ::testing::Values(testing::kPreLn, testing::kPostLn, testing::kRotary, testing::kAttnOnly),
                         testing::variant_name);

TEST(KnockoutTest, SkippingUnaffectedRowsEqualsRecomputingThem) {
  ModelConfig config = testing::tiny_config();
  const int64_t batch = 4, n_pos = 7;
  KnockoutSession session(HookedTransformer(config), random_prompts(config, batch, n_pos, 3));
  KnockoutOptions options;
  // The last position is visible only to destinations at it: prompt 0 answers at n_pos - 2, so its
  // rows are skipped (and equal the unknocked run exactly).
  options.sources = {source_at_position(n_pos - 1, batch, n_pos), source_at_position(2, batch, n_pos)};
  const KnockoutResult skipped = session.run(options);
  options.skip_unchanged = false;
  const KnockoutResult recomputed = session.run(options);
  expect_same_result(skipped, recomputed, 1e-5);
  EXPECT_LT(skipped.rows_computed, recomputed.rows_computed);
  EXPECT_EQ(skipped.prob[0][0][0].item<float>(), session.run_naive(options).base_prob[0].item<float>());
}

AnswerPrompts copy_prompts(const HookedTransformer& model) {
  AnswerPrompts prompts;
  prompts.tokens = torch::tensor({{3, 1, 4, 1, 5, 2}, {6, 2, 7, 1, 0, 5}}, torch::kLong);
  prompts.answer_pos = torch::full({2}, 5, torch::kLong);
  prompts.correct = prompts.tokens.select(1, 0).clone();  // the copied first token
  prompts.wrong = prompts.tokens.select(1, 5).clone();
  (void)model;
  return prompts;
}

TEST(KnockoutTest, BlockingTheCopiedSourceBreaksAHandBuiltCopyHeadAndAnIgnoredSourceChangesNothing) {
  HookedTransformer model = testing::copy_first_token_model();
  const AnswerPrompts prompts = copy_prompts(model);
  {  // the head provably ignores every source but 0: its pattern there is exactly 0
    torch::NoGradGuard no_grad;
    const torch::Tensor pattern = model->run_with_cache(prompts.tokens).second.at("blocks.0.attn.hook_pattern");
    EXPECT_TRUE(torch::equal(pattern.select(2, 5).narrow(-1, 1, 5), torch::zeros({2, 1, 5})));
  }
  KnockoutSession session(model, prompts);
  KnockoutOptions options;
  options.sources = {source_at_position(0, 2, 6), source_at_position(1, 2, 6), source_at_position(4, 2, 6)};
  const KnockoutResult naive = session.run_naive(options);
  EXPECT_EQ(naive.base_accuracy, 1.0);
  EXPECT_EQ(naive.accuracy[0][0].item<float>(), 0.0f);  // the copied source: the answer is lost
  EXPECT_LT(naive.relative_prob_change[0][0].item<float>(), -0.5f);
  for (int64_t ignored : {1, 2}) {  // exact: the knocked-out weight was already 0
    EXPECT_TRUE(torch::equal(naive.prob[0][ignored], naive.base_prob));
    EXPECT_TRUE(torch::equal(naive.logit_diff[0][ignored], naive.base_logit_diff));
  }
  const KnockoutResult batched = session.run(options);
  expect_same_result(batched, naive, 1e-6);
}

TEST(KnockoutTest, BlockingEverySourceSilencesTheHeadInsteadOfWritingNaN) {
  HookedTransformer model = testing::copy_first_token_model();
  const AnswerPrompts prompts = copy_prompts(model);
  KnockoutSession session(model, prompts);
  PositionSpan nothing{"nothing", {{0, 0}, {0, 0}}};
  KnockoutOptions options;
  options.sources = {source_from_span(nothing, 6, /*all_but=*/true)};
  EXPECT_EQ(options.sources[0].name, "all but nothing");
  for (const KnockoutResult& result : {session.run(options), session.run_naive(options)}) {
    EXPECT_TRUE(torch::isfinite(result.prob).all().item<bool>());
    // The head writes nothing: the residual holds the last token alone, which is what it predicts.
    EXPECT_EQ(result.accuracy.item<float>(), 0.0f);
    EXPECT_TRUE(testing::tensors_close(result.logit_diff.flatten(), -torch::ones({2}), 1e-6));
  }
}

TEST(KnockoutTest, BadGridsAndPromptsAreRefusedWithTheirReason) {
  ModelConfig config = testing::tiny_config();
  KnockoutSession session(HookedTransformer(config), random_prompts(config, 3, 6, 1));
  auto with = [&](auto change) {
    KnockoutOptions options;
    options.sources = {source_at_position(1, 3, 6)};
    change(options);
    return [&session, options] { session.run(options); };
  };
  EXPECT_TRUE(
      testing::throws_with<InputError>(with([](KnockoutOptions& o) { o.layers = {5}; }), "layer 5 is out of range"));
  EXPECT_TRUE(testing::throws_with<InputError>(with([](KnockoutOptions& o) {
                                                 o.per_head = true;
                                                 o.heads = {9};
                                               }),
                                               "head 9 is out of range"));
  EXPECT_TRUE(testing::throws_with<InputError>(with([](KnockoutOptions& o) { o.window = 0; }), "window"));
  EXPECT_TRUE(
      testing::throws_with<InputError>(with([](KnockoutOptions& o) { o.sources.clear(); }), "at least one source set"));
  EXPECT_TRUE(testing::throws_with<InputError>(
      with([](KnockoutOptions& o) { o.sources = {source_at_position(1, 2, 6)}; }), "must be bool [3, 6]"));
  EXPECT_TRUE(testing::throws_with<InputError>(with([](KnockoutOptions& o) {
                                                 o.destinations = {{1, 2}, {4, 9}, {0, 1}};
                                               }),
                                               "destinations"));
  EXPECT_TRUE(testing::throws_with<InputError>([] { source_at_position(6, 3, 6); }, "outside the prompts' 6"));

  AnswerPrompts bad = random_prompts(config, 3, 6, 1);
  bad.correct[1] = config.d_vocab;
  EXPECT_TRUE(testing::throws_with<InputError>([&] { KnockoutSession(HookedTransformer(config), bad); },
                                               "correct[1] = 23 is not a token id"));
  bad = random_prompts(config, 3, 6, 1);
  bad.answer_pos = torch::full({3}, 6, torch::kLong);
  EXPECT_TRUE(testing::throws_with<InputError>([&] { KnockoutSession(HookedTransformer(config), bad); },
                                               "answer_pos[0] = 6 is outside"));
}

}  // namespace
}  // namespace mechlens

namespace mechlens {
namespace {

TEST(KnockoutPathTest, AHandBuiltCopyHeadHasOnePathAndItsControlDoesNothing) {
  HookedTransformer model = testing::copy_first_token_model();
  const AnswerPrompts prompts = copy_prompts(model);
  const std::vector<PositionSpan> roles{{"first", {{0, 1}, {0, 1}}},
                                        {"middle", {{2, 3}, {2, 3}}},
                                        {"again_first", {{0, 1}, {0, 1}}},  // a repeat: one role
                                        {"last", {{5, 6}, {5, 6}}}};
  KnockoutPathOptions options;
  options.seed = 3;
  const KnockoutPath path = trace_knockout_path(model, prompts, roles, "last", options);
  ASSERT_EQ(path.edges.size(), 1u);
  EXPECT_EQ(path.edges[0].layer, 0);
  EXPECT_EQ(path.edges[0].destination, "last");
  EXPECT_EQ(path.edges[0].source, "first");
  EXPECT_EQ(path.edges[0].accuracy, 0.0);
  EXPECT_EQ(path.edges[0].control_accuracy, 1.0);  // any other source has weight exactly 0
  EXPECT_EQ(path.base_accuracy, 1.0);
  // As a graph: input 'first' -> after layer 0's attention at 'last' -> its output (the root).
  const TraceGraph graph = knockout_path_graph(path, 1);
  ASSERT_EQ(graph.edges.size(), 2u);
  EXPECT_EQ(graph.nodes[size_t(graph.edges[0].source)].id, "X0_first");
  EXPECT_EQ(graph.nodes[size_t(graph.edges[0].target)].id, "A0_last");
  EXPECT_EQ(graph.edges[0].weight, 1.0);  // the accuracy drop
  EXPECT_EQ(graph.edges[1].kind, "residual");
  EXPECT_EQ(graph.nodes[size_t(graph.roots[0])].id, "I0_last");
  EXPECT_EQ(prune_by_threshold(graph, 0.5).edges.size(), 2u);  // the pruning engine takes it as is
  EXPECT_TRUE(testing::throws_with<InputError>([&] { trace_knockout_path(model, prompts, roles, "nope", options); },
                                               "no role 'nope' to trace from; the prompts name first, middle"));
}

}  // namespace
}  // namespace mechlens
