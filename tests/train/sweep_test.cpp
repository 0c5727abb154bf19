// Training sweeps: the grid expands as documented, logs read back as written, and the summary finds
// the jump step, the reachable hop count and the per-condition numbers of hand-made curves.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <filesystem>
#include <fstream>

#include "tasks/matching_task.h"
#include "test_util.h"
#include "train/sweep.h"
#include "train/sweep_summary.h"
#include "util/error.h"

namespace mechlens {
namespace {

// The shared tiny model, sized for the matching task's vocabulary and sequences.
ModelConfig tiny_matching_config() {
  ModelConfig c = testing::tiny_config();
  c.n_ctx = 14;
  c.d_vocab = MatchingTask::kVocab;
  return c;
}

TEST(SweepTest, AxesParseNumbersBooleansAndNames) {
  const SweepAxis gamma = parse_sweep_axis("init_gamma=0.5,1", "--vary");
  EXPECT_EQ(gamma.key, "init_gamma");
  ASSERT_EQ(gamma.values.size(), 2u);
  EXPECT_TRUE(gamma.values[0].is_number_float());
  EXPECT_TRUE(gamma.values[1].is_number_integer());
  const SweepAxis placement = parse_sweep_axis("norm_placement=pre,post", "--vary");
  EXPECT_EQ(placement.values[1], "post");
  EXPECT_TRUE(parse_sweep_axis("attn_bias=true", "--vary").values[0].is_boolean());
  EXPECT_THROW(parse_sweep_axis("init_gamma", "--vary"), InputError);
  EXPECT_THROW(parse_sweep_axis("=1", "--vary"), InputError);
  EXPECT_THROW(parse_sweep_axis("init_gamma=", "--vary"), InputError);
  EXPECT_THROW(parse_sweep_axis("init_gamma=0.5,,1", "--vary"), InputError);
}

TEST(SweepTest, GridExpandsFirstAxisSlowestSeedsFastest) {
  const std::vector<SweepAxis> axes = {parse_sweep_axis("init_gamma=0.5,1", "a"),
                                       parse_sweep_axis("norm_placement=pre,post", "b")};
  const std::vector<SweepPoint> points = expand_sweep(tiny_matching_config(), axes, {3, 7});
  ASSERT_EQ(points.size(), 8u);
  EXPECT_EQ(points[0].name, "init_gamma-0.5_norm_placement-pre_seed-3");
  EXPECT_EQ(points[1].name, "init_gamma-0.5_norm_placement-pre_seed-7");
  EXPECT_EQ(points[2].name, "init_gamma-0.5_norm_placement-post_seed-3");
  EXPECT_EQ(points[7].name, "init_gamma-1_norm_placement-post_seed-7");
  for (const SweepPoint& point : points) {
    EXPECT_EQ(point.config.seed, uint64_t(point.seed));
    EXPECT_EQ(point.config.d_model, 16);  // the base config's other keys stay
    EXPECT_EQ(point.config.n_heads, 4);
  }
  EXPECT_DOUBLE_EQ(points[0].config.init_gamma, 0.5);
  EXPECT_EQ(points[0].config.norm_placement, NormPlacement::kPre);
  EXPECT_DOUBLE_EQ(points[7].config.init_gamma, 1.0);
  EXPECT_EQ(points[7].config.norm_placement, NormPlacement::kPost);
  EXPECT_EQ(points[6].values, (std::vector<std::string>{"1", "post"}));
  // No axes: one run per seed.
  EXPECT_EQ(expand_sweep(tiny_matching_config(), {}, {0, 1, 2}).size(), 3u);
}

TEST(SweepTest, GridRefusesUnknownKeysBadValuesAndSeedAxes) {
  const ModelConfig base = tiny_matching_config();
  EXPECT_THROW(expand_sweep(base, {parse_sweep_axis("gamma=1", "a")}, {0}), InputError);
  EXPECT_THROW(expand_sweep(base, {parse_sweep_axis("seed=1,2", "a")}, {0}), InputError);
  EXPECT_THROW(expand_sweep(base, {parse_sweep_axis("norm_placement=sideways", "a")}, {0}), ConfigError);
  EXPECT_THROW(expand_sweep(base, {parse_sweep_axis("d_model=0", "a")}, {0}), ConfigError);
  EXPECT_THROW(expand_sweep(base, {}, {}), InputError);
}

TEST(SweepTest, TrainerLogsReadBackAsWritten) {
  const std::filesystem::path dir = std::filesystem::temp_directory_path() / "mechlens_sweep_log_test";
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  MatchingTask task(MatchingSettings{});
  const std::vector<Example> eval = generate_examples(task, 16, 5);
  SweepSettings settings;
  settings.points = expand_sweep(tiny_matching_config(), {}, {0});
  settings.out_dir = dir.string();
  settings.train.steps = 6;
  settings.train.batch_size = 8;
  settings.train.schedule.total_steps = 6;
  settings.train.schedule.warmup_steps = 1;
  settings.train.eval_every = 3;
  settings.train.show_progress = false;
  settings.eval_examples = eval;
  const std::vector<SweepRun> runs = run_sweep(settings, task);
  ASSERT_EQ(runs.size(), 1u);
  EXPECT_EQ(runs[0].curves.steps, (std::vector<int64_t>{3, 6}));
  EXPECT_EQ(runs[0].curves.columns.front(), "lr");
  ASSERT_EQ(runs[0].curves.rows.size(), 2u);
  EXPECT_EQ(runs[0].curves.rows[0].size(), runs[0].curves.columns.size());
  EXPECT_GT(runs[0].seconds, 0.0);
  // A finished run is not trained again: the second invocation reads its log.
  const auto written = std::filesystem::last_write_time(sweep_log_path(dir.string(), settings.points[0]));
  const std::vector<SweepRun> again = run_sweep(settings, task);
  EXPECT_EQ(again[0].seconds, 0.0);
  EXPECT_EQ(again[0].curves.rows, runs[0].curves.rows);
  EXPECT_EQ(std::filesystem::last_write_time(sweep_log_path(dir.string(), settings.points[0])), written);

  const std::string bad = (dir / "bad.csv").string();
  std::ofstream(bad) << "step,lr,loss\n10,0.1,2.0\n20,0.1\n";
  try {
    read_training_log(bad);
    FAIL() << "a short row was accepted";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("line 3 has 2 values, expected 3"), std::string::npos) << e.what();
  }
  std::ofstream(bad) << "lr,loss\n";
  EXPECT_THROW(read_training_log(bad), InputError);
  std::filesystem::remove_all(dir);
}

SweepRun hand_run(const std::string& name, std::vector<std::string> values, int64_t seed,
                  const std::vector<std::string>& columns, std::vector<int64_t> steps,
                  std::vector<std::vector<double>> rows) {
  SweepRun run;
  run.point.name = name;
  run.point.values = std::move(values);
  run.point.seed = seed;
  run.curves = TrainingCurves{columns, std::move(steps), std::move(rows)};
  return run;
}

TEST(SweepTest, SummaryFindsJumpsReachAndConditionMeans) {
  const std::vector<std::string> columns = {"test_first_token_acc", "test/order1_first_token_acc",
                                            "test/order2_first_token_acc", "test/order3_first_token_acc"};
  const double nan = std::numeric_limits<double>::quiet_NaN();
  std::vector<SweepRun> runs = {
      // jumps at step 20; solves orders 1 and 2, not 3
      hand_run("a0", {"2"}, 0, columns, {10, 20, 30}, {{0.1, 0.5, 0.1, 0}, {0.95, 1, 0.9, 0.2}, {0.97, 1, 0.95, 0.3}}),
      // jumps at step 30 (the threshold is inclusive); order 1 fails, so nothing is reached
      hand_run("a1", {"2"}, 1, columns, {10, 30}, {{0.2, 0.1, 0, 0}, {0.9, 0.8, 1, 1}}),
      // never jumps; orders 1..3 all solved (a gap-free run of orders); stopped at step 20
      hand_run("b0", {"3"}, 0, columns, {10, 20}, {{0.1, 0.9, 0.9, 0.9}, {nan, 0.9, 0.91, 0.99}}),
  };
  const SweepSummary s = summarize_sweep(runs, {"n_layers"}, SweepSummaryOptions{});
  EXPECT_EQ(s.steps, (std::vector<int64_t>{10, 20, 30}));
  EXPECT_EQ(s.curves.sizes(), (std::vector<int64_t>{3, 3, 4}));
  EXPECT_TRUE(std::isnan(s.curves[1][1][0].item<float>()));  // a1 has no step-20 evaluation
  EXPECT_EQ(s.jump_step[0].item<int64_t>(), 20);
  EXPECT_EQ(s.jump_step[1].item<int64_t>(), 30);
  EXPECT_EQ(s.jump_step[2].item<int64_t>(), -1);
  EXPECT_EQ(s.reachable_order[0].item<int64_t>(), 2);
  EXPECT_EQ(s.reachable_order[1].item<int64_t>(), 0);
  EXPECT_EQ(s.reachable_order[2].item<int64_t>(), 3);
  EXPECT_EQ(s.final_step[2].item<int64_t>(), 20);
  EXPECT_EQ(s.conditions, (std::vector<std::string>{"n_layers=2", "n_layers=3"}));
  EXPECT_EQ(s.condition_runs[0].item<int64_t>(), 2);
  EXPECT_EQ(s.condition_jumped[0].item<int64_t>(), 2);
  EXPECT_FLOAT_EQ(s.condition_jump_step[0].item<float>(), 25.0f);
  EXPECT_TRUE(std::isnan(s.condition_jump_step[1].item<float>()));
  EXPECT_FLOAT_EQ(s.condition_reachable[0].item<float>(), 1.0f);
  EXPECT_NEAR(s.condition_mean[0][0].item<float>(), (0.97 + 0.9) / 2, 1e-6);
  EXPECT_NEAR(s.condition_std[0][0].item<float>(), std::sqrt(2 * 0.035 * 0.035), 1e-6);  // sample std
  EXPECT_EQ(s.condition_std[1][1].item<float>(), 0.0f);                                  // one run
  // The CSVs carry one row per run / condition, with the axis value and the derived numbers.
  const std::string csv = sweep_runs_csv(s, runs);
  EXPECT_NE(csv.find("run,n_layers,seed,final_step,jump_step,reachable_order,test_first_token_acc"), std::string::npos);
  EXPECT_NE(csv.find("a0,2,0,30,20,2,0.97"), std::string::npos) << csv;
  EXPECT_NE(sweep_conditions_csv(s).find("\"n_layers=2\",2,2,25,1,"), std::string::npos) << sweep_conditions_csv(s);
}

TEST(SweepTest, ReachableOrderNeedsOneHopProblems) {
  const std::vector<std::string> columns = {"test/order2_first_token_acc"};
  const std::vector<SweepRun> runs = {hand_run("a", {}, 0, columns, {10}, {{1.0}})};
  const SweepSummary s = summarize_sweep(runs, {}, SweepSummaryOptions{});
  EXPECT_EQ(s.reachable_order[0].item<int64_t>(), -1);
  EXPECT_EQ(s.conditions, (std::vector<std::string>{"all"}));
  EXPECT_TRUE(std::isnan(s.condition_reachable[0].item<float>()));
}

}  // namespace
}  // namespace mechlens
