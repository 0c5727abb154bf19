#include "view/sweep_page.h"

#include <fmt/format.h>
#include <torch/torch.h>

#include <cmath>

#include "util/error.h"
#include "util/shape_format.h"
#include "view/page_parts.h"

namespace mechlens {
namespace {

// NaN (a run without that evaluation) becomes null: the page leaves a gap.
nlohmann::json number_or_null(double value) {
  return std::isnan(value) ? nlohmann::json(nullptr) : nlohmann::json(value);
}

}  // namespace

nlohmann::json sweep_page(const ResultReader& reader) {
  const LabelledTensor curves = reader.read("/curves/values");  // [run, step, metric]
  const std::vector<std::string> runs = reader.strings("/runs/label_run"),
                                 metrics = reader.strings("/curves/label_metric"),
                                 conditions = reader.strings("/conditions/label_condition");
  const torch::Tensor steps = reader.read("/curves/label_step").values.to(torch::kLong),
                      condition_of_run = reader.read("/conditions/condition_of_run").values.to(torch::kLong),
                      seeds = reader.read("/runs/seed").values.to(torch::kLong),
                      jump = reader.read("/runs/jump_step").values.to(torch::kLong);
  MECHLENS_CHECK(InputError,
                 curves.values.dim() == 3 && curves.values.size(0) == int64_t(runs.size()) &&
                     curves.values.size(1) == steps.numel() && curves.values.size(2) == int64_t(metrics.size()),
                 "{}: /curves/values must be [run, step, metric] = [{}, {}, {}] (label_run, label_step, label_metric); "
                 "it is {}",
                 reader.path(), runs.size(), steps.numel(), metrics.size(), format_shape(curves.values.sizes()));
  check_lengths(reader, "/runs",
                {{"label_run", runs.size()}, {"seed", size_t(seeds.numel())}, {"jump_step", size_t(jump.numel())}});
  check_lengths(reader, "/conditions",
                {{"condition_of_run", size_t(condition_of_run.numel())}, {"label_run", runs.size()}});

  nlohmann::json page{{"kind", "sweep"}};
  page["title"] = fmt::format("Training sweep '{}' — {}", reader.attribute("grid"), reader.path());
  page["subtitle"] = fmt::format("axes {}; jump: first step with {} >= {}", reader.attribute("axes"),
                                 reader.attribute("jump_metric"), reader.number_attribute("jump_threshold"));
  page["steps"] = std::vector<int64_t>(steps.data_ptr<int64_t>(), steps.data_ptr<int64_t>() + steps.numel());
  page["metrics"] = metrics;
  page["conditions"] = conditions;
  const torch::Tensor values = curves.values.to(torch::kFloat64).contiguous();
  for (int64_t r = 0; r < int64_t(runs.size()); ++r) {
    const int64_t condition = condition_of_run[r].item<int64_t>();
    MECHLENS_CHECK(InputError, condition >= 0 && condition < int64_t(conditions.size()),
                   "{}: /conditions/condition_of_run names condition {} of {}", reader.path(), condition,
                   conditions.size());
    nlohmann::json curve = nlohmann::json::array();  // [metric][step]
    for (int64_t m = 0; m < values.size(2); ++m) {
      nlohmann::json series = nlohmann::json::array();
      for (int64_t t = 0; t < values.size(1); ++t) series.push_back(number_or_null(values[r][t][m].item<double>()));
      curve.push_back(series);
    }
    page["runs"].push_back({{"name", runs[size_t(r)]},
                            {"condition", condition},
                            {"seed", seeds[r].item<int64_t>()},
                            {"jump_step", jump[r].item<int64_t>()},
                            {"values", curve}});
  }
  // The table: per condition, runs, jumps, and the final mean ± std of the accuracy columns.
  const torch::Tensor mean = reader.read("/conditions/mean").values.to(torch::kFloat64),
                      std = reader.read("/conditions/std").values.to(torch::kFloat64),
                      jumped = reader.read("/conditions/jumped").values.to(torch::kLong),
                      jump_mean = reader.read("/conditions/jump_step_mean").values.to(torch::kFloat64),
                      reach = reader.read("/conditions/reachable_order_mean").values.to(torch::kFloat64);
  MECHLENS_CHECK(InputError,
                 mean.dim() == 2 && mean.size(0) == int64_t(conditions.size()) &&
                     mean.size(1) == int64_t(metrics.size()) && std.sizes() == mean.sizes(),
                 "{}: /conditions/mean and std must be [condition, metric] = [{}, {}]", reader.path(),
                 conditions.size(), metrics.size());
  check_lengths(reader, "/conditions",
                {{"label_condition", conditions.size()},
                 {"jumped", size_t(jumped.numel())},
                 {"jump_step_mean", size_t(jump_mean.numel())},
                 {"reachable_order_mean", size_t(reach.numel())}});
  std::vector<std::string> columns;
  for (const std::string& metric : metrics) {
    if (metric.find("_first_token_acc") != std::string::npos || metric.rfind("match_score", 0) == 0)
      columns.push_back(metric);
  }
  page["table_columns"] = columns;
  for (int64_t c = 0; c < int64_t(conditions.size()); ++c) {
    nlohmann::json row{{"condition", conditions[size_t(c)]},
                       {"jumped", jumped[c].item<int64_t>()},
                       {"jump_step", number_or_null(jump_mean[c].item<double>())},
                       {"reach", number_or_null(reach[c].item<double>())}};
    for (const std::string& column : columns) {
      const int64_t m = std::find(metrics.begin(), metrics.end(), column) - metrics.begin();
      row["values"].push_back({number_or_null(mean[c][m].item<double>()), number_or_null(std[c][m].item<double>())});
    }
    page["table"].push_back(row);
  }
  return page;
}

}  // namespace mechlens
