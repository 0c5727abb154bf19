#include "patching/grouped.h"

#include <torch/torch.h>

#include "util/error.h"

namespace mechlens {

GroupedPatchResult group_patch_result(const PatchResult& result, const PromptGroups& groups,
                                      const torch::Tensor& clean_per_prompt,
                                      const torch::Tensor& corrupted_per_prompt) {
  MECHLENS_CHECK(InputError, result.per_prompt.defined(),
                 "{} ({}): per-prompt values are kept by exact sweeps only, so it cannot be grouped",
                 result.component.name(), result.method);
  GroupedPatchResult out;
  out.groups = groups;
  out.count = groups.counts();
  const GroupStats stats = group_stats(result.per_prompt, groups);
  out.metric = stats.mean;
  out.metric_std = stats.std;
  out.clean_metric = group_stats(clean_per_prompt, groups).mean;
  out.corrupted_metric = group_stats(corrupted_per_prompt, groups).mean;
  std::vector<torch::Tensor> normalised;
  for (int64_t g = 0; g < groups.size(); ++g) {
    normalised.push_back(normalise(out.metric[g], result.direction, out.clean_metric[g].item<double>(),
                                   out.corrupted_metric[g].item<double>()));
  }
  out.normalised = torch::stack(normalised);
  return out;
}

}  // namespace mechlens
