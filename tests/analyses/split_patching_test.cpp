// Patching with the prompts cut into groups (patching/split_patching.h): the joined result takes each
// prompt's values from its own group's session bit for bit, equals the unsplit sweep to rounding
// (exact values, the attribution estimate and the circuit check, whose joins are weighted means),
// keeps each group's shards apart for --resume, and refuses what grouping would change.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <filesystem>
#include <fstream>

#include "patching/split_patching.h"
#include "test_util.h"
#include "util/error.h"

namespace mechlens {
namespace {
namespace fs = std::filesystem;

HookedTransformer make_model(uint64_t seed = 3) {
  ModelConfig config = testing::tiny_config();
  config.n_layers = 3;
  config.seed = seed;
  return HookedTransformer(config);
}

// Five prompt pairs that differ at two positions, answers at varying positions.
PatchingInputs make_inputs(const ModelConfig& config) {
  PatchingInputs in;
  in.clean = testing::random_tokens(5, 7, config.d_vocab, 31);
  in.corrupted = in.clean.clone();
  in.corrupted.select(1, 2).copy_(testing::random_tokens(5, 1, config.d_vocab, 32).squeeze(1));
  in.corrupted.select(1, 4).copy_(testing::random_tokens(5, 1, config.d_vocab, 33).squeeze(1));
  in.answer_pos = torch::full({5}, 6, torch::kLong);
  in.answer_pos[1] = 3;
  in.correct = testing::random_tokens(1, 5, config.d_vocab, 34).squeeze(0);
  in.wrong = (in.correct + 1) % config.d_vocab;
  return in;
}

SplitPatchRequest request_for(const ModelConfig& config, int64_t groups) {
  SplitPatchRequest request;
  request.components = {parse_components("head_z", config).front(), parse_components("resid_pre", config).front()};
  request.groups = groups;
  return request;
}

TEST(SplitPromptsTest, GroupsAreConsecutiveCoverEveryPromptAndDifferByAtMostOne) {
  const std::vector<PromptRange> ranges = split_prompts(11, 4);
  ASSERT_EQ(ranges.size(), 4u);
  int64_t next = 0;
  for (const PromptRange& range : ranges) {
    EXPECT_EQ(range.begin, next);
    EXPECT_TRUE(range.size() == 2 || range.size() == 3) << range.size();
    next = range.end;
  }
  EXPECT_EQ(next, 11);
  EXPECT_EQ(ranges[0].size(), 3);  // the remainder goes to the first groups
  EXPECT_EQ(ranges[3].size(), 2);
  EXPECT_EQ(split_prompts(4, 1).front().size(), 4);
  for (int64_t bad : {0, 5}) {
    try {
      split_prompts(4, bad);
      ADD_FAILURE() << "accepted " << bad << " groups of 4 prompts";
    } catch (const InputError& e) {
      EXPECT_NE(std::string(e.what()).find(fmt::format("4 prompts into {} groups", bad)), std::string::npos)
          << e.what();
    }
  }
}

TEST(SplitPatchingTest, EachPromptTakesItsGroupsSessionValuesBitForBit) {
  HookedTransformer model = make_model();
  const PatchingInputs inputs = make_inputs(model->config());
  const SplitPatchRequest request = request_for(model->config(), 2);
  const SplitPatchOutcome joined = run_split_patching(model, inputs, MetricKind::kLogitDiff, request, false);
  ASSERT_EQ(joined.exact.size(), 2u);
  EXPECT_EQ(joined.groups_on_this_rank, 2);
  const std::vector<PromptRange> ranges = split_prompts(5, 2);
  int64_t rows = 0;
  for (const PromptRange& range : ranges) {
    PatchingSession alone(model, slice_inputs(inputs, range), MetricKind::kLogitDiff);
    EXPECT_TRUE(torch::equal(joined.clean_per_prompt.narrow(0, range.begin, range.size()), alone.clean_per_prompt()));
    const PatchResult own = alone.run(request.components[0], request.options);
    EXPECT_TRUE(torch::equal(joined.exact[0].per_prompt.narrow(-1, range.begin, range.size()), own.per_prompt))
        << "prompts " << range.begin << ".." << range.end - 1;
    rows += own.rows_computed;
  }
  EXPECT_EQ(joined.exact[0].rows_computed, rows);
  // The batch mean is recomputed from the joined per-prompt values, and normalised with the joined runs.
  const PatchResult& z = joined.exact[0];
  EXPECT_TRUE(torch::equal(z.metric, z.per_prompt.to(torch::kFloat64).mean(-1).to(torch::kFloat32)));
  EXPECT_DOUBLE_EQ(joined.clean_metric, joined.clean_per_prompt.to(torch::kFloat64).mean().item<double>());
  EXPECT_TRUE(
      torch::allclose(z.normalised, normalise(z.metric, z.direction, joined.clean_metric, joined.corrupted_metric)));
}

TEST(SplitPatchingTest, JoinedResultsEqualTheUnsplitSweepToRounding) {
  HookedTransformer model = make_model();
  const PatchingInputs inputs = make_inputs(model->config());
  testing::TestDir dir;
  std::ofstream(dir.file("circuit.json"))
      << R"({"families": {"early": [{"layer": 0, "head": 0}, {"layer": 0, "head": 1}],
                          "late": [{"layer": 2, "head": 0}, {"layer": 2, "head": 3, "positions": "4:"}]}})";
  const Circuit circuit = load_circuit(dir.file("circuit.json"), model->config(), 7);
  SplitPatchRequest request = request_for(model->config(), 3);
  request.attribution = true;
  request.circuit = &circuit;
  for (MetricKind metric : {MetricKind::kLogitDiff, MetricKind::kKl}) {
    const SplitPatchOutcome joined = run_split_patching(model, inputs, metric, request, false);
    PatchingSession whole(model, inputs, metric);
    EXPECT_NEAR(joined.clean_metric, whole.clean_metric(), 1e-5);
    EXPECT_NEAR(joined.corrupted_metric, whole.corrupted_metric(), 1e-5);
    for (size_t c = 0; c < request.components.size(); ++c) {
      const PatchResult exact = whole.run(request.components[c], request.options);
      const PatchResult estimate = whole.attribution(request.components[c], request.options);
      const std::string name = request.components[c].name();
      EXPECT_EQ(joined.exact[c].labels, exact.labels) << name;
      EXPECT_TRUE(torch::allclose(joined.exact[c].per_prompt, exact.per_prompt, 1e-4, 1e-5)) << name;
      EXPECT_TRUE(torch::allclose(joined.exact[c].metric, exact.metric, 1e-4, 1e-5)) << name;
      EXPECT_EQ(joined.exact[c].rows_computed, exact.rows_computed) << name;
      // Attribution: the groups' estimates of their own means, weighted by their prompts.
      ASSERT_TRUE(joined.attribution[c].has_value()) << name;
      EXPECT_TRUE(torch::allclose(joined.attribution[c]->metric, estimate.metric, 1e-4, 1e-5)) << name;
    }
    const CircuitReport report = check_circuit(whole, circuit);
    ASSERT_TRUE(joined.circuit.has_value());
    ASSERT_EQ(joined.circuit->variants.size(), report.variants.size());
    for (size_t v = 0; v < report.variants.size(); ++v) {
      EXPECT_NEAR(joined.circuit->variants[v].metric, report.variants[v].metric, 1e-5) << report.variants[v].name;
      EXPECT_NEAR(joined.circuit->variants[v].recovered, report.variants[v].recovered, 1e-4);
    }
  }
}

