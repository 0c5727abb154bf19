#include "train/sweep_summary.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <set>

#include "util/parse.h"

namespace mechlens {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// The hop counts k that have a column "<split>/order<k>_first_token_acc", ascending.
std::map<int64_t, size_t> order_columns(const std::vector<std::string>& metrics, const std::string& split) {
  std::map<int64_t, size_t> orders;
  const std::string prefix = split + "/order", suffix = "_first_token_acc";
  for (size_t m = 0; m < metrics.size(); ++m) {
    const std::string& name = metrics[m];
    if (name.size() <= prefix.size() + suffix.size() || name.rfind(prefix, 0) != 0 ||
        name.compare(name.size() - suffix.size(), suffix.size(), suffix) != 0) {
      continue;
    }
    const auto k = parse_int(name.substr(prefix.size(), name.size() - prefix.size() - suffix.size()));
    if (k) orders[*k] = m;
  }
  return orders;
}

std::string number(double value) { return std::isnan(value) ? "" : fmt::format("{:.6g}", value); }

}  // namespace

SweepSummary summarize_sweep(const std::vector<SweepRun>& runs, const std::vector<std::string>& axes,
                             const SweepSummaryOptions& options) {
  SweepSummary s;
  s.axes = axes;
  std::set<int64_t> steps;
  std::map<std::string, size_t> metric_index;
  for (const SweepRun& run : runs) {
    s.runs.push_back(run.point.name);
    steps.insert(run.curves.steps.begin(), run.curves.steps.end());
    for (const std::string& column : run.curves.columns) {
      if (metric_index.emplace(column, s.metrics.size()).second) s.metrics.push_back(column);
    }
  }
  s.steps.assign(steps.begin(), steps.end());
  const int64_t n_runs = int64_t(runs.size()), n_steps = int64_t(s.steps.size()), n_metrics = int64_t(s.metrics.size());
  s.curves = torch::full({n_runs, n_steps, n_metrics}, kNaN, torch::kFloat32);
  s.final_values = torch::full({n_runs, n_metrics}, kNaN, torch::kFloat32);
  s.final_step = torch::zeros({n_runs}, torch::kLong);
  s.jump_step = torch::full({n_runs}, -1, torch::kLong);
  s.reachable_order = torch::full({n_runs}, -1, torch::kLong);
  auto curves = s.curves.accessor<float, 3>();
  auto finals = s.final_values.accessor<float, 2>();
  const auto jump = metric_index.find(options.jump_metric);
  const std::map<int64_t, size_t> orders = order_columns(s.metrics, options.order_split);

  std::map<std::string, int64_t> condition_index;
  std::vector<int64_t> condition_of_run;
  for (int64_t r = 0; r < n_runs; ++r) {
    const SweepRun& run = runs[size_t(r)];
    for (size_t e = 0; e < run.curves.steps.size(); ++e) {
      const int64_t t = std::lower_bound(s.steps.begin(), s.steps.end(), run.curves.steps[e]) - s.steps.begin();
      for (size_t c = 0; c < run.curves.columns.size(); ++c) {
        const double value = run.curves.rows[e][c];
        curves[r][t][int64_t(metric_index.at(run.curves.columns[c]))] = float(value);
      }
      if (jump != metric_index.end() && s.jump_step[r].item<int64_t>() < 0) {
        const float value = curves[r][t][int64_t(jump->second)];
        if (!std::isnan(value) && value >= float(options.jump_threshold)) s.jump_step[r] = run.curves.steps[e];
      }
    }
    if (!run.curves.steps.empty()) {
      const int64_t last = std::lower_bound(s.steps.begin(), s.steps.end(), run.curves.steps.back()) - s.steps.begin();
      for (int64_t m = 0; m < n_metrics; ++m) finals[r][m] = curves[r][last][m];
      s.final_step[r] = run.curves.steps.back();
      if (orders.count(1)) {
        // The orders a run solves must be 1, 2, ..., k without a gap (undefined without 1-hop problems).
        int64_t reached = 0;
        for (const auto& [k, m] : orders) {
          const float value = finals[r][int64_t(m)];
          if (k != reached + 1 || std::isnan(value) || value < float(options.reach_threshold)) break;
          reached = k;
        }
        s.reachable_order[r] = reached;
      }
    }
    std::vector<std::string> parts;
    for (size_t a = 0; a < axes.size(); ++a) parts.push_back(fmt::format("{}={}", axes[a], run.point.values[a]));
    const std::string condition = parts.empty() ? "all" : fmt::format("{}", fmt::join(parts, ","));
    const auto [it, added] = condition_index.emplace(condition, int64_t(s.conditions.size()));
    if (added) s.conditions.push_back(condition);
    condition_of_run.push_back(it->second);
  }

  const int64_t n_conditions = int64_t(s.conditions.size());
  s.condition_of_run = torch::tensor(condition_of_run, torch::kLong);
  s.condition_runs = torch::zeros({n_conditions}, torch::kLong);
  s.condition_mean = torch::full({n_conditions, n_metrics}, kNaN, torch::kFloat32);
  s.condition_std = torch::full({n_conditions, n_metrics}, kNaN, torch::kFloat32);
  s.condition_jumped = torch::zeros({n_conditions}, torch::kLong);
  s.condition_jump_step = torch::full({n_conditions}, kNaN, torch::kFloat32);
  s.condition_reachable = torch::full({n_conditions}, kNaN, torch::kFloat32);
  for (int64_t c = 0; c < n_conditions; ++c) {
    const torch::Tensor members = (s.condition_of_run == c).nonzero().flatten();
    s.condition_runs[c] = members.numel();
    const torch::Tensor values = s.final_values.index_select(0, members);  // [runs, metric]
    s.condition_mean[c] = values.mean(0);
    s.condition_std[c] = members.numel() > 1 ? values.std(0) : torch::zeros({n_metrics});
    const torch::Tensor jumps = s.jump_step.index_select(0, members);
    const torch::Tensor jumped = jumps.masked_select(jumps >= 0);
    s.condition_jumped[c] = jumped.numel();
    if (jumped.numel() > 0) s.condition_jump_step[c] = jumped.to(torch::kFloat32).mean();
    const torch::Tensor reach = s.reachable_order.index_select(0, members);
    if (reach.ge(0).all().item<bool>()) s.condition_reachable[c] = reach.to(torch::kFloat32).mean();
  }
  return s;
}

