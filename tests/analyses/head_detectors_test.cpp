// Head detectors: TransformerLens's detection patterns, its mul/abs scores reproduced from cached
// patterns, and hand-built heads that provably do the pattern scoring as they must.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "analyses/constructed_models.h"
#include "heads/head_detectors.h"
#include "hooks/activation_cache.h"
#include "test_util.h"
#include "util/error.h"

namespace mechlens {
namespace {

TEST(HeadDetectorsTest, PatternsAreTransformerLensPatterns) {
  const torch::Tensor tokens = torch::tensor({{1, 2, 3, 1, 2}}, torch::kLong);
  const torch::Tensor previous = previous_token_pattern(tokens).target[0];
  EXPECT_TRUE(previous.equal(torch::eye(5).roll(1, 0).tril(-1)));
  EXPECT_EQ(previous.sum().item<float>(), 4.0f);
  torch::Tensor duplicate = torch::zeros({5, 5});
  duplicate[3][0] = 1, duplicate[4][1] = 1;
  EXPECT_TRUE(duplicate_token_pattern(tokens).target[0].equal(duplicate));
  torch::Tensor induction = torch::zeros({5, 5});
  induction[3][1] = 1, induction[4][2] = 1;  // the token after the earlier copy
  EXPECT_TRUE(induction_pattern(tokens).target[0].equal(induction));
  EXPECT_TRUE(bos_pattern(tokens).target[0].select(1, 0).equal(torch::ones({5})));
  const DetectionPattern span = span_pattern("last->first two", {{4, 5}}, {{0, 2}}, 5);
  EXPECT_EQ(span.rows[0].sum().item<int64_t>(), 1);
  EXPECT_TRUE(span.target[0][4].equal(torch::tensor({1.0f, 1.0f, 0.0f, 0.0f, 0.0f})));
  EXPECT_EQ(span.target.sum().item<float>(), 2.0f);
}

TEST(HeadDetectorsTest, HandBuiltHeadsScoreWhatTheyProvablyDo) {
  // A previous-token head: rows 1..n-1 put all their attention on q - 1, row 0 on itself.
  HookedTransformer previous = testing::previous_token_model(8);
  const torch::Tensor tokens = torch::randint(0, 5, {3, 8}, torch::kLong);
  DetectorOptions options;
  HeadDetection mul = detect_heads(previous, tokens, {previous_token_pattern(tokens), bos_pattern(tokens)}, options);
  EXPECT_NEAR(mul.mean[0][0][0].item<float>(), 7.0f / 8.0f, 1e-6);  // TransformerLens divides by all 8 rows
  EXPECT_NEAR(mul.mean[1][0][0].item<float>(), 2.0f / 8.0f, 1e-6);  // rows 0 and 1 attend to position 0
  options.exclude_current_token = true;                             // row 0's self-attention leaves the denominator
  EXPECT_NEAR(detect_heads(previous, tokens, {previous_token_pattern(tokens)}, options).mean[0][0][0].item<float>(),
              1.0f, 1e-6);
  options = DetectorOptions{};
  options.measure = DetectionMeasure::kAbs;  // row 0 misses by 1: 1 - 1/8
  EXPECT_NEAR(detect_heads(previous, tokens, {previous_token_pattern(tokens)}, options).mean[0][0][0].item<float>(),
              1.0f - 1.0f / 8.0f, 1e-6);

  // A head that attends to position 0 from everywhere: a perfect BOS head under both measures.
  HookedTransformer first = testing::copy_first_token_model(8, 8);
  const torch::Tensor ids = torch::randint(0, 8, {4, 6}, torch::kLong);
  for (DetectionMeasure measure : {DetectionMeasure::kMul, DetectionMeasure::kAbs}) {
    options.measure = measure;
    const HeadDetection scores = detect_heads(first, ids, {bos_pattern(ids)}, options);
    EXPECT_NEAR(scores.mean[0][0][0].item<float>(), 1.0f, 1e-6);
  }
  // A span detector reads its destination rows only: the last position → position 0 is all of it.
  std::vector<std::pair<int64_t, int64_t>> last(4, {5, 6}), source(4, {0, 1});
  options.measure = DetectionMeasure::kMul;
  EXPECT_NEAR(detect_heads(first, ids, {span_pattern("last->0", last, source, 6)}, options).mean[0][0][0].item<float>(),
              1.0f, 1e-6);
}

// TransformerLens's compute_head_attention_similarity_score, one prompt and head at a time.
double reference_score(torch::Tensor a, const torch::Tensor& d, DetectionMeasure measure, bool bos, bool current) {
  a = a.clone().to(torch::kFloat64);
  const torch::Tensor target = d.to(torch::kFloat64);
  if (measure == DetectionMeasure::kMul) {
    if (bos) a.select(1, 0).zero_();
    if (current) a.fill_diagonal_(0.0);
    return ((a * target).sum() / a.sum()).item<double>();
  }
  torch::Tensor diff = (a - target).abs();
  if (bos) diff.select(1, 0).zero_();
  if (current) diff.fill_diagonal_(0.0);
  return 1.0 - (diff.mean() * double(a.size(0))).item<double>();
}

TEST(HeadDetectorsTest, BatchedScoresEqualTransformerLensFormulaPerPromptAndHead) {
  ModelConfig config = testing::tiny_config();
  HookedTransformer model(config);
  model->eval();
  const torch::Tensor tokens = torch::randint(0, config.d_vocab, {5, 9}, torch::kLong);
  const ActivationCache cache =
      model->run_with_cache(tokens, model->names_filter({"blocks.*.attn.hook_pattern"})).second;
  const std::vector<DetectionPattern> patterns = {previous_token_pattern(tokens), duplicate_token_pattern(tokens),
                                                  induction_pattern(tokens), bos_pattern(tokens)};
  for (DetectionMeasure measure : {DetectionMeasure::kMul, DetectionMeasure::kAbs}) {
    for (bool bos : {false, true}) {
      for (bool current : {false, true}) {
        DetectorOptions options;
        options.measure = measure, options.exclude_bos = bos, options.exclude_current_token = current;
        options.max_batch = 2;  // chunks change nothing
        const HeadDetection scores = detect_heads(model, tokens, patterns, options);
        for (size_t d = 0; d < patterns.size(); ++d) {
          for (int64_t l = 0; l < config.n_layers; ++l) {
            const torch::Tensor pattern = cache.at("blocks." + std::to_string(l) + ".attn.hook_pattern");
            for (int64_t h = 0; h < config.n_heads; ++h) {
              for (int64_t b = 0; b < tokens.size(0); ++b) {
                const double expected = reference_score(pattern[b][h], patterns[d].target[b], measure, bos, current);
                EXPECT_NEAR(scores.per_prompt[int64_t(d)][l][h][b].item<float>(), expected, 2e-5)
                    << patterns[d].name << " L" << l << "H" << h << " prompt " << b;
              }
            }
          }
        }
      }
    }
  }
}

TEST(HeadDetectorsTest, PromptsWithoutRowsAreLeftOutAndBadInputIsRefused) {
  HookedTransformer first = testing::copy_first_token_model(8, 8);
  const torch::Tensor ids = torch::randint(0, 8, {2, 6}, torch::kLong);
  const DetectionPattern partial = span_pattern("x", {{5, 6}, {3, 3}}, {{0, 1}, {0, 1}}, 6);  // prompt 1: no rows
  const HeadDetection scores = detect_heads(first, ids, {partial}, DetectorOptions{});
  EXPECT_TRUE(std::isnan(scores.per_prompt[0][0][0][1].item<float>()));
  EXPECT_NEAR(scores.mean[0][0][0].item<float>(), 1.0f, 1e-6);
  EXPECT_THROW(span_pattern("x", {{0, 7}}, {{0, 1}}, 6), InputError);
  EXPECT_THROW(span_pattern("x", {{0, 1}}, {}, 6), InputError);
  EXPECT_THROW(detect_heads(first, ids, {bos_pattern(ids.narrow(1, 0, 4))}, DetectorOptions{}), InputError);
  EXPECT_THROW(parse_detection_measure("sum", "--measure"), InputError);
}

}  // namespace
}  // namespace mechlens
