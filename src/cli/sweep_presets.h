// The matching paper's training-condition grids as `mechlens sweep --grid NAME` presets: the model,
// the varied config keys, the task and a training budget sized for a 2-core machine (docs/MATCHING.md).
#pragma once

#include <string>
#include <vector>

#include "runtime/config.h"
#include "train/sweep.h"
#include "train/trainer.h"

namespace mechlens::cli {

struct SweepPreset {
  std::string name;
  std::string description;
  ModelConfig base;  // the model every run starts from (before the axes)
  std::vector<SweepAxis> axes;
  std::vector<std::string> task_options;  // matching task settings
  TrainSettings budget;                   // steps, batch, schedule, evaluation and checkpoint cadence
  int64_t eval_n = 500;
};

/// The preset called `name` ("init-ln", "noise", "depth", or "custom": no axes, the budget only);
/// throws UsageError listing the names otherwise.
SweepPreset sweep_preset(const std::string& name);

/// The names, for --help.
std::string sweep_preset_names();

}  // namespace mechlens::cli
