// A patching result split by a per-prompt annotation (`patch --group-by queried_chain`): per group,
// the mean metric of every patched run, its spread over the group's prompts, and the score
// normalised by the group's own clean and corrupted metrics.
#pragma once

#include <torch/types.h>  // torch::Tensor

#include "core/grouping.h"
#include "patching/patching.h"

namespace mechlens {

struct GroupedPatchResult {
  PromptGroups groups;
  torch::Tensor count;             // [group] int64
  torch::Tensor clean_metric;      // [group]: the unpatched clean run's mean metric
  torch::Tensor corrupted_metric;  // [group]
  torch::Tensor metric;            // [group, dims...]: mean over the group's prompts
  torch::Tensor metric_std;        // [group, dims...]: population std over the group's prompts
  torch::Tensor normalised;        // [group, dims...]: normalise() with the group's clean/corrupted
};

/// Needs result.per_prompt (exact or naive results). Throws InputError otherwise.
GroupedPatchResult group_patch_result(const PatchResult& result, const PromptGroups& groups,
                                      const torch::Tensor& clean_per_prompt, const torch::Tensor& corrupted_per_prompt);

}  // namespace mechlens