// Without answers, each group's set-up fills in its prompts' own top tokens: the joined answers are
// the whole batch's, and every prompt scores as in its group's session given those answers.
TEST(SplitPatchingTest, DefaultAnswersComeFromEachGroupsSetUp) {
  HookedTransformer model = make_model();
  PatchingInputs inputs = make_inputs(model->config());
  inputs.correct = inputs.wrong = torch::Tensor();
  const SplitPatchRequest request = request_for(model->config(), 2);
  const SplitPatchOutcome joined = run_split_patching(model, inputs, MetricKind::kLogitDiff, request, false);
  torch::NoGradGuard no_grad;
  const torch::Tensor rows = torch::arange(inputs.batch());
  EXPECT_TRUE(torch::equal(joined.correct, model->forward(inputs.clean).index({rows, inputs.answer_pos}).argmax(-1)));
  EXPECT_TRUE(torch::equal(joined.wrong, model->forward(inputs.corrupted).index({rows, inputs.answer_pos}).argmax(-1)));
  PatchingInputs given = inputs;
  given.correct = joined.correct;
  given.wrong = joined.wrong;
  for (const PromptRange& range : split_prompts(5, 2)) {
    PatchingSession alone(model, slice_inputs(given, range), MetricKind::kLogitDiff);
    EXPECT_TRUE(torch::equal(joined.exact[0].per_prompt.narrow(-1, range.begin, range.size()),
                             alone.run(request.components[0], request.options).per_prompt));
  }
}

