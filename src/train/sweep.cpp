#include "train/sweep.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <limits>
#include <optional>
#include <thread>

#include "io/checkpoint.h"
#include "io/safetensors.h"
#include "parallel/work_split.h"
#include "util/error.h"
#include "util/json_text.h"
#include "util/parse.h"
#include "util/progress.h"

namespace mechlens {
namespace {

nlohmann::json parse_axis_value(const std::string& text) {
  if (const auto integer = parse_int(text)) return *integer;
  if (const auto number = parse_double(text)) return *number;
  if (text == "true") return true;
  if (text == "false") return false;
  return text;
}

std::string value_text(const nlohmann::json& value) {
  return value.is_string() ? value.get<std::string>() : value.dump();
}

// Run names become file names: keep letters, digits and ".-"; anything else turns into '_'.
std::string file_safe(const std::string& text) {
  std::string out;
  for (char c : text) out += (std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-') ? c : '_';
  return out;
}

// A run is finished when its checkpoint holds the last step and its log has that step's row (a kill
// between the two leaves a run that --resume completes).
bool run_finished(const std::string& checkpoint, const std::string& log, int64_t steps) {
  if (!std::filesystem::exists(checkpoint) || !std::filesystem::exists(log)) return false;
  const auto metadata = read_safetensors_metadata(checkpoint);
  const auto stored = metadata.find("train_steps");
  if (stored == metadata.end() || parse_int(stored->second) != steps) return false;
  const TrainingCurves curves = read_training_log(log);
  return !curves.steps.empty() && curves.steps.back() == steps;
}

// Optimizer steps a run still needs: none when finished, those after its checkpoint when it will
// resume (its optimizer state is there), else all of them.
int64_t steps_left(const std::string& checkpoint, const std::string& log, int64_t steps) {
  if (run_finished(checkpoint, log, steps)) return 0;
  if (!std::filesystem::exists(checkpoint + ".state")) return steps;
  const auto metadata = read_safetensors_metadata(checkpoint);
  const auto stored = metadata.find("train_steps");
  const std::optional<int64_t> done = stored == metadata.end() ? std::nullopt : parse_int(stored->second);
  return done && *done >= 0 && *done < steps ? steps - *done : steps;
}

}  // namespace

SweepAxis parse_sweep_axis(const std::string& text, const std::string& what) {
  const size_t equals = text.find('=');
  MECHLENS_CHECK(InputError, equals != std::string::npos && equals > 0,
                 "{} '{}': expected KEY=V1,V2,... (a model config key and its values)", what, text);
  SweepAxis axis{text.substr(0, equals), {}};
  for (const std::string& part : split_list(text.substr(equals + 1))) {
    MECHLENS_CHECK(InputError, !part.empty(), "{} '{}': an empty value in the list", what, text);
    axis.values.push_back(parse_axis_value(part));
  }
  MECHLENS_CHECK(InputError, !axis.values.empty(), "{} '{}': no values after '='", what, text);
  return axis;
}

std::vector<SweepPoint> expand_sweep(const ModelConfig& base, const std::vector<SweepAxis>& axes,
                                     const std::vector<int64_t>& seeds) {
  MECHLENS_CHECK(InputError, !seeds.empty(), "a sweep needs at least one seed");
  const nlohmann::json base_json = base.to_json();
  for (const SweepAxis& axis : axes) {
    MECHLENS_CHECK(InputError, axis.key != "seed", "vary the seed with --seeds, not as a config axis");
    std::vector<std::string> keys;
    for (const auto& item : base_json.items()) keys.push_back(item.key());
    MECHLENS_CHECK(InputError, base_json.contains(axis.key), "sweep axis '{}' is not a model config key (keys: {})",
                   axis.key, fmt::join(keys, ", "));
    MECHLENS_CHECK(InputError, !axis.values.empty(), "sweep axis '{}' has no values", axis.key);
  }
  std::vector<SweepPoint> points;
  std::vector<size_t> index(axes.size(), 0);
  while (true) {
    for (int64_t seed : seeds) {
      SweepPoint point;
      nlohmann::json config = base_json;
      std::vector<std::string> name_parts;
      for (size_t a = 0; a < axes.size(); ++a) {
        const nlohmann::json& value = axes[a].values[index[a]];
        config[axes[a].key] = value;
        point.values.push_back(value_text(value));
        name_parts.push_back(file_safe(axes[a].key + "-" + value_text(value)));
      }
      config["seed"] = seed;
      name_parts.push_back(fmt::format("seed-{}", seed));
      point.name = fmt::format("{}", fmt::join(name_parts, "_"));
      point.seed = seed;
      try {
        point.config = ModelConfig::from_json(config);
      } catch (const ConfigError& e) {
        MECHLENS_FAIL(ConfigError, "sweep run {}: {}", point.name, e.what());
      }
      points.push_back(std::move(point));
    }
    // Next combination, the last axis fastest.
    size_t a = axes.size();
    while (a > 0 && ++index[a - 1] == axes[a - 1].values.size()) index[--a] = 0;
    if (a == 0) break;
  }
  return points;
}

TrainingCurves read_training_log(const std::string& path) {
  std::ifstream in(path);
  MECHLENS_CHECK(InputError, in.good(), "{}: cannot read the training log", path);
  TrainingCurves curves;
  std::string line;
  MECHLENS_CHECK(InputError, std::getline(in, line) && line.rfind("step,", 0) == 0,
                 "{}: line 1 is not a training-log header (expected 'step,...')", path);
  const std::vector<std::string> header = split_list(line);
  curves.columns.assign(header.begin() + 1, header.end());
  for (int64_t number = 2; std::getline(in, line); ++number) {
    if (line.empty()) continue;
    const std::vector<std::string> cells = split_list(line);
    MECHLENS_CHECK(InputError, cells.size() == header.size(), "{}: line {} has {} values, expected {}", path, number,
                   cells.size(), header.size());
    const auto step = parse_int(cells[0]);
    MECHLENS_CHECK(InputError, step.has_value(), "{}: line {}: step '{}' is not an integer", path, number, cells[0]);
    std::vector<double> row;
    for (size_t c = 1; c < cells.size(); ++c) {
      const auto value = parse_double(cells[c]);
      // The trainer writes finite numbers; "nan"/"inf" (a diverged loss) are kept as NaN.
      row.push_back(value ? *value : std::numeric_limits<double>::quiet_NaN());
    }
    curves.steps.push_back(*step);
    curves.rows.push_back(std::move(row));
  }
  return curves;
}

std::string sweep_checkpoint_path(const std::string& out_dir, const SweepPoint& point) {
  return (std::filesystem::path(out_dir) / (point.name + ".safetensors")).string();
}

std::string sweep_log_path(const std::string& out_dir, const SweepPoint& point) {
  return (std::filesystem::path(out_dir) / (point.name + ".train_log.csv")).string();
}

void check_stage_runs(const std::string& init_dir, const std::vector<SweepPoint>& points) {
  const std::string spec_path = (std::filesystem::path(init_dir) / "sweep.json").string();
  MECHLENS_CHECK(InputError, std::filesystem::exists(spec_path),
                 "--init-from-dir {}: no sweep.json there (expected the folder of an earlier mechlens sweep)",
                 init_dir);
  const nlohmann::json spec = read_json_file<InputError>(spec_path);
  const nlohmann::json::json_pointer steps_at("/train/steps");
  MECHLENS_CHECK(InputError, spec.contains(steps_at) && spec[steps_at].is_number_integer(),
                 "{}: field 'train.steps' is missing or not an integer", spec_path);
  const int64_t stage_steps = spec[steps_at].get<int64_t>();
  for (const SweepPoint& point : points) {
    const std::string checkpoint = sweep_checkpoint_path(init_dir, point);
    MECHLENS_CHECK(InputError, run_finished(checkpoint, sweep_log_path(init_dir, point), stage_steps),
                   "--init-from-dir {}: run {} is missing or unfinished (expected {} with {} training steps; run that "
                   "sweep's command again to finish it)",
                   init_dir, point.name, checkpoint, stage_steps);
    MECHLENS_CHECK(InputError, read_checkpoint_config(checkpoint) == point.config,
                   "--init-from-dir {}: run {} has another model config than this sweep's run of that name", init_dir,
                   point.name);
  }
}

std::vector<SweepRun> run_sweep(const SweepSettings& settings, const Task& task) {
  const size_t n_runs = settings.points.size();
  const int rank = settings.comm ? settings.comm->rank() : 0, ranks = settings.comm ? settings.comm->size() : 1;
  const bool speak = settings.train.show_progress && rank == 0;
  // Whole runs are dealt to the ranks by their cost (steps left x parameters; finished runs cost nothing).
  std::vector<int64_t> left(n_runs, 0);
  std::vector<double> costs(n_runs, 0.0);
  for (size_t i = 0; i < n_runs; ++i) {
    const SweepPoint& point = settings.points[i];
    left[i] = steps_left(sweep_checkpoint_path(settings.out_dir, point), sweep_log_path(settings.out_dir, point),
                         settings.train.steps);
    costs[i] = double(left[i]) * double(point.config.parameter_count());
  }
  std::vector<int> owner = assign_by_cost(costs, ranks);
  // Every rank takes rank 0's view of which runs are finished (a shared file system may show another
  // rank an older folder), so no run is trained twice or left out.
  if (settings.comm != nullptr && ranks > 1)
    owner = nlohmann::json::parse(settings.comm->all_gather(nlohmann::json(owner).dump())[0]).get<std::vector<int>>();
  std::vector<size_t> mine;
  for (size_t i = 0; i < n_runs; ++i) {
    if (owner[i] == rank) mine.push_back(i);
  }
  // Under MPI, one bar on rank 0 counts every rank's steps (the runs' own bars are off); other ranks
  // report each step to it.
  const bool shared_bar = settings.comm != nullptr && ranks > 1;
  std::optional<ProgressBar> sweep_bar;
  if (shared_bar && rank == 0) {
    int64_t steps_to_train = 0, to_train = 0;
    for (size_t i = 0; i < n_runs; ++i) {
      if (owner[i] >= 0) steps_to_train += left[i], ++to_train;
    }
    if (speak)
      fmt::print(stderr, "sweep: {} of {} runs to train ({} steps), shared by {} ranks; rank 0 trains {}\n", to_train,
                 n_runs, steps_to_train, ranks, mine.size());
    sweep_bar.emplace(fmt::format("sweep, {} ranks", ranks), steps_to_train,
                      settings.train.show_progress && steps_to_train > 0);
  }

  std::vector<double> seconds(n_runs, 0.0);
  const auto started = std::chrono::steady_clock::now();
  int64_t trained = 0;
  for (size_t turn = 0; turn < mine.size(); ++turn) {
    const size_t i = mine[turn];
    const SweepPoint& point = settings.points[i];
    TrainSettings run_settings = settings.train;
    run_settings.out = sweep_checkpoint_path(settings.out_dir, point);
    run_settings.log_path = sweep_log_path(settings.out_dir, point);
    run_settings.seed = static_cast<uint64_t>(point.seed);
    run_settings.resume = std::filesystem::exists(run_settings.out + ".state");
    run_settings.progress_label = fmt::format("run {}/{}", i + 1, n_runs);
    if (shared_bar) {
      run_settings.show_progress = false;
      const std::string doing = fmt::format("rank 0: run {}/{}", i + 1, n_runs);
      run_settings.on_step = [&settings, &sweep_bar, doing] {
        if (sweep_bar) sweep_bar->advance(1 + settings.comm->collect_progress(), doing);
        else settings.comm->report_progress(1);
      };
    }
    run_settings.metadata["sweep_run"] = point.name;
    if (settings.extra_metrics) run_settings.extra_metrics = settings.extra_metrics(point.config);
    if (speak && !shared_bar)
      fmt::print(stderr, "run {}/{}: {}{}\n", i + 1, n_runs, point.name, run_settings.resume ? " (continuing)" : "");
    std::string init_from;
    if (!settings.init_from_dir.empty()) {
      init_from = sweep_checkpoint_path(settings.init_from_dir, point);
      run_settings.metadata["init_from"] = fmt::format("{} sha256:{}", init_from, checkpoint_sha256(init_from));
    }
    // A later stage of a curriculum starts from the earlier stage's weights (checked by check_stage_runs);
    // a resumed run gets its own weights back from its checkpoint inside train().
    HookedTransformer model =
        !init_from.empty() && !run_settings.resume ? load_checkpoint(init_from) : HookedTransformer(point.config);
    const TrainResult result = train(model, task, settings.eval_examples, run_settings);
    seconds[i] = result.seconds;
    if (result.steps_done > 0) ++trained;
    if (speak && !shared_bar && trained > 0 && turn + 1 < mine.size()) {
      // Time left, from the runs trained so far in this invocation (runs of one sweep cost alike,
      // except for depth, where the estimate is a lower bound).
      const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
      fmt::print(stderr, "sweep: {}/{} runs done, about {:.0f} min left\n", turn + 1, mine.size(),
                 elapsed / double(trained) * double(mine.size() - turn - 1) / 60.0);
    }
  }
  if (shared_bar) {
    if (sweep_bar) {
      // Rank 0's runs are done; its bar goes on counting the others' steps until every rank has ended.
      while (!settings.comm->others_finished_progress()) {
        sweep_bar->advance(settings.comm->collect_progress(), "rank 0 done, waiting for the others");
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
      }
      sweep_bar->advance(settings.comm->finish_progress());
      sweep_bar->finish();
    } else {
      settings.comm->finish_progress();
    }
  }

  // Every rank's training times, then every run's log: the exchange is also where ranks wait for
  // each other, so each log is complete when it is read.
  if (settings.comm != nullptr && ranks > 1) {
    // Each rank sends its times of every run (0 for runs it did not train); a run's time is its owner's.
    std::vector<std::vector<double>> theirs;
    for (const std::string& text : settings.comm->all_gather(nlohmann::json(seconds).dump()))
      theirs.push_back(nlohmann::json::parse(text).get<std::vector<double>>());
    for (size_t i = 0; i < n_runs; ++i) {
      if (owner[i] >= 0) seconds[i] = theirs[size_t(owner[i])][i];
    }
  }
  std::vector<SweepRun> runs;
  for (size_t i = 0; i < n_runs; ++i) {
    const SweepPoint& point = settings.points[i];
    runs.push_back(SweepRun{point, read_training_log(sweep_log_path(settings.out_dir, point)), seconds[i]});
  }
  return runs;
}

}  // namespace mechlens
