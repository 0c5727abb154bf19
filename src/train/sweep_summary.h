// A sweep's runs as tables: every run's curves on one step axis, its final values, the step of its
// accuracy jump, the largest hop count it solves, and the same numbers per condition (runs with the
// same axis values, over seeds).
#pragma once

#include <torch/types.h>

#include <string>
#include <vector>

#include "train/sweep.h"

namespace mechlens {

struct SweepSummaryOptions {
  std::string jump_metric = "test_first_token_acc";  // the log column whose crossing marks the jump
  double jump_threshold = 0.9;                       // inclusive, compared in float32 as the curves are stored
  std::string order_split = "test";  // reachable order reads the columns <split>/order<k>_first_token_acc
  double reach_threshold = 0.9;
};

struct SweepSummary {
  std::vector<std::string> axes;     // axis keys
  std::vector<std::string> runs;     // run names
  std::vector<std::string> metrics;  // every log column, in first-seen order
  std::vector<int64_t> steps;        // every evaluation step of any run, ascending
  torch::Tensor curves;              // [run, step, metric] float32; NaN where a run has no value
  torch::Tensor final_values;        // [run, metric]: each run's last evaluation
  torch::Tensor final_step;          // [run] int64: the step of that evaluation (0: none)
  torch::Tensor jump_step;           // [run] int64: first step with jump_metric >= threshold; -1: never
  torch::Tensor
      reachable_order;  // [run] int64: largest k with orders 1..k all at threshold at the end; -1: no 1-hop group
  std::vector<std::string> conditions;  // "init_gamma=0.5,norm_placement=pre" (all runs: "all")
  torch::Tensor condition_of_run;       // [run] int64
  torch::Tensor condition_runs;         // [condition] int64: runs (seeds) in it
  torch::Tensor condition_mean;         // [condition, metric]: mean of the final values over its runs
  torch::Tensor condition_std;          // [condition, metric]: their standard deviation (0 for one run)
  torch::Tensor condition_jumped;       // [condition] int64: runs that reached the jump
  torch::Tensor condition_jump_step;    // [condition] float32: mean jump step of those runs; NaN if none
  torch::Tensor condition_reachable;    // [condition] float32: mean reachable order; NaN without order groups
};

/// Tabulates `runs` (axis keys in `axes`, as the points were expanded).
SweepSummary summarize_sweep(const std::vector<SweepRun>& runs, const std::vector<std::string>& axes,
                             const SweepSummaryOptions& options);

/// One CSV row per run: run, the axis values, seed, final_step, jump_step, reachable_order, then
/// every metric's final value.
std::string sweep_runs_csv(const SweepSummary& summary, const std::vector<SweepRun>& runs);

/// One CSV row per condition: condition, runs, jumped, jump_step_mean, reachable_order_mean, then
/// each metric's mean and std over the condition's runs.
std::string sweep_conditions_csv(const SweepSummary& summary);

}  // namespace mechlens