TEST(SplitPatchingTest, EachGroupKeepsItsShardsAndAResumeReadsThemAsSaved) {
  testing::TestDir scratch;
  const fs::path shards = scratch.path() / "out.h5.shards";
  HookedTransformer model = make_model(3);
  PatchingInputs inputs = make_inputs(model->config());
  inputs.answer_pos.fill_(6);  // no row left out for its answer preceding the patch
  SplitPatchRequest request = request_for(model->config(), 2);
  request.options.max_batch = 4;
  request.options.skip_unchanged = false;  // every row computed, so every value comes from a shard
  request.options.sharing.shard_dir = shards.string();
  request.options.sharing.run_key = "run-a";
  const SplitPatchOutcome first = run_split_patching(model, inputs, MetricKind::kLogitDiff, request, false);
  for (const char* group : {"prompts-0-of-2", "prompts-1-of-2"}) {
    int64_t files = 0;
    for (const auto& entry : fs::directory_iterator(shards / group)) files += entry.path().extension() == ".shard";
    EXPECT_GT(files, 0) << group;
  }
  // Another model under the same run key: a resume takes every sweep from the saved shards, so its
  // patched values are the first model's (its own set-up runs are recomputed).
  HookedTransformer other = make_model(4);
  request.options.sharing.resume = true;
  const SplitPatchOutcome resumed = run_split_patching(other, inputs, MetricKind::kLogitDiff, request, false);
  EXPECT_TRUE(torch::equal(resumed.exact[0].per_prompt, first.exact[0].per_prompt));
  EXPECT_FALSE(torch::equal(resumed.clean_per_prompt, first.clean_per_prompt));
  // Without resume, the shards are replaced: the other model's own values.
  request.options.sharing.resume = false;
  const SplitPatchOutcome fresh = run_split_patching(other, inputs, MetricKind::kLogitDiff, request, false);
  EXPECT_FALSE(torch::equal(fresh.exact[0].per_prompt, first.exact[0].per_prompt));
}

TEST(SplitPatchingTest, AblationsAcrossPromptsAreRefused) {
  HookedTransformer model = make_model();
  const PatchingInputs inputs = make_inputs(model->config());
  for (Ablation ablation : {Ablation::kMean, Ablation::kResample}) {
    SplitPatchRequest request = request_for(model->config(), 2);
    request.options.ablation = ablation;
    try {
      run_split_patching(model, inputs, MetricKind::kLogitDiff, request, false);
      ADD_FAILURE() << ablation_name(ablation) << " ablation accepted";
    } catch (const InputError& e) {
      EXPECT_NE(std::string(e.what()).find(ablation_name(ablation) + " ablation takes its values across all prompts"),
                std::string::npos)
          << e.what();
    }
  }
  // Zero ablation reads no other prompt: allowed, and equal to the unsplit sweep's to rounding.
  SplitPatchRequest zero = request_for(model->config(), 2);
  zero.options.ablation = Ablation::kZero;
  const SplitPatchOutcome joined = run_split_patching(model, inputs, MetricKind::kLogitDiff, zero, false);
  PatchingSession whole(model, inputs, MetricKind::kLogitDiff);
  EXPECT_TRUE(torch::allclose(joined.exact[0].metric, whole.run(zero.components[0], zero.options).metric, 1e-4, 1e-5));
}

}  // namespace
}  // namespace mechlens