std::string sweep_runs_csv(const SweepSummary& summary, const std::vector<SweepRun>& runs) {
  std::string csv = "run";
  for (const std::string& axis : summary.axes) csv += "," + axis;
  csv += ",seed,final_step,jump_step,reachable_order";
  for (const std::string& metric : summary.metrics) csv += "," + metric;
  csv += "\n";
  for (size_t r = 0; r < runs.size(); ++r) {
    const int64_t i = int64_t(r);
    csv += runs[r].point.name;
    for (const std::string& value : runs[r].point.values) csv += "," + value;
    const int64_t reach = summary.reachable_order[i].item<int64_t>();
    csv += fmt::format(",{},{},{},{}", runs[r].point.seed, summary.final_step[i].item<int64_t>(),
                       summary.jump_step[i].item<int64_t>(), reach < 0 ? "" : std::to_string(reach));
    for (int64_t m = 0; m < int64_t(summary.metrics.size()); ++m) {
      csv += "," + number(summary.final_values[i][m].item<double>());
    }
    csv += "\n";
  }
  return csv;
}

std::string sweep_conditions_csv(const SweepSummary& summary) {
  std::string csv = "condition,runs,jumped,jump_step_mean,reachable_order_mean";
  for (const std::string& metric : summary.metrics) csv += fmt::format(",{0}_mean,{0}_std", metric);
  csv += "\n";
  for (size_t c = 0; c < summary.conditions.size(); ++c) {
    const int64_t i = int64_t(c);
    // Conditions hold '=' and ',': quoted, as CSV readers expect.
    csv +=
        fmt::format("\"{}\",{},{},{},{}", summary.conditions[c], summary.condition_runs[i].item<int64_t>(),
                    summary.condition_jumped[i].item<int64_t>(), number(summary.condition_jump_step[i].item<double>()),
                    number(summary.condition_reachable[i].item<double>()));
    for (int64_t m = 0; m < int64_t(summary.metrics.size()); ++m) {
      csv += "," + number(summary.condition_mean[i][m].item<double>()) + "," +
             number(summary.condition_std[i][m].item<double>());
    }
    csv += "\n";
  }
  return csv;
}

}  // namespace mechlens
