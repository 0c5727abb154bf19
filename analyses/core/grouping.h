// Per-example results split by a per-example annotation (`--group-by queried_chain`): which prompts
// fall in which group, and each group's mean and spread of any per-prompt values. Shared by every
// analysis that keeps per-prompt values.
#pragma once

#include <torch/types.h>  // torch::Tensor

#include <cstdint>
#include <string>
#include <vector>

namespace mechlens {

/// A partition of the prompts: group index per prompt, and each group's label.
struct PromptGroups {
  std::string by;                   // the annotation's name
  std::vector<std::string> labels;  // [group]: the annotation value ("0", "1") or name ("logop")
  torch::Tensor group_of_prompt;    // [batch] int64 in 0..groups-1

  int64_t size() const { return int64_t(labels.size()); }
  /// Prompts in each group [group] int64.
  torch::Tensor counts() const;
};

/// Groups by an integer annotation of one value per prompt ([batch] or [batch, 1]); labels are the
/// distinct values in ascending order. Throws InputError naming the annotation and its shape.
PromptGroups groups_from_values(const std::string& name, const torch::Tensor& values);
/// Groups by a string per prompt (e.g. a task's data group); labels in order of first appearance.
PromptGroups groups_from_names(const std::string& name, const std::vector<std::string>& names);

/// Mean and population standard deviation per group of per-prompt values [..., batch] -> [group, ...].
struct GroupStats {
  torch::Tensor mean, std;
};
GroupStats group_stats(const torch::Tensor& per_prompt, const PromptGroups& groups);

/// Summary over prompts of per-prompt values [..., batch]: mean, population std, and quantiles
/// [q, ...] at `levels` in [0, 1] (linear interpolation, numpy's default).
struct PromptSummary {
  torch::Tensor mean, std, quantiles;
  std::vector<double> levels;
};
PromptSummary summarize_prompts(const torch::Tensor& per_prompt, const std::vector<double>& levels);
/// The same per group: [group, ...] and quantiles [group, q, ...]; an empty group's entries are NaN.
PromptSummary summarize_groups(const torch::Tensor& per_prompt, const PromptGroups& groups,
                               const std::vector<double>& levels);

}  // namespace mechlens
