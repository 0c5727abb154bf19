// Training-condition sweeps: one model trained per point of a grid of model-config values × seeds
// (the matching paper's init-rate × LayerNorm, orthogonal-noise and depth grids). Every run keeps
// its checkpoint, optimiser state and CSV log in the sweep folder, so an interrupted sweep continues
// where it stopped when the same command is run again; finished runs are not trained twice.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "parallel/communicator.h"
#include "runtime/config.h"
#include "tasks/task.h"
#include "train/trainer.h"

namespace mechlens {

/// One varied model-config key and its values (JSON values as the config file spells them).
struct SweepAxis {
  std::string key;
  std::vector<nlohmann::json> values;
};

/// "key=v1,v2,..." → an axis; numbers and true/false become JSON numbers and booleans, anything else
/// a string. Throws InputError naming `what` for a missing '=' or an empty list.
SweepAxis parse_sweep_axis(const std::string& text, const std::string& what);

struct SweepPoint {
  std::string name;                 // file-safe: "init_gamma-0.5_norm_placement-pre_seed-1"
  std::vector<std::string> values;  // one per axis, as text
  int64_t seed = 0;                 // the weights' seed (config "seed") and the data stream's
  ModelConfig config;               // the base config with this point's values
};

/// Every combination of the axes' values × seeds; the first axis varies slowest, seeds fastest.
/// Throws ConfigError naming the point when a value does not make a valid config.
std::vector<SweepPoint> expand_sweep(const ModelConfig& base, const std::vector<SweepAxis>& axes,
                                     const std::vector<int64_t>& seeds);

/// A run's CSV training log: its columns after "step", and one row of values per evaluation.
struct TrainingCurves {
  std::vector<std::string> columns;
  std::vector<int64_t> steps;
  std::vector<std::vector<double>> rows;  // [evaluation][column]
};

/// Reads a log written by the trainer; throws InputError naming the file and line when it is not one.
TrainingCurves read_training_log(const std::string& path);

struct SweepRun {
  SweepPoint point;
  TrainingCurves curves;
  double seconds = 0.0;  // training time in this invocation (0 for a run finished before)
};

struct SweepSettings {
  std::vector<SweepPoint> points;
  std::string out_dir;
  TrainSettings train;  // shared by every run; out, log, seed, resume and the label are set per run
  /// Held-out examples (shared by every run) and the extra log columns of a run's model.
  std::vector<Example> eval_examples;
  std::function<ExtraMetrics(const ModelConfig&)> extra_metrics;
  /// Optional: an earlier sweep's folder whose run of the same name each new run starts from (fresh
  /// optimiser and schedule): a curriculum is a chain of sweeps, e.g. 1-hop problems, then 1–2 hops.
  std::string init_from_dir;
  /// The ranks that share the sweep (`mpirun -n K mechlens sweep`); null: this process alone. Each
  /// rank trains its share of the unfinished runs, whole runs dealt by cost (assign_by_cost); every
  /// rank then reads every run's log from the folder, which all ranks must see.
  Communicator* comm = nullptr;
};

/// File names of a point's run inside the sweep folder.
std::string sweep_checkpoint_path(const std::string& out_dir, const SweepPoint& point);
std::string sweep_log_path(const std::string& out_dir, const SweepPoint& point);

/// Checks that `init_dir` (an earlier sweep's folder) holds a finished run of every point, with the
/// point's model config: a later stage must not start from half-trained or other weights. Throws
/// InputError naming the folder, the run and what differs.
void check_stage_runs(const std::string& init_dir, const std::vector<SweepPoint>& points);

/// Trains every point in turn (resuming one whose checkpoint and optimiser state exist), then reads
/// each run's log. Progress per run on stderr, with the sweep's position and time left (rank 0's
/// runs, when ranks share the sweep). Under several ranks each trains its own runs; the results are
/// those of one process, run for run, since a run's training does not depend on who trains it.
std::vector<SweepRun> run_sweep(const SweepSettings& settings, const Task& task);

}  // namespace mechlens
