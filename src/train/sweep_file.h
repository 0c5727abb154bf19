// The sweep result file (format "mechlens-sweep", version 1; h5py-readable, labelled dims):
//   /runs        label_run [run], axis_<key> [run] (values as text), seed [run], final_step,
//                jump_step, reachable_order [run], config_json [run] (each run's model config)
//   /curves      values [run, step, metric] (NaN where a run has no evaluation), label_step [step],
//                label_metric [metric]
//   /final       values [run, metric]
//   /conditions  label_condition [condition], condition_of_run [run], runs, jumped, jump_step_mean,
//                reachable_order_mean [condition], mean and std [condition, metric]
// with root attributes: grid, axes, the jump and reach thresholds, and the provenance.
#pragma once

#include <string>
#include <vector>

#include "store/result_file.h"
#include "train/sweep_summary.h"

namespace mechlens {

struct SweepFileContents {
  std::string grid;  // preset name ("init-ln", "noise", "depth") or "custom"
  const SweepSummary* summary = nullptr;
  const std::vector<SweepRun>* runs = nullptr;
  SweepSummaryOptions options;
  Provenance provenance;
};

/// Writes the file atomically (write_result_file); throws StoreError naming it.
void write_sweep_file(const std::string& path, const SweepFileContents& contents);

}  // namespace mechlens
