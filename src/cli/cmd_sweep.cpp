// `mechlens sweep`: train one model per point of a grid of config values × seeds on the matching
// task, then tabulate the runs (curves, jump step, reachable hop count) into DIR/sweep.h5 and CSVs.
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cmath>
#include <filesystem>

#include "cli/command.h"
#include "cli/options.h"
#include "cli/provenance.h"
#include "cli/sweep_presets.h"
#include "cli/train_options.h"
#include "parallel/communicator.h"
#include "tasks/task_factory.h"
#include "train/sweep.h"
#include "train/sweep_file.h"
#include "train/sweep_summary.h"
#include "util/error.h"
#include "util/json_text.h"
#include "util/output_file.h"
#include "util/parse.h"

namespace mechlens::cli {
namespace {

namespace fs = std::filesystem;

// The sweep as run: written to DIR/sweep.json; a rerun with the same model, task and budget continues it.
nlohmann::ordered_json sweep_spec(const std::string& grid, const ModelConfig& base, const std::vector<SweepAxis>& axes,
                                  const std::vector<int64_t>& seeds, const std::vector<std::string>& task_options,
                                  const TrainSettings& train, int64_t eval_n, const std::string& init_from_dir,
                                  const std::vector<SweepPoint>& points) {
  nlohmann::ordered_json spec;
  spec["grid"] = grid;
  spec["base_config"] = base.to_json();
  spec["axes"] = nlohmann::json::array();
  for (const SweepAxis& axis : axes) spec["axes"].push_back({{"key", axis.key}, {"values", axis.values}});
  spec["seeds"] = seeds;
  spec["task"] = {{"name", "matching"}, {"options", task_options}};
  spec["train"] = {{"steps", train.steps},
                   {"batch", train.batch_size},
                   {"lr", train.schedule.lr},
                   {"min_lr", train.schedule.min_lr},
                   {"warmup", train.schedule.warmup_steps},
                   {"weight_decay", train.weight_decay},
                   {"grad_clip", train.grad_clip},
                   {"eval_every", train.eval_every},
                   {"eval_n", eval_n},
                   {"checkpoint_every", train.checkpoint_every}};
  // Only when given, so folders of sweeps without these keep their identity.
  if (!train.frozen.empty()) spec["train"]["frozen"] = train.frozen;
  if (!init_from_dir.empty()) spec["train"]["init_from_dir"] = init_from_dir;
  spec["runs"] = nlohmann::json::array();
  for (const SweepPoint& point : points) spec["runs"].push_back(point.name);
  return spec;
}

// {"train": {"steps": 40}} -> {"train.steps": 40}: differences named by the setting, not its section.
nlohmann::json flatten(const nlohmann::json& value, const std::string& prefix = "") {
  nlohmann::json flat = nlohmann::json::object();
  if (!value.is_object()) {
    flat[prefix] = value;
    return flat;
  }
  for (const auto& item : value.items()) {
    const std::string key = prefix.empty() ? item.key() : prefix + "." + item.key();
    if (item.value().is_object()) flat.update(flatten(item.value(), key));
    else flat[key] = item.value();
  }
  return flat;
}

// The files a sweep writes into its folder, for --force.
void remove_sweep_files(const fs::path& dir, const nlohmann::json& spec) {
  std::vector<std::string> names = {"sweep.json", "sweep.h5", "runs.csv", "conditions.csv"};
  if (spec.contains("runs") && spec["runs"].is_array()) {
    for (const auto& run : spec["runs"]) {
      if (!run.is_string()) continue;
      const std::string name = run.get<std::string>();
      for (const char* suffix : {".safetensors", ".safetensors.state", ".safetensors.next",
                                 ".safetensors.state.partial", ".train_log.csv"}) {
        names.push_back(name + suffix);
      }
    }
  }
  for (const std::string& name : names) fs::remove(dir / name);
}

// What runs of one sweep must share: a folder's runs are reused by a later invocation (more seeds,
// more values) only when the base model, the task and the training budget are the same.
nlohmann::json run_identity(const nlohmann::json& spec) {
  nlohmann::json identity = nlohmann::json::object();
  for (const char* key : {"base_config", "task", "train"}) identity[key] = spec.contains(key) ? spec[key] : nullptr;
  return identity;
}

// Creates DIR, or checks that its runs belong to this sweep (continuing them), or starts over (--force).
void prepare_sweep_folder(const fs::path& dir, const nlohmann::ordered_json& ordered_spec, bool force) {
  const nlohmann::json spec(ordered_spec);
  std::error_code error;
  if (!fs::exists(dir, error)) {
    const fs::path parent = dir.parent_path();
    if (!parent.empty() && !fs::is_directory(parent, error)) {
      throw UsageError{fmt::format("--out-dir '{}': folder '{}' does not exist", dir.string(), parent.string())};
    }
    fs::create_directory(dir);
  } else if (!fs::is_directory(dir, error)) {
    throw UsageError{fmt::format("--out-dir '{}' is a file; expected a folder", dir.string())};
  }
  const fs::path spec_path = dir / "sweep.json";
  if (fs::exists(spec_path)) {
    const nlohmann::json stored = read_json_file<InputError>(spec_path.string());
    if (run_identity(stored) != run_identity(spec)) {
      if (!force) {
        const std::vector<std::string> differences =
            json_differences(flatten(run_identity(stored)), flatten(run_identity(spec)), "there", "now");
        throw UsageError{
            fmt::format("--out-dir '{}' holds runs of another sweep ({}); use another folder, or --force "
                        "to delete its runs and start over",
                        dir.string(), fmt::join(differences, "; "))};
      }
      remove_sweep_files(dir, stored);
    }
  }
  write_file_atomically(spec_path.string(), ordered_spec.dump(2) + "\n");
}

std::vector<int64_t> parse_seeds(const std::string& text) {
  std::vector<int64_t> seeds;
  for (const std::string& part : split_list(text)) {
    const auto seed = parse_int(part);
    if (!seed || *seed < 0)
      throw UsageError{fmt::format("--seeds '{}': '{}' is not a seed (an integer >= 0)", text, part)};
    seeds.push_back(*seed);
  }
  if (seeds.empty()) throw UsageError{"--seeds needs at least one seed"};
  return seeds;
}

void print_conditions(const SweepSummary& summary) {
  auto column = [&](const std::string& name) {
    const auto it = std::find(summary.metrics.begin(), summary.metrics.end(), name);
    return it == summary.metrics.end() ? int64_t(-1) : int64_t(it - summary.metrics.begin());
  };
  const std::vector<std::string> shown = {"train_first_token_acc",     "test_first_token_acc", "ood_first_token_acc",
                                          "ood_decoy_first_token_acc", "match_score_L1",       "match_score_L2"};
  fmt::print("{:<44} {:>4} {:>6} {:>9}", "condition", "runs", "jumped", "jump step");
  for (const std::string& name : shown) {
    if (column(name) >= 0) fmt::print(" {:>15}", name.substr(0, name.find("_first_token_acc")));
  }
  const bool orders = summary.reachable_order.numel() > 0 && summary.reachable_order.ge(0).all().item<bool>();
  if (orders) fmt::print(" {:>9}", "reach");
  fmt::print("\n");
  for (size_t c = 0; c < summary.conditions.size(); ++c) {
    const int64_t i = int64_t(c);
    const double jump = summary.condition_jump_step[i].item<double>();
    fmt::print("{:<44} {:>4} {:>6} {:>9}", summary.conditions[c], summary.condition_runs[i].item<int64_t>(),
               summary.condition_jumped[i].item<int64_t>(), std::isnan(jump) ? "-" : fmt::format("{:.0f}", jump));
    for (const std::string& name : shown) {
      const int64_t m = column(name);
      if (m < 0) continue;
      fmt::print(" {:>15}", fmt::format("{:.3f} ± {:.3f}", summary.condition_mean[i][m].item<double>(),
                                        summary.condition_std[i][m].item<double>()));
    }
    if (orders) fmt::print(" {:>9.2f}", summary.condition_reachable[i].item<double>());
    fmt::print("\n");
  }
}

}  // namespace

int run_sweep(const std::vector<std::string>& args) {
  po::options_description options("options");
  // clang-format off
  options.add_options()
      ("grid", po::value<std::string>()->required(), ("which grid: " + sweep_preset_names()).c_str())
      ("out-dir", po::value<std::string>()->required(), "folder for the runs (checkpoints, logs) and the results")
      ("config", po::value<std::string>(), "base model config JSON (default: the grid's; the paper's 3L1H post-LN, d_model 128)")
      ("vary", po::value<std::vector<std::string>>()->composing(), "KEY=V1,V2,...: a model config key and its values (repeatable; replaces the grid's axis of the same key)")
      ("seeds", po::value<std::string>()->default_value("0,1"), "seeds; each sets the weights' seed and the data stream's")
      ("task-option", po::value<std::vector<std::string>>()->composing(), "matching task setting key=value; replaces the grid's setting of that key, keeps its others")
      ("jump-metric", po::value<std::string>()->default_value("test_first_token_acc"), "log column whose first crossing of --jump-at marks a run's accuracy jump")
      ("jump-at", po::value<double>()->default_value(0.9), "threshold for the jump")
      ("reach-at", po::value<double>()->default_value(0.9), "a hop count k is reached when test accuracy on k-hop problems is at least this (and on every smaller k)")
      ("init-from-dir", po::value<std::string>(), "start each run from the finished run of the same name in this earlier sweep's folder (a curriculum: 1-hop problems, then 1-2 hops, ...; fresh optimizer and schedule)")
      ("dry-run", po::bool_switch(), "list the runs and exit")
      ("force", po::bool_switch(), "--out-dir holds another sweep: delete its runs and start over");
  // clang-format on
  // The grid's budget becomes the defaults; the grid is read before the options are declared.
  std::string grid = "custom";
  for (size_t i = 0; i + 1 < args.size(); ++i) {
    if (args[i] == "--grid") grid = args[i + 1];
    else if (args[i].rfind("--grid=", 0) == 0) grid = args[i].substr(7);
  }
  if (!args.empty() && args.back() == "--grid") grid = "custom";
  SweepPreset preset;
  try {
    preset = sweep_preset(grid);
  } catch (const UsageError&) {
    preset = sweep_preset("custom");  // reported after parsing, with the usage
  }
  add_training_options(options, preset.budget, preset.eval_n);
  po::variables_map vm;
  if (!parse_options("sweep", "--grid NAME --out-dir DIR [options]",
                     "Train one matching model per point of a grid of model-config values x seeds (the matching "
                     "paper's init-rate x LayerNorm, orthogonal-noise and depth grids), each run resumable: run the "
                     "same command again to continue. Writes DIR/sweep.h5, DIR/runs.csv and DIR/conditions.csv.",
                     options, {}, args, vm)) {
    return 0;
  }
  preset = sweep_preset(vm["grid"].as<std::string>());
  const ModelConfig base = vm.count("config") ? ModelConfig::from_file(vm["config"].as<std::string>()) : preset.base;
  std::vector<SweepAxis> axes = preset.axes;
  if (vm.count("vary")) {
    for (const std::string& text : vm["vary"].as<std::vector<std::string>>()) {
      SweepAxis axis = parse_sweep_axis(text, "--vary");
      const auto same = std::find_if(axes.begin(), axes.end(), [&](const SweepAxis& a) { return a.key == axis.key; });
      if (same != axes.end()) *same = std::move(axis);
      else axes.push_back(std::move(axis));
    }
  }
  const std::vector<int64_t> seeds = parse_seeds(vm["seeds"].as<std::string>());
  const std::vector<std::string> task_options = override_task_options(
      preset.task_options,
      vm.count("task-option") ? vm["task-option"].as<std::vector<std::string>>() : std::vector<std::string>{});
  const auto task = make_task("matching", task_options);
  const std::vector<SweepPoint> points = expand_sweep(base, axes, seeds);
  warn_if_hop_count_unstated(*task);

  TrainSettings train = training_settings(vm);
  const int64_t eval_n = vm["eval-n"].as<int64_t>();
  SweepSummaryOptions summary_options;
  summary_options.jump_metric = vm["jump-metric"].as<std::string>();
  summary_options.jump_threshold = vm["jump-at"].as<double>();
  summary_options.reach_threshold = vm["reach-at"].as<double>();
  for (double threshold : {summary_options.jump_threshold, summary_options.reach_threshold}) {
    if (!(threshold >= 0 && threshold <= 1)) throw UsageError{"--jump-at and --reach-at must be in 0..1"};
  }

  fmt::print("sweep '{}': {} runs of {} steps x {} examples ({})\n", preset.name, points.size(), train.steps,
             train.batch_size, preset.description.empty() ? "custom" : preset.description);
  fmt::print("task: {}\n", task->settings_json());
  const std::string init_from_dir = vm.count("init-from-dir") ? vm["init-from-dir"].as<std::string>() : "";
  if (!init_from_dir.empty()) check_stage_runs(init_from_dir, points);
  if (vm["dry-run"].as<bool>()) {
    for (const SweepPoint& point : points) {
      fmt::print("  {}{}\n", point.name,
                 init_from_dir.empty() ? "" : " (from " + sweep_checkpoint_path(init_from_dir, point) + ")");
    }
    return 0;
  }
  const fs::path dir(vm["out-dir"].as<std::string>());
  const nlohmann::ordered_json spec =
      sweep_spec(preset.name, base, axes, seeds, task_options, train, eval_n, init_from_dir, points);
  // Rank 0 prepares the folder (creates, checks or empties it) while the other ranks wait.
  Communicator& comm = world();
  if (comm.rank() == 0) prepare_sweep_folder(dir, spec, vm["force"].as<bool>());
  comm.barrier();

  SweepSettings settings;
  settings.points = points;
  settings.out_dir = dir.string();
  settings.train = train;
  settings.init_from_dir = init_from_dir;
  settings.train.metadata["task"] = task->settings_json();
  settings.train.metadata["sweep"] = spec.dump();
  // The held-out sets do not depend on the seed: every run is measured on the same problems.
  settings.eval_examples = evaluation_examples("matching", task_options, eval_n, 0);
  settings.extra_metrics = [&task](const ModelConfig& config) { return matching_score_metrics(*task, config); };
  settings.comm = &comm;
  const std::vector<SweepRun> runs = mechlens::run_sweep(settings, *task);
  if (comm.rank() != 0) return 0;  // rank 0 writes the tables

  std::vector<std::string> axis_keys;
  for (const SweepAxis& axis : axes) axis_keys.push_back(axis.key);
  const SweepSummary summary = summarize_sweep(runs, axis_keys, summary_options);
  print_conditions(summary);
  SweepFileContents contents{preset.name, &summary, &runs, summary_options, {}};
  contents.provenance.command_line = fmt::format("mechlens sweep {}", fmt::join(args, " "));
  contents.provenance.model_config_json = base.to_json().dump();
  contents.provenance.task_json = task->settings_json();
  contents.provenance.options_json = options_json(vm).dump();
  write_sweep_file((dir / "sweep.h5").string(), contents);
  write_file_atomically((dir / "runs.csv").string(), sweep_runs_csv(summary, runs));
  write_file_atomically((dir / "conditions.csv").string(), sweep_conditions_csv(summary));
  fmt::print("wrote {}/sweep.h5, runs.csv, conditions.csv\n", dir.string());
  return 0;
}

}  // namespace mechlens::cli
