#include "core/grouping.h"

#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <map>

#include "util/error.h"
#include "util/shape_format.h"

namespace mechlens {

torch::Tensor PromptGroups::counts() const { return torch::bincount(group_of_prompt, {}, size()); }

PromptGroups groups_from_values(const std::string& name, const torch::Tensor& values) {
  const bool one_per_prompt = values.dim() == 1 || (values.dim() == 2 && values.size(1) == 1);
  MECHLENS_CHECK(InputError, one_per_prompt && values.size(0) > 0,
                 "--group-by {}: the annotation has shape {}; grouping needs one value per prompt ([batch] or "
                 "[batch, 1])",
                 name, format_shape(values.sizes()));
  const torch::Tensor flat = values.reshape({-1}).to(torch::kCPU, torch::kLong).contiguous();
  const auto [distinct, inverse] = torch::_unique(flat, /*sorted=*/true, /*return_inverse=*/true);
  PromptGroups groups;
  groups.by = name;
  groups.group_of_prompt = inverse;
  for (int64_t i = 0; i < distinct.size(0); ++i) groups.labels.push_back(std::to_string(distinct[i].item<int64_t>()));
  return groups;
}

PromptGroups groups_from_names(const std::string& name, const std::vector<std::string>& names) {
  MECHLENS_CHECK(InputError, !names.empty(), "--group-by {}: no prompts to group", name);
  PromptGroups groups;
  groups.by = name;
  std::map<std::string, int64_t> index;
  std::vector<int64_t> group_of_prompt;
  for (const std::string& label : names) {
    auto [at, inserted] = index.emplace(label, int64_t(groups.labels.size()));
    if (inserted) groups.labels.push_back(label);
    group_of_prompt.push_back(at->second);
  }
  groups.group_of_prompt = torch::tensor(group_of_prompt, torch::kLong);
  return groups;
}

GroupStats group_stats(const torch::Tensor& per_prompt, const PromptGroups& groups) {
  const int64_t batch = groups.group_of_prompt.size(0);
  MECHLENS_CHECK(InputError, per_prompt.dim() >= 1 && per_prompt.size(-1) == batch,
                 "per-prompt values of shape {} do not end in the {} grouped prompts", format_shape(per_prompt.sizes()),
                 batch);
  // One-hot [batch, group] weights: a GEMM instead of a loop over groups.
  const torch::Tensor values = per_prompt.to(torch::kFloat64);
  const torch::Tensor one_hot =
      torch::one_hot(groups.group_of_prompt.to(values.device()), groups.size()).to(torch::kFloat64);
  const torch::Tensor count = one_hot.sum(0).clamp_min(1);                 // [group]
  const torch::Tensor mean = values.matmul(one_hot) / count;               // [..., group]
  const torch::Tensor square = values.square().matmul(one_hot) / count;    // [..., group]
  const torch::Tensor std = (square - mean.square()).clamp_min(0).sqrt();  // [..., group]
  return {mean.movedim(-1, 0).to(torch::kFloat32).contiguous(), std.movedim(-1, 0).to(torch::kFloat32).contiguous()};
}

PromptSummary summarize_prompts(const torch::Tensor& per_prompt, const std::vector<double>& levels) {
  MECHLENS_CHECK(InputError, per_prompt.dim() >= 1 && per_prompt.size(-1) > 0,
                 "per-prompt values of shape {} hold no prompts", format_shape(per_prompt.sizes()));
  for (double level : levels) {
    MECHLENS_CHECK(InputError, level >= 0 && level <= 1, "quantile level {} is outside [0, 1]", level);
  }
  const torch::Tensor values = per_prompt.to(torch::kFloat64);
  PromptSummary summary;
  summary.levels = levels;
  summary.mean = values.mean(-1).to(torch::kFloat32);
  summary.std = values.std(-1, /*unbiased=*/false).to(torch::kFloat32);
  if (!levels.empty()) {
    const torch::Tensor q = torch::tensor(levels, torch::kFloat64);
    summary.quantiles = torch::quantile(values, q, /*dim=*/-1).to(torch::kFloat32);  // [q, ...]
  }
  return summary;
}

PromptSummary summarize_groups(const torch::Tensor& per_prompt, const PromptGroups& groups,
                               const std::vector<double>& levels) {
  const int64_t batch = groups.group_of_prompt.size(0);
  MECHLENS_CHECK(InputError, per_prompt.dim() >= 1 && per_prompt.size(-1) == batch,
                 "per-prompt values of shape {} do not end in the {} grouped prompts", format_shape(per_prompt.sizes()),
                 batch);
  std::vector<torch::Tensor> means, stds, quantiles;
  const std::vector<int64_t> shape(per_prompt.sizes().begin(), per_prompt.sizes().end() - 1);
  std::vector<int64_t> q_shape{int64_t(levels.size())};
  q_shape.insert(q_shape.end(), shape.begin(), shape.end());
  for (int64_t g = 0; g < groups.size(); ++g) {
    const torch::Tensor members = groups.group_of_prompt.eq(g).nonzero().flatten().to(per_prompt.device());
    if (members.numel() == 0) {
      means.push_back(torch::full(shape, NAN));
      stds.push_back(torch::full(shape, NAN));
      quantiles.push_back(torch::full(q_shape, NAN));
      continue;
    }
    PromptSummary one = summarize_prompts(per_prompt.index_select(-1, members), levels);
    means.push_back(one.mean);
    stds.push_back(one.std);
    quantiles.push_back(levels.empty() ? torch::zeros(q_shape) : one.quantiles);
  }
  return {torch::stack(means), torch::stack(stds), torch::stack(quantiles), levels};
}

}  // namespace mechlens
