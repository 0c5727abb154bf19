// Activation patching: the batched, layer-skipping sweep against a one-forward-per-index loop, the
// score's fixed points, attribution patching where it must be exact, and input errors.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <fmt/format.h>

#include <algorithm>
#include <fstream>

#include "patching/circuit.h"
#include "patching/grouped.h"
#include "patching/patching.h"
#include "test_util.h"
#include "util/error.h"

namespace mechlens {
namespace {

using Variant = testing::ConfigVariant;

const Variant kVariants[] = {
    testing::kPreLn,
    testing::kPostLn,
    {"rotary_gqa",
     [](ModelConfig& c) {
       c.positional_embedding_type = PositionalEmbedding::kRotary;
       c.n_key_value_heads = 2;
       c.normalization_type = NormType::kRMS;
     }},
    testing::kAttnOnly,
    // Bidirectional attention: a patch reaches positions before it, so no row may be skipped for its
    // answer preceding the patch, and no pass may start late.
    {"encoder",
     [](ModelConfig& c) {
       c.attention_dir = AttentionDir::kBidirectional;
       c.norm_placement = NormPlacement::kPost;
       c.ln_embed = true;
       c.d_vocab_token_type = 2;
     }},
};

HookedTransformer make_model(const Variant& variant) {
  ModelConfig config = testing::tiny_config();
  config.n_layers = 3;
  variant.apply(config);
  return HookedTransformer(config);
}

// Clean and corrupted prompts that differ at a few positions (not the same ones in every prompt);
// answers at varying positions.
PatchingInputs make_inputs(const ModelConfig& config, int64_t batch = 3, int64_t pos = 7) {
  PatchingInputs inputs;
  inputs.clean = testing::random_tokens(batch, pos, config.d_vocab, 11);
  inputs.corrupted = inputs.clean.clone();
  inputs.corrupted.index_put_({torch::indexing::Slice(), 2},
                              testing::random_tokens(batch, 1, config.d_vocab, 12).squeeze(1));
  inputs.corrupted.index_put_({torch::indexing::Slice(), 4},
                              testing::random_tokens(batch, 1, config.d_vocab, 13).squeeze(1));
  inputs.corrupted[batch - 1][2] = inputs.clean[batch - 1][2];  // prompts differ at different positions
  inputs.answer_pos = torch::full({batch}, pos - 1, torch::kLong);
  inputs.answer_pos[0] = 3;  // one prompt reads its answer before some patched positions
  inputs.correct = testing::random_tokens(1, batch, config.d_vocab, 14).squeeze(0);
  inputs.wrong = (inputs.correct + 1) % config.d_vocab;
  return inputs;
}

std::vector<std::string> all_component_names(const ModelConfig& config) {
  std::vector<std::string> names{"resid_pre",  "resid_post", "attn_out",        "head_z",     "head_q",
                                 "head_k",     "head_v",     "head_pattern",    "head_z_all", "head_q_all",
                                 "head_k_all", "head_v_all", "head_pattern_all"};
  if (!config.attn_only()) {
    names.push_back("resid_mid");
    names.push_back("mlp_out");
  }
  return names;
}

class PatchingVariantTest : public ::testing::TestWithParam<Variant> {};

TEST_P(PatchingVariantTest, BatchedSweepEqualsNaiveLoopForEveryComponent) {
  HookedTransformer model = make_model(GetParam());
  PatchingSession session(model, make_inputs(model->config()), MetricKind::kLogitDiff);
  for (const auto& name : all_component_names(model->config())) {
    for (Direction direction : {Direction::kDenoising, Direction::kNoising}) {
      const Component component = parse_components(name, model->config()).front();
      PatchOptions options;
      options.direction = direction;
      options.max_batch = 7;  // several packs per layer
      const PatchResult naive = session.run_naive(component, options);
      for (bool skip_unchanged : {true, false}) {
        options.skip_unchanged = skip_unchanged;
        const PatchResult fast = session.run(component, options);
        EXPECT_EQ(fast.dims, component.dims(model->config()));
        EXPECT_TRUE(testing::tensors_close(fast.metric, naive.metric, 1e-5))
            << name << " " << direction_name(direction) << " skip_unchanged=" << skip_unchanged;
        EXPECT_TRUE(testing::tensors_close(fast.normalised, naive.normalised, 1e-4)) << name;
        // Per prompt too: the batched sweep keeps every (run, prompt) value, not only the mean.
        EXPECT_TRUE(testing::tensors_close(fast.per_prompt, naive.per_prompt, 1e-5)) << name;
        EXPECT_TRUE(testing::tensors_close(fast.per_prompt.mean(-1), fast.metric, 1e-5)) << name;
      }
    }
  }
}

TEST_P(PatchingVariantTest, AblationsAndOtherMetricsMatchNaiveLoop) {
  HookedTransformer model = make_model(GetParam());
  for (MetricKind metric : {MetricKind::kProb, MetricKind::kKl}) {
    PatchingSession session(model, make_inputs(model->config()), metric);
    for (Ablation ablation : {Ablation::kZero, Ablation::kMean, Ablation::kResample}) {
      for (const char* name : {"resid_pre", "head_z", "head_pattern_all"}) {
        const Component component = parse_components(name, model->config()).front();
        PatchOptions options;
        options.ablation = ablation;
        options.positions = {1, 4, 6};
        options.layers = {0, 2};
        const PatchResult fast = session.run(component, options);
        EXPECT_EQ(fast.direction, Direction::kNoising);
        EXPECT_TRUE(testing::tensors_close(fast.metric, session.run_naive(component, options).metric, 1e-5))
            << name << " " << ablation_name(ablation) << " " << metric_name(metric);
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Variants, PatchingVariantTest, ::testing::ValuesIn(kVariants), testing::variant_name);

TEST(PatchingTest, PatchingTheOnlyDifferenceScoresOneAndTheRestZero) {
  HookedTransformer model = make_model(kVariants[0]);
  PatchingInputs inputs = make_inputs(model->config());
  inputs.corrupted = inputs.clean.clone();
  inputs.corrupted.index_put_({torch::indexing::Slice(), 2}, (inputs.clean.select(1, 2) + 5) % model->config().d_vocab);
  inputs.answer_pos.fill_(6);
  PatchingSession session(model, inputs, MetricKind::kLogitDiff);
  ASSERT_GT(std::abs(session.clean_metric() - session.corrupted_metric()), 1e-3);
  for (Direction direction : {Direction::kDenoising, Direction::kNoising}) {
    PatchOptions options;
    options.direction = direction;
    const PatchResult result = session.run(parse_components("resid_pre", model->config()).front(), options);
    // Layer 0 holds the only difference at position 2: patching it patches everything.
    torch::Tensor expected = torch::zeros({1, 7});
    expected[0][2] = 1.0;
    EXPECT_TRUE(testing::tensors_close(result.normalised.narrow(0, 0, 1), expected, 1e-4));
    // The last layer's answer position carries everything the logits read.
    const PatchResult last = session.run(parse_components("resid_post", model->config()).front(), options);
    EXPECT_NEAR(last.normalised[2][6].item<double>(), 1.0, 1e-4);
    EXPECT_NEAR(last.normalised[2][5].item<double>(), 0.0, 1e-4);
  }
}

TEST(PatchingTest, PatchingARunWithItsOwnActivationsChangesNothing) {
  HookedTransformer model = make_model(kVariants[1]);
  PatchingInputs inputs = make_inputs(model->config());
  inputs.corrupted = inputs.clean.clone();
  PatchingSession session(model, inputs, MetricKind::kLogitDiff);
  // Row skipping off: every patched run is really computed, so the check is not vacuous.
  PatchOptions options;
  options.skip_unchanged = false;
  for (const auto& name : all_component_names(model->config())) {
    const PatchResult result = session.run(parse_components(name, model->config()).front(), options);
    EXPECT_TRUE(testing::tensors_close(result.metric, torch::full_like(result.metric, session.clean_metric()), 1e-5))
        << name;
  }
}

TEST(PatchingTest, EncoderWithoutHeadIsScoredByCosineAndLaterPatchesReachEarlierAnswers) {
  ModelConfig config = testing::tiny_config();
  config.n_layers = 2;
  config.attention_dir = AttentionDir::kBidirectional;
  config.norm_placement = NormPlacement::kPost;
  config.ln_embed = true;
  config.d_vocab_token_type = 2;
  config.has_unembed = false;
  HookedTransformer model(config);
  PatchingInputs inputs = make_inputs(config);
  inputs.correct.zero_();
  inputs.wrong.zero_();
  inputs.answer_pos.fill_(0);  // every patched difference (positions 2 and 4) lies after the answer
  PatchingSession session(model, inputs, MetricKind::kCosine);
  EXPECT_NEAR(session.clean_metric(), 1.0, 1e-6);  // the clean output against itself
  ASSERT_LT(session.corrupted_metric(), 1.0 - 1e-4);
  const Component component = parse_components("resid_pre", config).front();
  PatchOptions options;
  const PatchResult fast = session.run(component, options);
  EXPECT_TRUE(testing::tensors_close(fast.metric, session.run_naive(component, options).metric, 1e-5));
  // Layer 0, position 2 moves the answer at position 0 (a causal model could not).
  EXPECT_GT(std::abs(fast.normalised[0][2].item<double>()), 1e-3);
}

TEST(PatchingTest, GroupedQueryKeysAndValuesAreIndexedByKeyValueHead) {
  ModelConfig config = testing::tiny_config();
  config.n_key_value_heads = 2;
  const std::vector<std::string> kv{"layer", "pos", "kv_head"}, query{"layer", "pos", "head"};
  EXPECT_EQ(parse_components("head_k", config).front().dims(config), kv);
  EXPECT_EQ(parse_components("head_v", config).front().dims(config), kv);
  EXPECT_EQ(parse_components("head_z", config).front().dims(config), query);
  EXPECT_EQ(parse_components("head_k", testing::tiny_config()).front().dims(testing::tiny_config()), query);
}

TEST(PatchingTest, CompositesStackTheirComponents) {
  HookedTransformer model = make_model(kVariants[0]);
  EXPECT_EQ(parse_components("blocks", model->config()).size(), 3u);
  EXPECT_EQ(parse_components("heads_all", model->config()).size(), 5u);
}

TEST(AttributionTest, ExactWhereTheMetricIsLinearInTheActivation) {
  // Post-norm models have no final norm: logits, and the logit difference, are linear in the last
  // block's resid_post, so the first-order estimate is the patched value itself.
  HookedTransformer model = make_model(kVariants[1]);
  PatchingSession session(model, make_inputs(model->config()), MetricKind::kLogitDiff);
  const Component component = parse_components("resid_post", model->config()).front();
  for (Direction direction : {Direction::kDenoising, Direction::kNoising}) {
    PatchOptions options;
    options.direction = direction;
    options.layers = {2};
    const PatchResult exact = session.run(component, options);
    const PatchResult attribution = session.attribution(component, options);
    EXPECT_TRUE(testing::tensors_close(attribution.metric, exact.metric, 1e-4));
  }
}

TEST(AttributionTest, ShapesFollowTheExactSweepAndCorrelate) {
  HookedTransformer model = make_model(kVariants[0]);
  PatchingSession session(model, make_inputs(model->config()), MetricKind::kLogitDiff);
  for (const char* name : {"resid_pre", "head_z", "head_v_all", "head_pattern", "head_pattern_all"}) {
    const Component component = parse_components(name, model->config()).front();
    PatchOptions options;
    options.positions = {0, 2, 4, 6};
    const PatchResult exact = session.run(component, options);
    const PatchResult attribution = session.attribution(component, options);
    EXPECT_EQ(attribution.metric.sizes(), exact.metric.sizes()) << name;
    EXPECT_EQ(attribution.labels, exact.labels) << name;
    EXPECT_FALSE(attribution.metric.isnan().any().item<bool>()) << name;
  }
  // A patch of the residual stream at the last layer is nearly linear: strongly correlated.
  PatchOptions last;
  last.layers = {2};
  const Component resid = parse_components("resid_mid", model->config()).front();
  EXPECT_GT(correlation(session.attribution(resid, last).metric, session.run(resid, last).metric), 0.5);
}

// Spans whose positions differ per prompt (batch 3, 7 positions); one is absent from one prompt.
std::vector<PositionSpan> test_spans() {
  return {{"second_and_third", {{1, 3}, {2, 4}, {1, 3}}},
          {"changed", {{2, 3}, {4, 5}, {2, 5}}},
          {"tail", {{5, 7}, {4, 7}, {3, 3}}}};
}

TEST_P(PatchingVariantTest, SpansMatchNaiveLoop) {
  HookedTransformer model = make_model(GetParam());
  PatchingSession session(model, make_inputs(model->config()), MetricKind::kLogitDiff);
  for (const char* name : {"resid_pre", "attn_out", "head_z", "head_k", "head_pattern", "head_z_all"}) {
    const Component component = parse_components(name, model->config()).front();
    for (Direction direction : {Direction::kDenoising, Direction::kNoising}) {
      PatchOptions options;
      options.direction = direction;
      options.spans = test_spans();
      options.max_batch = 5;
      const PatchResult naive = session.run_naive(component, options);
      for (bool skip_unchanged : {true, false}) {
        options.skip_unchanged = skip_unchanged;
        const PatchResult fast = session.run(component, options);
        EXPECT_TRUE(testing::tensors_close(fast.metric, naive.metric, 1e-5)) << name << " " << skip_unchanged;
      }
      if (!component.all_positions) {
        EXPECT_EQ(naive.span_names, (std::vector<std::string>{"second_and_third", "changed", "tail"}));
        EXPECT_EQ(std::count(naive.dims.begin(), naive.dims.end(), "span"), 1) << name;
      }
    }
  }
}

TEST(PatchingTest, ModelsWithOrthogonalNoiseMatchNaiveLoop) {
  // The noise reads every source position's attention input, so packs recompute from position 0.
  ModelConfig config = testing::tiny_config();
  config.n_layers = 3;
  config.orthogonal_noise = OrthogonalNoise::kQKVO;
  config.orthogonal_noise_scale = 0.5;
  HookedTransformer model(config);
  PatchingSession session(model, make_inputs(config), MetricKind::kLogitDiff);
  for (const char* name : {"resid_pre", "head_z", "head_pattern"}) {
    const Component component = parse_components(name, config).front();
    EXPECT_TRUE(
        testing::tensors_close(session.run(component, {}).metric, session.run_naive(component, {}).metric, 1e-5))
        << name;
  }
}

TEST(PatchingTest, OnePositionSpansEqualPatchingByPosition) {
  HookedTransformer model = make_model(kVariants[0]);
  PatchingSession session(model, make_inputs(model->config()), MetricKind::kLogitDiff);
  PatchOptions by_span, by_position;
  for (int64_t pos : {1, 4, 6}) {
    by_span.spans.push_back({fmt::format("pos{}", pos), std::vector<std::pair<int64_t, int64_t>>(3, {pos, pos + 1})});
    by_position.positions.push_back(pos);
  }
  for (const char* name : {"resid_mid", "head_v", "head_pattern"}) {
    const Component component = parse_components(name, model->config()).front();
    const PatchResult spans = session.run(component, by_span);
    const PatchResult positions = session.run(component, by_position);
    EXPECT_TRUE(testing::tensors_close(spans.metric, positions.metric, 1e-6)) << name;
    // Attribution is additive over positions: a span's estimate sums its positions' changes.
    const PatchResult span_attr = session.attribution(component, by_span);
    const PatchResult pos_attr = session.attribution(component, by_position);
    EXPECT_TRUE(testing::tensors_close(span_attr.metric, pos_attr.metric, 1e-5)) << name;
  }
  PatchOptions two;
  two.spans = {{"four_and_five", std::vector<std::pair<int64_t, int64_t>>(3, {4, 6})}};
  PatchOptions four, five;
  four.positions = {4};
  five.positions = {5};
  const Component resid = parse_components("resid_pre", model->config()).front();
  const double target = session.corrupted_metric();
  EXPECT_TRUE(testing::tensors_close(
      session.attribution(resid, two).metric - target,
      session.attribution(resid, four).metric + session.attribution(resid, five).metric - 2 * target, 1e-4));
}

// Without answers, the session fills in each run's own top token from its set-up runs, and scores
// exactly as when those tokens are given.
TEST(PatchingDefaultAnswersTest, EachRunsTopTokenFromTheSetUp) {
  HookedTransformer model = make_model(kVariants[0]);
  torch::NoGradGuard no_grad;
  PatchingInputs given = make_inputs(model->config());
  const torch::Tensor rows = torch::arange(given.batch());
  given.correct = model->forward(given.clean).index({rows, given.answer_pos}).argmax(-1);
  given.wrong = model->forward(given.corrupted).index({rows, given.answer_pos}).argmax(-1);
  PatchingInputs defaults = given;
  defaults.correct = defaults.wrong = torch::Tensor();

  // The probability metric reads the correct token alone (this tiny model's runs may agree on the top token).
  PatchingSession with_answers(model, given, MetricKind::kProb);
  PatchingSession with_defaults(model, defaults, MetricKind::kProb);
  EXPECT_TRUE(torch::equal(with_defaults.inputs().correct, given.correct));
  EXPECT_TRUE(torch::equal(with_defaults.inputs().wrong, given.wrong));
  EXPECT_TRUE(torch::equal(with_defaults.clean_per_prompt(), with_answers.clean_per_prompt()));
  const Component head_z = parse_components("head_z", model->config()).front();
  EXPECT_TRUE(torch::equal(with_defaults.run(head_z, {}).per_prompt, with_answers.run(head_z, {}).per_prompt));

  PatchingInputs half = given;
  half.wrong = torch::Tensor();  // one answer without the other is an error, not a default
  EXPECT_TRUE(testing::throws_with<InputError>([&] { PatchingSession(model, half, MetricKind::kLogitDiff); },
                                               "wrong must hold one value per prompt"));
}

TEST(PatchingErrorsTest, BadInputsNameTheProblem) {
  HookedTransformer model = make_model(kVariants[0]);
  const ModelConfig& config = model->config();
  PatchingInputs inputs = make_inputs(config);
  PatchingInputs shorter = inputs;
  shorter.corrupted = inputs.corrupted.narrow(1, 0, 6);
  EXPECT_TRUE(testing::throws_with<InputError>([&] { PatchingSession(model, shorter, MetricKind::kLogitDiff); },
                                               "corrupted prompts have shape [3, 6]"));
  PatchingInputs bad_answer = inputs;
  bad_answer.correct = torch::full({3}, config.d_vocab, torch::kLong);
  EXPECT_TRUE(testing::throws_with<InputError>([&] { PatchingSession(model, bad_answer, MetricKind::kLogitDiff); },
                                               "correct answer tokens must be ids in 0..22"));
  EXPECT_TRUE(
      testing::throws_with<InputError>([&] { parse_components("head_x", config); }, "unknown component 'head_x'"));
  EXPECT_TRUE(testing::throws_with<InputError>([&] { parse_metric("logitdiff"); }, "unknown metric"));

  PatchingSession session(model, inputs, MetricKind::kLogitDiff);
  PatchOptions bad_layer;
  bad_layer.layers = {3};
  EXPECT_TRUE(testing::throws_with<InputError>(
      [&] { session.run(parse_components("head_z", config).front(), bad_layer); }, "layer 3 is out of range"));
  PatchOptions bad_pos;
  bad_pos.positions = {7};
  EXPECT_TRUE(testing::throws_with<InputError>(
      [&] { session.run(parse_components("resid_pre", config).front(), bad_pos); }, "position 7 is out of range"));

  ModelConfig attn_only = config;
  attn_only.d_mlp = 0;
  EXPECT_TRUE(testing::throws_with<InputError>([&] { parse_components("mlp_out", attn_only); }, "attention-only"));
}

}  // namespace
}  // namespace mechlens

namespace mechlens {
namespace {

TEST(PatchingErrorsTest, BadSpansNameTheSpanAndPrompt) {
  HookedTransformer model = make_model(kVariants[0]);
  PatchingSession session(model, make_inputs(model->config()), MetricKind::kLogitDiff);
  const Component component = parse_components("resid_pre", model->config()).front();
  PatchOptions options;
  options.spans = {{"query", {{1, 2}, {2, 3}}}};
  EXPECT_TRUE(testing::throws_with<InputError>([&] { session.run(component, options); },
                                               "span 'query' has positions for 2 prompts"));
  options.spans = {{"query", {{1, 2}, {2, 3}, {5, 9}}}};
  EXPECT_TRUE(
      testing::throws_with<InputError>([&] { session.run(component, options); }, "span 'query' of prompt 2 is [5, 9)"));
}

TEST(GroupedPatchTest, GroupsAreTheMeansOfTheirPromptsNormalisedByTheirOwnRuns) {
  HookedTransformer model = make_model(kVariants[0]);
  PatchingSession session(model, make_inputs(model->config(), /*batch=*/4), MetricKind::kLogitDiff);
  const Component component = parse_components("resid_pre", model->config()).front();
  const PatchResult result = session.run(component, PatchOptions{});
  // Prompts 0 and 2 in group "7", prompts 1 and 3 in group "9".
  const PromptGroups groups = groups_from_values("parity", torch::tensor({7, 9, 7, 9}, torch::kLong).view({4, 1}));
  ASSERT_EQ(groups.labels, (std::vector<std::string>{"7", "9"}));
  const GroupedPatchResult grouped =
      group_patch_result(result, groups, session.clean_per_prompt(), session.corrupted_per_prompt());
  EXPECT_TRUE(torch::equal(grouped.count.to(torch::kLong), torch::tensor({2, 2}, torch::kLong)));
  const torch::Tensor even = result.per_prompt.index_select(-1, torch::tensor({0, 2}, torch::kLong));
  EXPECT_TRUE(testing::tensors_close(grouped.metric[0], even.mean(-1), 1e-6));
  EXPECT_TRUE(testing::tensors_close(grouped.metric_std[0], even.std(-1, /*unbiased=*/false), 1e-5));
  const double clean =
      session.clean_per_prompt().index_select(0, torch::tensor({1, 3}, torch::kLong)).mean().item<double>();
  const double corrupted =
      session.corrupted_per_prompt().index_select(0, torch::tensor({1, 3}, torch::kLong)).mean().item<double>();
  EXPECT_TRUE(testing::tensors_close(grouped.normalised[1],
                                     normalise(grouped.metric[1], Direction::kDenoising, clean, corrupted), 1e-6));
}

TEST(GroupedPatchTest, GroupsOfNamesKeepFirstAppearanceAndBadAnnotationsAreNamed) {
  const PromptGroups groups = groups_from_names("group", {"logop", "linear", "logop"});
  EXPECT_EQ(groups.labels, (std::vector<std::string>{"logop", "linear"}));
  EXPECT_EQ(groups.counts().to(torch::kLong)[0].item<int64_t>(), 2);
  try {
    groups_from_values("v1", torch::zeros({5, 3}, torch::kLong));
    ADD_FAILURE() << "a [5, 3] annotation was accepted";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("--group-by v1: the annotation has shape [5, 3]"), std::string::npos)
        << e.what();
  }
}

TEST(CircuitTest, EveryHeadRecoversAllAndNoHeadNothing) {
  HookedTransformer model = make_model(kVariants[0]);
  PatchingInputs inputs = make_inputs(model->config());
  inputs.answer_pos.fill_(6);  // differences at positions 2 and 4 reach the answer only through heads
  PatchingSession session(model, inputs, MetricKind::kLogitDiff);
  testing::TestDir dir;
  std::ofstream(dir.file("circuit.json"))
      << R"({"families": {"early": [{"layer": 0, "head": 0}, {"layer": 0, "head": 1}, {"layer": 0, "head": 2},
                                     {"layer": 0, "head": 3}],
                          "late": [{"layer": 1, "head": 0}, {"layer": 1, "head": 1}, {"layer": 1, "head": 2},
                                   {"layer": 1, "head": 3}, {"layer": 2, "head": 0, "positions": "0:"},
                                   {"layer": 2, "head": 1}, {"layer": 2, "head": 2}, {"layer": 2, "head": 3}]}})";
  const Circuit circuit = load_circuit(dir.file("circuit.json"), model->config(), 7);
  const CircuitReport report = check_circuit(session, circuit);
  ASSERT_EQ(report.variants.size(), 4u);
  EXPECT_EQ(report.variants[0].name, "circuit");
  EXPECT_NEAR(report.variants[0].recovered, 1.0, 1e-4);
  EXPECT_NEAR(report.variants[3].recovered, 0.0, 1e-4);
  EXPECT_EQ(report.variants[1].name, "without early");
  // Removing a family equals corrupting exactly its heads: the same as a circuit of the other family.
  std::ofstream(dir.file("late_only.json"))
      << R"({"families": {"late": [{"layer": 1, "head": 0}, {"layer": 1, "head": 1}, {"layer": 1, "head": 2},
                                   {"layer": 1, "head": 3}, {"layer": 2, "head": 0}, {"layer": 2, "head": 1},
                                   {"layer": 2, "head": 2}, {"layer": 2, "head": 3}]}})";
  const CircuitReport late = check_circuit(session, load_circuit(dir.file("late_only.json"), model->config(), 7));
  EXPECT_NEAR(late.variants[0].metric, report.variants[1].metric, 1e-5);
}

TEST(CircuitTest, BadFilesNameTheFileAndField) {
  const ModelConfig config = testing::tiny_config();
  testing::TestDir dir;
  std::ofstream(dir.file("bad_head.json")) << R"({"families": {"f": [{"layer": 0, "head": 9}]}})";
  EXPECT_TRUE(testing::throws_with<InputError>([&] { load_circuit(dir.file("bad_head.json"), config, 7); },
                                               "families.f[0].head=9 is outside 0..3"));
  std::ofstream(dir.file("not_json.json")) << "{families";
  EXPECT_TRUE(
      testing::throws_with<InputError>([&] { load_circuit(dir.file("not_json.json"), config, 7); }, "not valid JSON"));
}

}  // namespace
}  // namespace mechlens
