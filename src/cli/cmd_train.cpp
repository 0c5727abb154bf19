// `mechlens train`: train a model from a config JSON on a task and save the checkpoint.
#include <fmt/ranges.h>

#include "cli/command.h"
#include "cli/options.h"
#include "cli/train_options.h"
#include "io/checkpoint.h"
#include "tasks/task_factory.h"
#include "train/trainer.h"
#include "util/error.h"

namespace mechlens::cli {

int run_train(const std::vector<std::string>& args) {
  po::options_description options("options");
  // clang-format off
  options.add_options()
      ("task", po::value<std::string>()->required(), "task to train on: matching or logic")
      ("task-option", po::value<std::vector<std::string>>()->composing(), "task setting key=value (see mechlens data)")
      ("config", po::value<std::string>(), "model config JSON (default with --init-from: that checkpoint's)")
      ("init-from", po::value<std::string>(), "start from this checkpoint's weights (fresh optimizer and schedule)")
      ("out", po::value<std::string>()->required(), "checkpoint to write (.safetensors); OUT.state for --resume")
      ("seed", po::value<int64_t>()->default_value(0), "training data seed (weights use the config's seed)")
      ("log", po::value<std::string>(), "CSV training log (loss and accuracy per evaluation group)")
      ("resume", po::bool_switch(), "continue from OUT and OUT.state")
      ("stop-after", po::value<int64_t>()->default_value(-1), "end this run after N steps with a checkpoint (train in chunks)");
  // clang-format on
  TrainSettings defaults;
  defaults.steps = 2000;
  defaults.checkpoint_every = 500;
  add_training_options(options, defaults, 1000);
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
  // Settings first: --device loads CUDA before LibTorch's first question about it (runtime/device.h).
  TrainSettings settings = training_settings(vm);
  HookedTransformer model = vm.count("init-from")
                                ? load_checkpoint(vm["init-from"].as<std::string>())
                                : HookedTransformer(ModelConfig::from_file(vm["config"].as<std::string>()));
  if (vm.count("init-from") && vm.count("config")) {
    const std::string config_path = vm["config"].as<std::string>();
    MECHLENS_CHECK(ConfigError, ModelConfig::from_file(config_path) == model->config(),
                   "--init-from {}: its model config differs from --config {}", vm["init-from"].as<std::string>(),
                   config_path);
  }

  settings.seed = static_cast<uint64_t>(vm["seed"].as<int64_t>());
  settings.out = vm["out"].as<std::string>();
  if (vm.count("log")) settings.log_path = vm["log"].as<std::string>();
  settings.resume = vm["resume"].as<bool>();
  settings.stop_after = vm["stop-after"].as<int64_t>();
  settings.metadata["task"] = task->settings_json();
  settings.metadata["train_command"] = fmt::format("mechlens train {}", fmt::join(args, " "));
  if (vm.count("init-from")) {
    // Provenance of a staged run: which weights it started from, by content.
    const std::string init = vm["init-from"].as<std::string>();
    settings.metadata["init_from"] = fmt::format("{} sha256:{}", init, checkpoint_sha256(init));
  }
  auto require = [](bool ok, const std::string& message) {
    if (!ok) throw UsageError{message};
  };
  require(vm["seed"].as<int64_t>() >= 0, "--seed must be >= 0");
  require(settings.stop_after == -1 || settings.stop_after >= 1, "--stop-after must be >= 1 (or -1: run to --steps)");

  settings.extra_metrics = matching_score_metrics(*task, model->config());
  warn_if_hop_count_unstated(*task);
  const auto eval = evaluation_examples(task_name, task_options, vm["eval-n"].as<int64_t>(), settings.seed);
  const TrainResult result = train(model, *task, eval, settings);
  fmt::print("trained {} steps in {:.1f} s ({:.0f} tokens/s); checkpoint {}\n", result.steps_done, result.seconds,
             result.tokens_per_second, settings.out);
  fmt::print("{}", format_metrics(result.final_metrics));
  return 0;
}

}  // namespace mechlens::cli
