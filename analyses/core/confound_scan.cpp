#include "core/confound_scan.h"

#include <fmt/format.h>
#include <torch/torch.h>

#include "util/error.h"

namespace mechlens {
namespace {

// Between-group sum of squares per statistic for one grouping: Σ_k n_k (mean_k − mean)². [stat]
torch::Tensor between_groups(const torch::Tensor& x, const torch::Tensor& weight, const torch::Tensor& codes,
                             int64_t levels, const torch::Tensor& mean) {
  const torch::Tensor one_hot = torch::one_hot(codes, levels).to(torch::kFloat64);  // [batch, level]
  const torch::Tensor counts = weight.matmul(one_hot);                              // [stat, level]
  const torch::Tensor sums = x.matmul(one_hot);
  const torch::Tensor group_mean = sums / counts.clamp_min(1.0);
  return (counts * (group_mean - mean.unsqueeze(1)).pow(2)).sum(1);
}

}  // namespace

std::vector<ScanVariable> scan_variables(const std::vector<std::pair<std::string, torch::Tensor>>& annotations,
                                         const std::vector<std::string>& groups, int64_t max_levels) {
  std::vector<ScanVariable> variables;
  auto add = [&](const std::string& name, const torch::Tensor& column) {
    const auto [values, codes] =
        at::_unique(column.to(torch::kLong).contiguous(), /*sorted=*/true, /*return_inverse=*/true);
    const int64_t levels = values.numel();
    if (levels < 2 || levels > max_levels) return;
    // A variable that splits the prompts exactly as an earlier one is that variable under another
    // name: one entry, both names ("logop_first=structure[1]").
    for (ScanVariable& earlier : variables) {
      if (earlier.levels != levels || earlier.codes.size(0) != codes.size(0)) continue;
      const torch::Tensor joint = earlier.codes * levels + codes;
      if (std::get<0>(at::_unique(joint)).numel() == levels) {
        earlier.name += "=" + name;
        return;
      }
    }
    variables.push_back({name, codes, levels});
  };
  for (const auto& [name, tensor] : annotations) {
    if (tensor.dim() == 1) add(name, tensor);
    else if (tensor.dim() == 2 && tensor.size(1) == 1) add(name, tensor.select(1, 0));
    else if (tensor.dim() == 2)
      for (int64_t c = 0; c < tensor.size(1); ++c) add(fmt::format("{}[{}]", name, c), tensor.select(1, c));
  }
  if (!groups.empty()) {
    std::vector<std::string> names;
    std::vector<int64_t> codes;
    for (const std::string& g : groups) {
      const auto it = std::find(names.begin(), names.end(), g);
      codes.push_back(it - names.begin());
      if (it == names.end()) names.push_back(g);
    }
    if (names.size() >= 2 && int64_t(names.size()) <= max_levels)
      variables.push_back({"group", torch::tensor(codes, torch::kLong), int64_t(names.size())});
  }
  return variables;
}

ConfoundScan confound_scan(const torch::Tensor& values, const std::vector<ScanVariable>& variables) {
  MECHLENS_CHECK(InputError, values.dim() == 2, "confound scan: values must be [stat, batch], got {} dimensions",
                 values.dim());
  const int64_t n_stats = values.size(0), batch = values.size(1), n_vars = int64_t(variables.size());
  for (const ScanVariable& v : variables) {
    MECHLENS_CHECK(InputError, v.codes.dim() == 1 && v.codes.size(0) == batch,
                   "confound scan: variable {} has {} values for {} prompts", v.name, v.codes.numel(), batch);
  }
  ConfoundScan scan;
  for (const ScanVariable& v : variables) scan.variables.push_back(v.name);
  const torch::Tensor raw = values.to(torch::kFloat64);
  const torch::Tensor weight = raw.isnan().logical_not().to(torch::kFloat64);  // [stat, batch]
  const torch::Tensor x = raw.nan_to_num(0.0) * weight;
  const torch::Tensor mean = x.sum(1) / weight.sum(1).clamp_min(1.0);
  const torch::Tensor total = (weight * (x - mean.unsqueeze(1)).pow(2)).sum(1);  // [stat]
  const torch::Tensor varying = total.gt(1e-12 * (1.0 + mean.pow(2) * double(batch)));
  scan.eta2 = torch::zeros({n_stats, n_vars}, torch::kFloat64);
  std::vector<torch::Tensor> between(static_cast<size_t>(n_vars));
  for (int64_t v = 0; v < n_vars; ++v) {
    between[size_t(v)] = between_groups(x, weight, variables[size_t(v)].codes, variables[size_t(v)].levels, mean);
    scan.eta2.select(1, v).copy_(
        torch::where(varying, between[size_t(v)] / total.clamp_min(1e-300), torch::zeros_like(total)));
  }
  scan.best = n_vars > 0 ? scan.eta2.argmax(1) : torch::full({n_stats}, -1, torch::kLong);
  scan.best.masked_fill_(varying.logical_not(), -1);
  // η²(A | B) = (SS_between(A×B) − SS_between(B)) / SS_within(B), B the statistic's best variable.
  scan.eta2_given_best = torch::zeros({n_stats, n_vars}, torch::kFloat64);
  for (int64_t s = 0; s < n_stats; ++s) {
    const int64_t b = scan.best[s].item<int64_t>();
    if (b < 0) continue;
    const torch::Tensor xs = x.narrow(0, s, 1), ws = weight.narrow(0, s, 1), ms = mean.narrow(0, s, 1);
    const double within_best = total[s].item<double>() - between[size_t(b)][s].item<double>();
    for (int64_t a = 0; a < n_vars; ++a) {
      if (a == b || within_best <= 1e-12 * total[s].item<double>()) continue;
      const ScanVariable& va = variables[size_t(a)];
      const ScanVariable& vb = variables[size_t(b)];
      const torch::Tensor joint = va.codes * vb.levels + vb.codes;
      const double joint_between = between_groups(xs, ws, joint, va.levels * vb.levels, ms)[0].item<double>();
      scan.eta2_given_best[s][a] = std::max(0.0, (joint_between - between[size_t(b)][s].item<double>()) / within_best);
    }
  }
  scan.eta2 = scan.eta2.to(torch::kFloat32);
  scan.eta2_given_best = scan.eta2_given_best.to(torch::kFloat32);
  return scan;
}

}  // namespace mechlens
