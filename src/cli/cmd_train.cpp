// `mechlens train`: train a model from a config JSON on a task and save the checkpoint.
#include <fmt/ranges.h>

#include <cmath>

#include "cli/command.h"
#include "cli/options.h"
#include "io/checkpoint.h"
#include "matching/matching_score.h"
#include "tasks/task_factory.h"
#include "train/trainer.h"
#include "util/error.h"
#include "util/sha256.h"

namespace mechlens::cli {
namespace {

// Held-out examples: for matching one set per split (train, test, ood), for other tasks one set.
std::vector<Example> evaluation_examples(const std::string& name, const std::vector<std::string>& options, int64_t n,
                                         uint64_t seed) {
  std::vector<Example> examples;
  if (name != "matching") return generate_examples(*make_task(name, options), n, seed ^ 0x5eedull);
  uint64_t offset = 1;
  for (const char* split : {"train", "test", "ood"}) {
    std::vector<std::string> split_options;
    for (const auto& option : options) {
      if (option.rfind("split=", 0) != 0) split_options.push_back(option);
    }
    split_options.push_back(fmt::format("split={}", split));
    for (auto& e : generate_examples(*make_task(name, split_options), n, seed ^ (0x5eedull + offset++))) {
      examples.push_back(std::move(e));
    }
  }
  return examples;
}

}  // namespace

int run_train(const std::vector<std::string>& args) {
  po::options_description options("options");
  // clang-format off
  options.add_options()
      ("task", po::value<std::string>()->required(), "task to train on: matching or logic")
      ("task-option", po::value<std::vector<std::string>>()->composing(), "task setting key=value (see mechlens data)")
      ("config", po::value<std::string>(), "model config JSON (default with --init-from: that checkpoint's)")
      ("init-from", po::value<std::string>(), "start from this checkpoint's weights (fresh optimizer and schedule)")
      ("out", po::value<std::string>()->required(), "checkpoint to write (.safetensors); OUT.state for --resume")
      ("steps", po::value<int64_t>()->default_value(2000), "optimizer steps")
      ("batch", po::value<int64_t>()->default_value(64), "examples per step")
      ("lr", po::value<double>()->default_value(1e-3), "peak learning rate (AdamW)")
      ("min-lr", po::value<double>()->default_value(1e-5), "learning rate at the end of the cosine decay")
      ("warmup", po::value<int64_t>()->default_value(100), "linear warm-up steps (from 0.1 x lr)")
      ("weight-decay", po::value<double>()->default_value(0.01), "AdamW weight decay")
      ("grad-clip", po::value<double>()->default_value(1.0), "max global gradient norm (0 = off)")
      ("eval-every", po::value<int64_t>()->default_value(200), "evaluate every N steps")
      ("eval-n", po::value<int64_t>()->default_value(1000), "held-out examples per evaluation group")
      ("checkpoint-every", po::value<int64_t>()->default_value(500), "save checkpoint and optimizer state every N steps")
      ("seed", po::value<int64_t>()->default_value(0), "training data seed (weights use the config's seed)")
      ("log", po::value<std::string>(), "CSV training log (loss and accuracy per evaluation group)")
      ("resume", po::bool_switch(), "continue from OUT and OUT.state")
      ("stop-after", po::value<int64_t>()->default_value(-1), "end this run after N steps with a checkpoint (train in chunks)")
      ("quiet", po::bool_switch(), "no progress bar");
  // clang-format on
  po::variables_map vm;
  if (!parse_options("train", "--task NAME (--config MODEL.json | --init-from CK) --out CK.safetensors [options]",
                     "Train a model on a synthetic task: AdamW, warm-up + cosine schedule, loss on the answer "
                     "tokens, periodic held-out evaluation, checkpoints and exact --resume.",
                     options, {}, args, vm)) {
    return 0;
  }
  std::vector<std::string> task_options;
  if (vm.count("task-option")) task_options = vm["task-option"].as<std::vector<std::string>>();
  const std::string task_name = vm["task"].as<std::string>();
  const auto task = make_task(task_name, task_options);
  if (!vm.count("config") && !vm.count("init-from")) throw UsageError{"train needs --config or --init-from"};
  HookedTransformer model = vm.count("init-from")
                                ? load_checkpoint(vm["init-from"].as<std::string>())
                                : HookedTransformer(ModelConfig::from_file(vm["config"].as<std::string>()));
  if (vm.count("init-from") && vm.count("config")) {
    const std::string config_path = vm["config"].as<std::string>();
    MECHLENS_CHECK(ConfigError, ModelConfig::from_file(config_path) == model->config(),
                   "--init-from {}: its model config differs from --config {}", vm["init-from"].as<std::string>(),
                   config_path);
  }

  TrainSettings settings;
  settings.steps = vm["steps"].as<int64_t>();
  settings.batch_size = vm["batch"].as<int64_t>();
  settings.schedule.lr = vm["lr"].as<double>();
  settings.schedule.min_lr = vm["min-lr"].as<double>();
  settings.schedule.warmup_steps = vm["warmup"].as<int64_t>();
  settings.schedule.total_steps = settings.steps;
  settings.weight_decay = vm["weight-decay"].as<double>();
  settings.grad_clip = vm["grad-clip"].as<double>();
  settings.eval_every = vm["eval-every"].as<int64_t>();
  settings.checkpoint_every = vm["checkpoint-every"].as<int64_t>();
  settings.seed = static_cast<uint64_t>(vm["seed"].as<int64_t>());
  settings.out = vm["out"].as<std::string>();
  if (vm.count("log")) settings.log_path = vm["log"].as<std::string>();
  settings.resume = vm["resume"].as<bool>();
  settings.stop_after = vm["stop-after"].as<int64_t>();
  settings.show_progress = !vm["quiet"].as<bool>();
  settings.metadata["task"] = task->settings_json();
  settings.metadata["train_command"] = fmt::format("mechlens train {}", fmt::join(args, " "));
  if (vm.count("init-from")) {
    // Provenance of a staged run: which weights it started from, by content.
    const std::string init = vm["init-from"].as<std::string>();
    settings.metadata["init_from"] = fmt::format("{} sha256:{}", init, sha256_file(init));
  }
  if (settings.steps < 1 || settings.batch_size < 1) throw UsageError{"--steps and --batch must be at least 1"};
  auto require = [](bool ok, const std::string& message) {
    if (!ok) throw UsageError{message};
  };
  const double lr = settings.schedule.lr, min_lr = settings.schedule.min_lr;
  require(std::isfinite(lr) && lr > 0, fmt::format("--lr is {}, expected a positive number", lr));
  require(std::isfinite(min_lr) && min_lr >= 0 && min_lr <= lr,
          fmt::format("--min-lr is {}, expected 0..--lr ({})", min_lr, lr));
  require(settings.schedule.warmup_steps >= 0, "--warmup must be >= 0");
  require(std::isfinite(settings.weight_decay) && settings.weight_decay >= 0, "--weight-decay must be >= 0");
  require(std::isfinite(settings.grad_clip) && settings.grad_clip >= 0, "--grad-clip must be >= 0 (0 = off)");
  require(settings.eval_every >= 0, "--eval-every must be >= 0 (0 = only at the end)");
  require(settings.checkpoint_every >= 0, "--checkpoint-every must be >= 0 (0 = only at the end)");
  // Bounds that catch a typo before hours of work: a billion steps or sequences per batch is beyond
  // any run these models make (the shipped ones take 2,000-40,000 steps of 64-256).
  constexpr int64_t kMaxSteps = 1'000'000'000, kMaxBatch = 1'000'000;
  require(settings.steps <= kMaxSteps, fmt::format("--steps is {}, expected 1..{}", settings.steps, kMaxSteps));
  require(settings.batch_size <= kMaxBatch,
          fmt::format("--batch is {}, expected 1..{}", settings.batch_size, kMaxBatch));
  require(vm["seed"].as<int64_t>() >= 0, "--seed must be >= 0");
  require(vm["eval-n"].as<int64_t>() >= 1 && vm["eval-n"].as<int64_t>() <= 10'000'000, "--eval-n must be 1..10000000");
  require(settings.stop_after == -1 || settings.stop_after >= 1, "--stop-after must be >= 1 (or -1: run to --steps)");

  // The matching task's log also follows the matching score of every hop layer (docs/MATCHING.md),
  // so that it can be plotted against the abrupt accuracy jump.
  if (task_name == "matching" && model->config().n_layers >= 2 && model->config().d_vocab > 100) {
    for (int64_t layer = 1; layer < model->config().n_layers; ++layer) {
      settings.extra_metrics.names.push_back(fmt::format("match_score_L{}", layer));
    }
    settings.extra_metrics.compute = [](HookedTransformer& trained) {
      MatchingOptions options;
      for (int64_t token = 1; token <= 100; ++token) options.tokens.push_back(token);
      const MatchingScores scores = matching_scores(trained, options);
      // One value per hop layer: its best head.
      const torch::Tensor best = std::get<0>(scores.score.max(1));
      return std::vector<double>(best.data_ptr<float>(), best.data_ptr<float>() + best.numel());
    };
  }
  const auto eval = evaluation_examples(task_name, task_options, vm["eval-n"].as<int64_t>(), settings.seed);
  const TrainResult result = train(model, *task, eval, settings);
  fmt::print("trained {} steps in {:.1f} s ({:.0f} tokens/s); checkpoint {}\n", result.steps_done, result.seconds,
             result.tokens_per_second, settings.out);
  fmt::print("{}", format_metrics(result.final_metrics));
  return 0;
}

}  // namespace mechlens::cli
