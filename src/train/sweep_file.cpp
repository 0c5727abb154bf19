#include "train/sweep_file.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <torch/torch.h>

#include "store/h5_util.h"

namespace mechlens {

void write_sweep_file(const std::string& path, const SweepFileContents& contents) {
  const SweepSummary& s = *contents.summary;
  const std::vector<SweepRun>& runs = *contents.runs;
  write_result_file(path, "mechlens-sweep", 1, [&](H5::H5File& file) {
    write_provenance(file, contents.provenance);
    h5::write_attr(file, "grid", contents.grid);
    h5::write_attr(file, "axes", fmt::format("{}", fmt::join(s.axes, ",")));
    h5::write_attr(file, "jump_metric", contents.options.jump_metric);
    h5::write_attr(file, "jump_threshold", contents.options.jump_threshold);
    h5::write_attr(file, "order_split", contents.options.order_split);
    h5::write_attr(file, "reach_threshold", contents.options.reach_threshold);

    H5::Group group = file.createGroup("runs");
    h5::write_strings(group, "label_run", s.runs);
    for (size_t a = 0; a < s.axes.size(); ++a) {
      std::vector<std::string> values;
      for (const SweepRun& run : runs) values.push_back(run.point.values[a]);
      h5::write_strings(group, "axis_" + s.axes[a], values);
    }
    std::vector<int64_t> seeds;
    std::vector<std::string> configs;
    for (const SweepRun& run : runs) {
      seeds.push_back(run.point.seed);
      configs.push_back(run.point.config.to_json().dump());
    }
    write_tensor(group, "seed", torch::tensor(seeds, torch::kLong), {"run"});
    write_tensor(group, "final_step", s.final_step, {"run"});
    write_tensor(group, "jump_step", s.jump_step, {"run"});
    write_tensor(group, "reachable_order", s.reachable_order, {"run"});
    h5::write_strings(group, "config_json", configs);

    group = file.createGroup("curves");
    write_tensor(group, "values", s.curves, {"run", "step", "metric"});
    write_tensor(group, "label_step", torch::tensor(s.steps, torch::kLong), {"step"});
    h5::write_strings(group, "label_metric", s.metrics);

    group = file.createGroup("final");
    write_tensor(group, "values", s.final_values, {"run", "metric"});
    h5::write_strings(group, "label_metric", s.metrics);

    group = file.createGroup("conditions");
    h5::write_strings(group, "label_condition", s.conditions);
    write_tensor(group, "condition_of_run", s.condition_of_run, {"run"});
    write_tensor(group, "runs", s.condition_runs, {"condition"});
    write_tensor(group, "jumped", s.condition_jumped, {"condition"});
    write_tensor(group, "jump_step_mean", s.condition_jump_step, {"condition"});
    write_tensor(group, "reachable_order_mean", s.condition_reachable, {"condition"});
    write_tensor(group, "mean", s.condition_mean, {"condition", "metric"});
    write_tensor(group, "std", s.condition_std, {"condition", "metric"});
    h5::write_strings(group, "label_metric", s.metrics);
  });
}

}  // namespace mechlens
