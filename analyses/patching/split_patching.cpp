#include "patching/split_patching.h"

#include <fmt/format.h>
#include <torch/serialize.h>  // torch::pickle_save / pickle_load
#include <torch/torch.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <map>
#include <numeric>

#include "parallel/communicator.h"
#include "parallel/work_split.h"
#include "util/error.h"
#include "util/progress.h"

namespace mechlens {
namespace fs = std::filesystem;

std::vector<PromptRange> split_prompts(int64_t batch, int64_t groups) {
  MECHLENS_CHECK(InputError, groups >= 1 && groups <= batch,
                 "cannot cut {} prompts into {} groups: the number of prompt groups must be between 1 and the number "
                 "of prompts",
                 batch, groups);
  std::vector<PromptRange> ranges;
  int64_t begin = 0;
  for (int64_t g = 0; g < groups; ++g) {
    const int64_t size = batch / groups + (g < batch % groups ? 1 : 0);
    ranges.push_back({begin, begin + size});
    begin += size;
  }
  return ranges;
}

PatchingInputs slice_inputs(const PatchingInputs& inputs, const PromptRange& range) {
  auto cut = [&range](const torch::Tensor& t) { return t.defined() ? t.narrow(0, range.begin, range.size()) : t; };
  return {cut(inputs.clean), cut(inputs.corrupted), cut(inputs.answer_pos), cut(inputs.correct), cut(inputs.wrong)};
}

namespace {

// One group's sharing: the team's ranks, its shards in their own subfolder under their own key.
PlanSharing group_sharing(const PlanSharing& run, Communicator* team, int64_t group, int64_t groups) {
  PlanSharing sharing = run;
  sharing.comm = team;
  const std::string name = fmt::format("prompts-{}-of-{}", group, groups);
  if (!run.shard_dir.empty()) sharing.shard_dir = (fs::path(run.shard_dir) / name).string();
  sharing.run_key = run.run_key + "/" + name;
  return sharing;
}

// What one group contributes to the joined results, as it travels between ranks: its index, its
// clean and corrupted metric per prompt, per component the exact sweep's per-prompt values and cost
// (and the attribution estimate), and the circuit variants' metrics.
struct GroupValues {
  int64_t group = 0;
  torch::Tensor clean, corrupted;  // float [group's prompts]
  torch::Tensor correct, wrong;    // int64 [group's prompts]: the answers used
  std::vector<torch::Tensor> per_prompt, cost, attribution;
  torch::Tensor circuit;  // double [variants]
};

std::vector<torch::Tensor> flatten(const GroupValues& v) {
  std::vector<torch::Tensor> out{torch::tensor({v.group}, torch::kLong), v.clean, v.corrupted, v.correct, v.wrong};
  for (size_t c = 0; c < v.per_prompt.size(); ++c) {
    out.push_back(v.per_prompt[c]);
    out.push_back(v.cost[c]);
    if (!v.attribution.empty()) out.push_back(v.attribution[c]);
  }
  if (v.circuit.defined()) out.push_back(v.circuit);
  return out;
}

GroupValues unflatten(const std::vector<torch::Tensor>& t, size_t& at, size_t components, bool attribution,
                      bool circuit) {
  GroupValues v;
  v.group = t.at(at++).item<int64_t>();
  v.clean = t.at(at++);
  v.corrupted = t.at(at++);
  v.correct = t.at(at++);
  v.wrong = t.at(at++);
  for (size_t c = 0; c < components; ++c) {
    v.per_prompt.push_back(t.at(at++));
    v.cost.push_back(t.at(at++));
    if (attribution) v.attribution.push_back(t.at(at++));
  }
  if (circuit) v.circuit = t.at(at++);
  return v;
}

std::string to_bytes(const std::vector<torch::Tensor>& tensors) {
  c10::List<at::Tensor> list;
  for (const torch::Tensor& t : tensors) list.push_back(t.to(torch::kCPU).contiguous());
  const std::vector<char> bytes = torch::pickle_save(c10::IValue(list));
  return std::string(bytes.begin(), bytes.end());
}

std::vector<torch::Tensor> from_bytes(const std::string& bytes) {
  const c10::IValue value = torch::pickle_load(std::vector<char>(bytes.begin(), bytes.end()));
  std::vector<torch::Tensor> out;
  for (const c10::IValue& item : value.toListRef()) out.push_back(item.toTensor());
  return out;
}

// Weighted by each group's prompts: the batch mean of the values [group, ...] that are group means.
torch::Tensor mean_of_group_means(const std::vector<torch::Tensor>& means, const std::vector<PromptRange>& ranges) {
  torch::Tensor sum;
  int64_t total = 0;
  for (size_t g = 0; g < means.size(); ++g) {
    const torch::Tensor weighted = means[g].to(torch::kFloat64) * double(ranges[g].size());
    sum = sum.defined() ? sum + weighted : weighted;
    total += ranges[g].size();
  }
  return sum / double(total);
}

}  // namespace

SplitPatchOutcome run_split_patching(HookedTransformer model, const PatchingInputs& inputs, MetricKind metric,
                                     const SplitPatchRequest& request, bool progress) {
  const Ablation ablation = request.options.ablation;
  MECHLENS_CHECK(InputError, ablation != Ablation::kMean && ablation != Ablation::kResample,
                 "{} ablation takes its values across all prompts, but with {} prompt groups each group would use "
                 "its own; use one group",
                 ablation_name(ablation), request.groups);
  const std::vector<PromptRange> ranges = split_prompts(inputs.batch(), request.groups);
  const std::unique_ptr<Communicator> alone = make_single_process();
  Communicator* comm = request.options.sharing.comm ? request.options.sharing.comm : alone.get();
  const int rank = comm->rank(), ranks = comm->size();
  // Teams: with no more ranks than groups, every rank is a team of its own and takes whole groups;
  // with more, the ranks of a team share the packs of its groups (teams differ by at most a rank).
  const int teams = int(std::min<int64_t>(ranks, int64_t(ranges.size())));
  const int team = rank % teams;
  const std::unique_ptr<Communicator> team_comm = comm->split(team);
  std::vector<int64_t> every_group(ranges.size());
  std::iota(every_group.begin(), every_group.end(), 0);
  const std::vector<int64_t> mine = deal_to_rank(every_group, team, teams);

  // Rank 0 always runs group 0, whose results give the joined ones their axes and labels.
  SplitPatchOutcome out;
  out.groups_on_this_rank = int64_t(mine.size());
  std::vector<torch::Tensor> sent;
  // One bar over this rank's groups; each group's bars (set-up, then planning and patching per
  // component) report to it.
  auto group_name = [&ranges](int64_t g) {
    return fmt::format("group {} of {} (prompts {}..{})", g + 1, ranges.size(), ranges[size_t(g)].begin,
                       ranges[size_t(g)].end - 1);
  };
  ProgressOverall overall(fmt::format("patching {} prompt groups", mine.size()), int64_t(mine.size()),
                          1 + 2 * int64_t(request.components.size()), progress);
  for (const int64_t g : mine) {
    const PromptRange& range = ranges[size_t(g)];
    overall.begin_unit(group_name(g));
    PatchingSession session(model, slice_inputs(inputs, range), metric, progress);
    PatchOptions options = request.options;
    options.sharing = group_sharing(request.options.sharing, team_comm.get(), g, int64_t(ranges.size()));
    GroupValues values;
    values.group = g;
    values.clean = session.clean_per_prompt();
    values.corrupted = session.corrupted_per_prompt();
    values.correct = session.inputs().correct;
    values.wrong = session.inputs().wrong;
    for (const Component& component : request.components) {
      PatchResult exact = session.run(component, options);
      values.per_prompt.push_back(exact.per_prompt);
      values.cost.push_back(torch::tensor({double(exact.rows_computed), exact.flops}, torch::kFloat64));
      std::optional<PatchResult> estimate;
      if (request.attribution) {
        estimate = session.attribution(component, options);
        values.attribution.push_back(estimate->metric);
      }
      if (g == 0) {
        out.exact.push_back(std::move(exact));
        out.attribution.push_back(std::move(estimate));
      }
    }
    if (request.circuit != nullptr) {
      CircuitReport report = check_circuit(session, *request.circuit);
      std::vector<double> metrics;
      for (const CircuitVariant& variant : report.variants) metrics.push_back(variant.metric);
      values.circuit = torch::tensor(metrics, torch::kFloat64);
      if (g == 0) out.circuit = std::move(report);
    }
    const std::vector<torch::Tensor> flat = flatten(values);
    sent.insert(sent.end(), flat.begin(), flat.end());
    overall.end_unit();
  }
  overall.finish();

  // Every team's groups (sent by its first rank), gathered; rank 0 joins them in prompt order.
  if (team_comm->rank() != 0) sent.clear();
  const std::vector<std::string> received = comm->all_gather(to_bytes(sent));
  if (rank != 0) return out;
  std::map<int64_t, GroupValues> by_group;
  for (const std::string& bytes : received) {
    const std::vector<torch::Tensor> tensors = from_bytes(bytes);
    for (size_t at = 0; at < tensors.size();) {
      GroupValues v =
          unflatten(tensors, at, request.components.size(), request.attribution, request.circuit != nullptr);
      by_group[v.group] = std::move(v);
    }
  }
  MECHLENS_CHECK(Error, by_group.size() == ranges.size(), "prompt groups: {} of {} groups arrived", by_group.size(),
                 ranges.size());
  auto each = [&by_group](auto field) {
    std::vector<torch::Tensor> values;
    for (const auto& [g, v] : by_group) values.push_back(field(v));
    return values;
  };
  out.clean_per_prompt = torch::cat(each([](const GroupValues& v) { return v.clean; }));
  out.corrupted_per_prompt = torch::cat(each([](const GroupValues& v) { return v.corrupted; }));
  out.correct = torch::cat(each([](const GroupValues& v) { return v.correct; }));
  out.wrong = torch::cat(each([](const GroupValues& v) { return v.wrong; }));
  out.clean_metric = out.clean_per_prompt.to(torch::kFloat64).mean().item<double>();
  out.corrupted_metric = out.corrupted_per_prompt.to(torch::kFloat64).mean().item<double>();
  for (size_t c = 0; c < request.components.size(); ++c) {
    PatchResult& exact = out.exact[c];
    exact.per_prompt = torch::cat(each([c](const GroupValues& v) { return v.per_prompt[c]; }), -1);
    exact.metric = exact.per_prompt.to(torch::kFloat64).mean(-1).to(torch::kFloat32);
    exact.normalised = normalise(exact.metric, exact.direction, out.clean_metric, out.corrupted_metric);
    exact.clean_metric = out.clean_metric;
    exact.corrupted_metric = out.corrupted_metric;
    const torch::Tensor cost = torch::stack(each([c](const GroupValues& v) { return v.cost[c]; })).sum(0);
    exact.rows_computed = int64_t(cost[0].item<double>());
    exact.flops = cost[1].item<double>();
    if (!request.attribution) continue;
    PatchResult& estimate = *out.attribution[c];
    estimate.metric =
        mean_of_group_means(each([c](const GroupValues& v) { return v.attribution[c]; }), ranges).to(torch::kFloat32);
    estimate.normalised = normalise(estimate.metric, estimate.direction, out.clean_metric, out.corrupted_metric);
    estimate.clean_metric = out.clean_metric;
    estimate.corrupted_metric = out.corrupted_metric;
  }
  if (out.circuit) {
    const torch::Tensor metrics = mean_of_group_means(each([](const GroupValues& v) { return v.circuit; }), ranges);
    const torch::Tensor recovered = normalise(metrics, Direction::kDenoising, out.clean_metric, out.corrupted_metric);
    out.circuit->clean_metric = out.clean_metric;
    out.circuit->corrupted_metric = out.corrupted_metric;
    for (size_t r = 0; r < out.circuit->variants.size(); ++r) {
      out.circuit->variants[r].metric = metrics[int64_t(r)].item<double>();
      out.circuit->variants[r].recovered = recovered[int64_t(r)].item<double>();
    }
  }
  return out;
}

}  // namespace mechlens
