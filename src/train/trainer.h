// Trains a HookedTransformer on a task: AdamW with weight decay and gradient clipping, warm-up plus
// cosine schedule, loss on answer tokens (teacher forcing), periodic evaluation per example group,
// a CSV log, periodic checkpoints and exact resumption. Fresh examples every step, derived from
// (seed, step), so a resumed run sees the same data as an uninterrupted one.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "runtime/model.h"
#include "tasks/task.h"
#include "train/evaluation.h"
#include "train/lr_schedule.h"

namespace mechlens {

/// Model-level metrics logged at every evaluation after the groups' columns (e.g. the matching score
/// per layer; the command line supplies them, as analyses sit beside the trainer, not below it).
struct ExtraMetrics {
  std::vector<std::string> names;                                  // CSV column names, stable across a run
  std::function<std::vector<double>(HookedTransformer&)> compute;  // one value per name, called without gradients
};

struct TrainSettings {
  int64_t steps = 1000;
  int64_t batch_size = 64;
  LrSchedule schedule;
  double weight_decay = 0.01;
  double grad_clip = 1.0;        // max global gradient norm; 0 = off
  int64_t eval_every = 200;      // steps; 0 = only at the end
  int64_t checkpoint_every = 0;  // steps; 0 = only at the end
  uint64_t seed = 0;             // training data stream (the model's own seed initialises weights)
  std::string out;               // checkpoint path; OUT.state holds the optimizer state for --resume
  std::string log_path;          // CSV log; empty = none
  bool resume = false;
  int64_t stop_after = -1;  // end this run (with a checkpoint) after N steps; -1 = run to `steps`
  bool show_progress = true;
  std::string progress_label = "train";         // the progress bar's label (a sweep names its run)
  std::function<void()> on_step;                // optional: called after every optimizer step
  std::map<std::string, std::string> metadata;  // stored in the checkpoint (task, command line, ...)
  ExtraMetrics extra_metrics;                   // optional: more CSV columns per evaluation
  torch::Device device = torch::kCPU;           // where the model trains (train() moves it there first)
  /// Parameters kept at their values: a name ("embed.W_E") or everything under one ("blocks.0").
  std::vector<std::string> frozen;
};

struct TrainResult {
  int64_t steps_done = 0;
  double seconds = 0.0;
  double tokens_per_second = 0.0;
  std::map<std::string, GroupMetrics> final_metrics;
};

TrainResult train(HookedTransformer& model, const Task& task, const std::vector<Example>& eval_examples,
                  const TrainSettings& settings);

}  // namespace mechlens
