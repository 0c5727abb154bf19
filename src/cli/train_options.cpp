#include "cli/train_options.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <cmath>

#include "cli/command.h"
#include "matching/matching_score.h"
#include "parallel/communicator.h"
#include "runtime/device.h"
#include "tasks/matching_task.h"
#include "tasks/task_factory.h"
#include "util/parse.h"

namespace mechlens::cli {

void add_training_options(po::options_description& options, const TrainSettings& defaults, int64_t eval_n) {
  // clang-format off
  options.add_options()
      ("steps", po::value<int64_t>()->default_value(defaults.steps), "optimizer steps")
      ("batch", po::value<int64_t>()->default_value(defaults.batch_size), "examples per step")
      ("lr", po::value<double>()->default_value(defaults.schedule.lr), "peak learning rate (AdamW)")
      ("min-lr", po::value<double>()->default_value(defaults.schedule.min_lr), "learning rate at the end of the cosine decay")
      ("warmup", po::value<int64_t>()->default_value(defaults.schedule.warmup_steps), "linear warm-up steps (from 0.1 x lr)")
      ("weight-decay", po::value<double>()->default_value(defaults.weight_decay), "AdamW weight decay")
      ("grad-clip", po::value<double>()->default_value(defaults.grad_clip), "max global gradient norm (0 = off)")
      ("eval-every", po::value<int64_t>()->default_value(defaults.eval_every), "evaluate every N steps")
      ("eval-n", po::value<int64_t>()->default_value(eval_n), "held-out examples per evaluation group")
      ("checkpoint-every", po::value<int64_t>()->default_value(defaults.checkpoint_every), "save checkpoint and optimizer state every N steps")
      ("freeze", po::value<std::string>(), "parameters kept at their values, comma-separated: names (embed.W_E) or module paths (blocks.0)")
      ("device", po::value<std::string>()->default_value("cpu"), "where the model trains: cpu, cuda or cuda:N (a build with CUDA: README, \"Build flavours\")")
      ("quiet", po::bool_switch(), "no progress bar");
  // clang-format on
}

TrainSettings training_settings(const po::variables_map& vm) {
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
  settings.show_progress = !vm["quiet"].as<bool>();
  if (vm.count("freeze")) {
    for (const std::string& name : split_list(vm["freeze"].as<std::string>())) {
      if (name.empty()) throw UsageError{fmt::format("--freeze '{}': an empty name", vm["freeze"].as<std::string>())};
      settings.frozen.push_back(name);
    }
  }
  settings.device =
      resolve_device(vm["device"].as<std::string>(), "--device", launch_info_from_environment().local_rank);

  auto require = [](bool ok, const std::string& message) {
    if (!ok) throw UsageError{message};
  };
  // Bounds that catch a typo before hours of work: a billion steps or sequences per batch is beyond
  // any run these models make (the shipped ones take 2,000-40,000 steps of 64-1,000).
  constexpr int64_t kMaxSteps = 1'000'000'000, kMaxBatch = 1'000'000;
  require(settings.steps >= 1 && settings.steps <= kMaxSteps,
          fmt::format("--steps is {}, expected 1..{}", settings.steps, kMaxSteps));
  require(settings.batch_size >= 1 && settings.batch_size <= kMaxBatch,
          fmt::format("--batch is {}, expected 1..{}", settings.batch_size, kMaxBatch));
  const double lr = settings.schedule.lr, min_lr = settings.schedule.min_lr;
  require(std::isfinite(lr) && lr > 0, fmt::format("--lr is {}, expected a positive number", lr));
  require(std::isfinite(min_lr) && min_lr >= 0 && min_lr <= lr,
          fmt::format("--min-lr is {}, expected 0..--lr ({})", min_lr, lr));
  require(settings.schedule.warmup_steps >= 0, "--warmup must be >= 0");
  require(std::isfinite(settings.weight_decay) && settings.weight_decay >= 0, "--weight-decay must be >= 0");
  require(std::isfinite(settings.grad_clip) && settings.grad_clip >= 0, "--grad-clip must be >= 0 (0 = off)");
  require(settings.eval_every >= 0, "--eval-every must be >= 0 (0 = only at the end)");
  require(settings.checkpoint_every >= 0, "--checkpoint-every must be >= 0 (0 = only at the end)");
  require(vm["eval-n"].as<int64_t>() >= 1 && vm["eval-n"].as<int64_t>() <= 10'000'000, "--eval-n must be 1..10000000");
  return settings;
}

std::vector<Example> evaluation_examples(const std::string& task_name, const std::vector<std::string>& task_options,
                                         int64_t n, uint64_t seed) {
  std::vector<Example> examples;
  if (task_name != "matching") return generate_examples(*make_task(task_name, task_options), n, seed ^ 0x5eedull);
  std::vector<std::string> other_options;
  for (const auto& option : task_options) {
    if (option.rfind("split=", 0) != 0) other_options.push_back(option);
  }
  const auto split_task = [&](const char* split) {
    std::vector<std::string> options = other_options;
    options.push_back(fmt::format("split={}", split));
    return make_task(task_name, options);
  };
  std::vector<const char*> splits{"train", "test", "ood"};
  // ood_decoy, where it fits the orders asked: OOD accuracy without the in-distribution-edge shortcut.
  if (dynamic_cast<const MatchingTask&>(*split_task("ood")).decoy_fits()) splits.push_back("ood_decoy");
  uint64_t offset = 1;  // train, test and ood keep the seeds they had before ood_decoy was added
  for (const char* split : splits) {
    for (auto& e : generate_examples(*split_task(split), n, seed ^ (0x5eedull + offset++))) {
      examples.push_back(std::move(e));
    }
  }
  return examples;
}

void warn_if_hop_count_unstated(const Task& task) {
  const auto* matching = dynamic_cast<const MatchingTask*>(&task);
  if (matching == nullptr || !matching->hop_count_ambiguous()) return;
  fmt::print(stderr,
             "warning: orders=[{}] in the single_chain layout: the prompt ends with the start node and does not "
             "say how many hops to take, so no model can tell these problems apart; use "
             "layout=single_chain_with_order (the hop count as a token) to train on mixed hop counts\n",
             fmt::join(matching->settings().orders, ","));
}

ExtraMetrics matching_score_metrics(const Task& task, const ModelConfig& config) {
  // The matching task's log also follows the matching score of every hop layer (docs/MATCHING.md),
  // so that it can be plotted against the abrupt accuracy jump.
  ExtraMetrics metrics;
  const auto* matching = dynamic_cast<const MatchingTask*>(&task);
  if (matching == nullptr || config.n_layers < 2) return metrics;
  std::vector<int64_t> tokens = matching_node_ids(matching->settings().ranges, /*ood=*/false);
  if (tokens.back() >= config.d_vocab) return metrics;
  for (int64_t layer = 1; layer < config.n_layers; ++layer)
    metrics.names.push_back(fmt::format("match_score_L{}", layer));
  // With the hop count after the start node, a layer moves the start to the query position first, and
  // the defaults (X_1 = E, keys through layer 0) stay at chance while the circuit forms; the log then
  // also follows the two routes the trained models took: moved queries with layer 0 or layer 1 as
  // the fusion layer (match_moved_L1; match_f1_L2..).
  const bool hop_count_token = matching->settings().layout == MatchingLayout::kSingleChainWithOrder;
  if (hop_count_token) {
    metrics.names.push_back("match_moved_L1");
    for (int64_t layer = 2; layer < config.n_layers; ++layer)
      metrics.names.push_back(fmt::format("match_f1_L{}", layer));
  }
  metrics.compute = [tokens, hop_count_token](HookedTransformer& trained) {
    // One value per hop layer: its best head.
    auto best_per_layer = [&](int64_t fusion_layer, bool moved_queries) {
      MatchingOptions options;
      options.tokens = tokens;
      options.fusion_layer = fusion_layer;
      options.moved_queries = moved_queries;
      const torch::Tensor best = std::get<0>(matching_scores(trained, options).score.max(1)).contiguous();
      return std::vector<double>(best.data_ptr<float>(), best.data_ptr<float>() + best.numel());
    };
    std::vector<double> values = best_per_layer(0, false);
    if (hop_count_token) {
      values.push_back(best_per_layer(0, true).front());
      if (trained->config().n_layers > 2) {
        const std::vector<double> later = best_per_layer(1, true);
        values.insert(values.end(), later.begin(), later.end());
      }
    }
    return values;
  };
  return metrics;
}

}  // namespace mechlens::cli
