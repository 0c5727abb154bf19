#include "patching/patch_file.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <torch/torch.h>
#include <nlohmann/json.hpp>

#include "store/h5_util.h"
#include "util/error.h"

namespace mechlens {
namespace {

void write_result(const H5::Group& group, const PatchResult& result, const std::string& prefix) {
  write_tensor(group, prefix + "metric", result.metric, result.dims);
  write_tensor(group, prefix + "normalised", result.normalised, result.dims);
  if (result.per_prompt.defined()) {
    std::vector<std::string> dims = result.dims;
    dims.push_back("batch");
    write_tensor(group, prefix + "per_prompt", result.per_prompt, dims);
  }
}

void write_grouped(const H5::Group& parent, const GroupedPatchResult& grouped, const std::vector<std::string>& dims) {
  H5::Group group = parent.createGroup("groups");
  h5::write_attr(group, "group_by", grouped.groups.by);
  h5::write_strings(group, "label_group", grouped.groups.labels);
  std::vector<std::string> group_dims{"group"};
  group_dims.insert(group_dims.end(), dims.begin(), dims.end());
  write_tensor(group, "count", grouped.count, {"group"});
  write_tensor(group, "clean_metric", grouped.clean_metric, {"group"});
  write_tensor(group, "corrupted_metric", grouped.corrupted_metric, {"group"});
  write_tensor(group, "metric", grouped.metric, group_dims);
  write_tensor(group, "metric_std", grouped.metric_std, group_dims);
  write_tensor(group, "normalised", grouped.normalised, group_dims);
}

nlohmann::json grouped_json(const GroupedPatchResult& grouped) {
  auto values = [](const torch::Tensor& t) {
    torch::Tensor flat = t.to(torch::kFloat64).contiguous().flatten();
    return std::vector<double>(flat.data_ptr<double>(), flat.data_ptr<double>() + flat.numel());
  };
  torch::Tensor count = grouped.count.to(torch::kLong).contiguous();
  return {{"group_by", grouped.groups.by},
          {"labels", grouped.groups.labels},
          {"count", std::vector<int64_t>(count.data_ptr<int64_t>(), count.data_ptr<int64_t>() + count.numel())},
          {"clean_metric", values(grouped.clean_metric)},
          {"corrupted_metric", values(grouped.corrupted_metric)},
          {"metric", values(grouped.metric)},
          {"metric_std", values(grouped.metric_std)},
          {"normalised", values(grouped.normalised)}};
}

nlohmann::json result_json(const PatchResult& result) {
  auto values = [](const torch::Tensor& t) {
    torch::Tensor flat = t.to(torch::kFloat64).contiguous().flatten();
    return std::vector<double>(flat.data_ptr<double>(), flat.data_ptr<double>() + flat.numel());
  };
  nlohmann::json labels = result.labels;
  for (size_t d = 0; d < result.dims.size(); ++d) {
    if (result.dims[d] == "span") labels[d] = result.span_names;
  }
  return {{"dims", result.dims},
          {"labels", labels},
          {"shape", result.metric.sizes().vec()},
          {"method", result.method},
          {"metric", values(result.metric)},
          {"normalised", values(result.normalised)}};
}

}  // namespace

std::string describe_index(const PatchResult& result, int64_t flat) {
  std::vector<std::string> parts;
  int64_t stride = result.metric.numel();
  for (size_t d = 0; d < result.dims.size(); ++d) {
    stride /= result.metric.size(int64_t(d));
    const int64_t index = (flat / stride) % result.metric.size(int64_t(d));
    const int64_t label = result.dims[d] == "span" ? 0 : result.labels[d][index];
    const bool positional = result.dims[d] == "pos" || result.dims[d] == "dest";
    const bool has_role =
        positional && label < int64_t(result.position_roles.size()) && !result.position_roles[size_t(label)].empty();
    if (result.dims[d] == "span") parts.push_back(result.span_names[size_t(index)]);
    else if (has_role)
      parts.push_back(fmt::format("{} {} ({})", result.dims[d], label, result.position_roles[size_t(label)]));
    else parts.push_back(fmt::format("{} {}", result.dims[d], label));
  }
  return fmt::format("{}", fmt::join(parts, ", "));
}

std::string top_components(const PatchResult& result, int64_t top) {
  torch::Tensor scores = result.normalised.flatten().nan_to_num(0.0);
  const int64_t k = std::min<int64_t>(top, scores.numel());
  torch::Tensor order = std::get<1>(scores.abs().topk(k));
  std::string out;
  for (int64_t i = 0; i < k; ++i) {
    const int64_t flat = order[i].item<int64_t>();
    out += fmt::format("  {:<44} score {:+.4f}  metric {:+.4f}\n", describe_index(result, flat),
                       scores[flat].item<double>(), result.metric.flatten()[flat].item<double>());
  }
  return out;
}

std::string top_components_by_group(const PatchResult& result, const GroupedPatchResult& grouped, int64_t top) {
  torch::Tensor scores = result.normalised.flatten().nan_to_num(0.0);
  const int64_t k = std::min<int64_t>(top, scores.numel());
  torch::Tensor order = std::get<1>(scores.abs().topk(k));
  const int64_t groups = grouped.groups.size();
  // The spread in normalised units: the metric's std over the group's prompts, divided by the
  // group's |clean - corrupted| (the normalisation's denominator).
  torch::Tensor scale = (grouped.clean_metric - grouped.corrupted_metric).abs().to(torch::kFloat64);
  std::string out =
      fmt::format("  by {} (normalised score +- spread over the group's prompts):\n  {:<44}", grouped.groups.by, "");
  for (int64_t g = 0; g < groups; ++g) {
    out += fmt::format(" {:>19}",
                       fmt::format("{} (n={})", grouped.groups.labels[size_t(g)], grouped.count[g].item<int64_t>()));
  }
  out += "\n";
  for (int64_t i = 0; i < k; ++i) {
    const int64_t flat = order[i].item<int64_t>();
    out += fmt::format("  {:<44}", describe_index(result, flat));
    for (int64_t g = 0; g < groups; ++g) {
      const double score = grouped.normalised[g].flatten()[flat].item<double>();
      const double spread = grouped.metric_std[g].flatten()[flat].item<double>() / scale[g].item<double>();
      out += fmt::format(" {:>19}", fmt::format("{:+.3f} +- {:.3f}", score, spread));
    }
    out += "\n";
  }
  return out;
}

void write_patch_file(const std::string& path, const PatchFileContents& contents,
                      const std::vector<PatchRecord>& records, const std::optional<CircuitReport>& circuit,
                      const PatchProvenance& provenance) {
  write_result_file(path, "mechlens-patching", kPatchFormatVersion, [&](H5::H5File& file) {
    write_provenance(file, provenance);

    const PatchingInputs& inputs = contents.inputs;
    H5::Group prompts = file.createGroup("prompts");
    write_tensor(prompts, "clean", inputs.clean, {"batch", "pos"});
    write_tensor(prompts, "corrupted", inputs.corrupted, {"batch", "pos"});
    write_tensor(prompts, "answer_pos", inputs.answer_pos, {"batch"});
    write_tensor(prompts, "correct", inputs.correct, {"batch"});
    write_tensor(prompts, "wrong", inputs.wrong, {"batch"});
    if (contents.clean_per_prompt.defined()) {
      write_tensor(prompts, "clean_metric", contents.clean_per_prompt, {"batch"});
      write_tensor(prompts, "corrupted_metric", contents.corrupted_per_prompt, {"batch"});
    }
    if (!contents.prompt_groups.empty()) h5::write_strings(prompts, "group", contents.prompt_groups);
    if (!contents.annotations.empty()) write_annotations(prompts, contents.annotations, contents.annotation_dims);

    H5::Group results = file.createGroup("results");
    for (const PatchRecord& record : records) {
      const PatchResult& exact = record.exact;
      H5::Group group = results.createGroup(exact.component.name());
      h5::write_attr(group, "component", exact.component.name());
      h5::write_attr(group, "method", exact.method);
      h5::write_attr(group, "metric_name", metric_name(exact.metric_kind));
      h5::write_attr(group, "direction", direction_name(exact.direction));
      h5::write_attr(group, "ablation", ablation_name(exact.ablation));
      h5::write_attr(group, "clean_metric", exact.clean_metric);
      h5::write_attr(group, "corrupted_metric", exact.corrupted_metric);
      h5::write_attr(group, "dims", fmt::format("{}", fmt::join(exact.dims, ",")));
      write_result(group, exact, "");
      for (size_t d = 0; d < exact.dims.size(); ++d) {
        if (exact.dims[d] == "span") h5::write_strings(group, "label_span", exact.span_names);
        else write_tensor(group, "label_" + exact.dims[d], torch::tensor(exact.labels[d], torch::kLong));
        const bool positional = exact.dims[d] == "pos" || exact.dims[d] == "dest";
        if (positional && !exact.position_roles.empty()) {
          std::vector<std::string> roles;  // one per label: what the position is in every prompt
          for (int64_t position : exact.labels[d]) {
            roles.push_back(position < int64_t(exact.position_roles.size()) ? exact.position_roles[size_t(position)]
                                                                            : "");
          }
          h5::write_strings(group, "label_" + exact.dims[d] + "_role", roles);
        }
      }
      if (record.attribution) {
        write_result(group, *record.attribution, "attribution_");
        h5::write_attr(group, "attribution_correlation", record.attribution_correlation);
      }
      if (record.grouped) write_grouped(group, *record.grouped, exact.dims);
    }
    if (circuit) {
      H5::Group group = file.createGroup("circuit");
      h5::write_attr(group, "clean_metric", circuit->clean_metric);
      h5::write_attr(group, "corrupted_metric", circuit->corrupted_metric);
      nlohmann::json names = nlohmann::json::array();
      std::vector<float> metric, recovered;
      for (const auto& variant : circuit->variants) {
        names.push_back(variant.name);
        metric.push_back(float(variant.metric));
        recovered.push_back(float(variant.recovered));
      }
      h5::write_attr(group, "variants", names.dump());
      write_tensor(group, "metric", torch::tensor(metric), {"variant"});
      write_tensor(group, "recovered", torch::tensor(recovered), {"variant"});
    }
  });
}

std::string patch_json(const std::vector<PatchRecord>& records, const std::optional<CircuitReport>& circuit) {
  nlohmann::json json;
  for (const PatchRecord& record : records) {
    nlohmann::json entry = result_json(record.exact);
    entry["clean_metric"] = record.exact.clean_metric;
    entry["corrupted_metric"] = record.exact.corrupted_metric;
    entry["metric_name"] = metric_name(record.exact.metric_kind);
    entry["direction"] = direction_name(record.exact.direction);
    entry["ablation"] = ablation_name(record.exact.ablation);
    if (record.attribution) {
      entry["attribution"] = result_json(*record.attribution);
      entry["attribution_correlation"] = record.attribution_correlation;
    }
    if (record.grouped) entry["groups"] = grouped_json(*record.grouped);
    json["results"][record.exact.component.name()] = entry;
  }
  if (circuit) {
    json["circuit"]["clean_metric"] = circuit->clean_metric;
    json["circuit"]["corrupted_metric"] = circuit->corrupted_metric;
    for (const auto& variant : circuit->variants) {
      json["circuit"]["variants"].push_back(
          {{"name", variant.name}, {"metric", variant.metric}, {"recovered", variant.recovered}});
    }
  }
  return json.dump(2);
}

}  // namespace mechlens
