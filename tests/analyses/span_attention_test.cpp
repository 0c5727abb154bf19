// Span attention statistics: the mass equals sums over the cached patterns, chunking changes
// nothing, a hand-built head's mass is exactly where it attends, and the summaries equal numpy's.
#include "tracing/span_attention.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>

#include "constructed_models.h"
#include "test_util.h"
#include "util/error.h"

namespace mechlens {
namespace {

PositionSpan span_of(const std::string& name, std::vector<std::pair<int64_t, int64_t>> ranges) {
  return PositionSpan{name, std::move(ranges)};
}

TEST(SpanAttentionTest, MassIsTheCachedPatternSummedOverEachSpanAndChunkingChangesNothing) {
  ModelConfig config = testing::tiny_config();
  HookedTransformer model(config);
  model->eval();
  const int64_t batch = 5, n_pos = 8;
  const torch::Tensor tokens = testing::random_tokens(batch, n_pos, config.d_vocab, 4);
  SpanAttentionOptions options;
  options.sources = {span_of("a", {{0, 2}, {1, 3}, {0, 1}, {4, 6}, {0, 0}}),
                     span_of("b", {{3, 4}, {3, 4}, {3, 4}, {3, 4}, {3, 4}})};
  options.destinations = {{6, 8}, {7, 8}, {5, 6}, {6, 7}, {7, 8}};
  options.max_batch = 2;
  const SpanAttention chunked = span_attention(model, tokens, options);
  options.max_batch = 64;
  const SpanAttention whole = span_attention(model, tokens, options);
  EXPECT_TRUE(testing::tensors_close(chunked.mass, whole.mass, 1e-6));
  ASSERT_EQ(whole.mass.sizes().vec(), (std::vector<int64_t>{2, config.n_heads, 2, batch}));

  torch::NoGradGuard no_grad;
  const auto cache = model->run_with_cache(tokens).second;
  for (int64_t layer = 0; layer < 2; ++layer) {
    const torch::Tensor pattern = cache.at("blocks." + std::to_string(layer) + ".attn.hook_pattern");
    for (int64_t b = 0; b < batch; ++b) {
      for (int64_t s = 0; s < 2; ++s) {
        const auto [sb, se] = options.sources[size_t(s)].per_prompt[size_t(b)];
        const auto [db, de] = options.destinations[size_t(b)];
        torch::Tensor expected = torch::zeros({config.n_heads});
        for (int64_t d = db; d < de; ++d)
          for (int64_t p = sb; p < se; ++p) expected += pattern[b].select(1, d).select(1, p);
        expected /= double(de - db);
        EXPECT_TRUE(testing::tensors_close(whole.mass[layer].select(1, s).select(1, b), expected, 1e-6))
            << "layer " << layer << " prompt " << b << " span " << s;
      }
    }
  }
  // The default region is the union of the spans: shares are mass / union mass.
  const torch::Tensor union_mass = whole.mass.sum(2, /*keepdim=*/true);  // spans are disjoint here
  EXPECT_TRUE(
      testing::tensors_close(whole.share, torch::where(union_mass > 0, whole.mass / union_mass, union_mass), 1e-5));
}

TEST(SpanAttentionTest, AHandBuiltHeadSendsAllItsMassToTheSpanItCopiesFrom) {
  HookedTransformer model = testing::copy_first_token_model();
  const torch::Tensor tokens = torch::tensor({{3, 1, 4, 1, 5, 2}, {6, 2, 7, 1, 0, 5}}, torch::kLong);
  SpanAttentionOptions options;
  options.sources = {span_of("first", {{0, 1}, {0, 1}}), span_of("rest", {{1, 5}, {1, 6}})};
  options.answer_pos = torch::full({2}, 5, torch::kLong);
  options.region = span_of("everything", {{0, 6}, {0, 6}});
  const SpanAttention result = span_attention(model, tokens, options);
  EXPECT_TRUE(torch::equal(result.mass[0][0][0], torch::ones({2})));
  EXPECT_TRUE(torch::equal(result.mass[0][0][1], torch::zeros({2})));
  EXPECT_TRUE(torch::equal(result.share[0][0][0], torch::ones({2})));
  EXPECT_EQ(result.region_name, "everything");
}

TEST(SpanAttentionTest, SummariesEqualNumpysMeanStdAndLinearQuantilesPerGroup) {
  const torch::Tensor values = torch::tensor({1.0, 2.0, 3.0, 4.0, 10.0, 20.0}).view({1, 6});
  const PromptSummary all = summarize_prompts(values, {0.25, 0.5});
  EXPECT_NEAR(all.mean.item<float>(), 40.0 / 6, 1e-5);
  // numpy: np.quantile([1,2,3,4,10,20], [.25,.5]) = [2.25, 3.5]; np.std (population) = 6.62487...
  EXPECT_NEAR(all.quantiles[0][0].item<float>(), 2.25, 1e-5);
  EXPECT_NEAR(all.quantiles[1][0].item<float>(), 3.5, 1e-5);
  EXPECT_NEAR(all.std.item<float>(), 6.624869, 1e-4);

  const PromptGroups groups = groups_from_values("parity", torch::tensor({0, 0, 0, 0, 1, 1}, torch::kLong));
  const PromptSummary by_group = summarize_groups(values, groups, {0.5});
  EXPECT_NEAR(by_group.mean[0][0].item<float>(), 2.5, 1e-6);
  EXPECT_NEAR(by_group.mean[1][0].item<float>(), 15.0, 1e-6);
  EXPECT_NEAR(by_group.quantiles[1][0][0].item<float>(), 15.0, 1e-6);
  EXPECT_NEAR(by_group.std[0][0].item<float>(), std::sqrt(1.25), 1e-6);
  EXPECT_TRUE(testing::throws_with<InputError>([&] { summarize_prompts(values, {1.5}); }, "quantile level 1.5"));
}

TEST(SpanAttentionTest, BadSpansLayersAndDestinationsAreRefused) {
  ModelConfig config = testing::tiny_config();
  HookedTransformer model(config);
  const torch::Tensor tokens = testing::random_tokens(2, 6, config.d_vocab, 4);
  SpanAttentionOptions options;
  options.sources = {span_of("query", {{0, 2}, {3, 9}})};
  options.answer_pos = torch::full({2}, 5, torch::kLong);
  EXPECT_TRUE(testing::throws_with<InputError>([&] { span_attention(model, tokens, options); }, "query"));
  options.sources = {span_of("query", {{0, 2}, {3, 4}})};
  options.layers = {7};
  EXPECT_TRUE(
      testing::throws_with<InputError>([&] { span_attention(model, tokens, options); }, "layer 7 is out of range"));
  options.layers = {};
  options.answer_pos = torch::Tensor();
  EXPECT_TRUE(testing::throws_with<InputError>([&] { span_attention(model, tokens, options); }, "answer_pos"));
  options.sources = {};
  EXPECT_TRUE(testing::throws_with<InputError>([&] { span_attention(model, tokens, options); }, "at least one source"));
}

}  // namespace
}  // namespace mechlens
