#include "tracing/trace_file.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <torch/torch.h>

#include "store/h5_util.h"

namespace mechlens {
namespace {

std::vector<std::string> with(std::vector<std::string> dims, const std::string& first, const std::string& last = "") {
  if (!first.empty()) dims.insert(dims.begin(), first);
  if (!last.empty()) dims.push_back(last);
  return dims;
}

torch::Tensor longs(const std::vector<int64_t>& values) { return torch::tensor(values, torch::kLong); }

void write_summary(const H5::Group& group, const std::string& name, const PromptSummary& summary,
                   const std::vector<std::string>& dims, const std::string& lead = "") {
  write_tensor(group, name + "_mean", summary.mean, with(dims, lead));
  write_tensor(group, name + "_std", summary.std, with(dims, lead));
  if (summary.quantiles.defined() && !summary.levels.empty()) {
    std::vector<std::string> q_dims = with(dims, "quantile");
    if (!lead.empty()) q_dims.insert(q_dims.begin(), lead);
    write_tensor(group, name + "_quantiles", summary.quantiles, q_dims);
  }
}

void write_groups(const H5::Group& parent, const PromptGroups& groups, const std::vector<double>& levels,
                  const std::vector<std::pair<std::string, torch::Tensor>>& per_prompt,
                  const std::vector<std::string>& dims) {
  H5::Group group = parent.createGroup("groups");
  h5::write_attr(group, "group_by", groups.by);
  h5::write_strings(group, "label_group", groups.labels);
  write_tensor(group, "count", groups.counts(), {"group"});
  for (const auto& [name, values] : per_prompt)
    write_summary(group, name, summarize_groups(values, groups, levels), dims, "group");
}

void write_prompts(H5::H5File& file, const TraceFileContents& contents) {
  H5::Group prompts = file.createGroup("prompts");
  write_tensor(prompts, "tokens", contents.prompts.tokens, {"batch", "pos"});
  write_tensor(prompts, "answer_pos", contents.prompts.answer_pos, {"batch"});
  write_tensor(prompts, "correct", contents.prompts.correct, {"batch"});
  if (contents.prompts.wrong.defined()) write_tensor(prompts, "wrong", contents.prompts.wrong, {"batch"});
  if (!contents.prompt_groups.empty()) h5::write_strings(prompts, "group", contents.prompt_groups);
  if (!contents.spans.empty()) {
    // [span, batch, 2]: begin, end of each named span in each prompt
    torch::Tensor ranges = torch::zeros({int64_t(contents.spans.size()), contents.prompts.batch(), 2}, torch::kLong);
    std::vector<std::string> names;
    for (size_t i = 0; i < contents.spans.size(); ++i) {
      names.push_back(contents.spans[i].name);
      for (size_t b = 0; b < contents.spans[i].per_prompt.size(); ++b) {
        ranges[int64_t(i)][int64_t(b)][0] = contents.spans[i].per_prompt[b].first;
        ranges[int64_t(i)][int64_t(b)][1] = contents.spans[i].per_prompt[b].second;
      }
    }
    write_tensor(prompts, "spans", ranges, {"span", "batch", "bound"});
    h5::write_strings(prompts, "label_span", names);
  }
  if (!contents.annotations.empty()) write_annotations(prompts, contents.annotations, contents.annotation_dims);
}

void write_span_attention(H5::H5File& file, const TraceFileContents& contents) {
  const SpanAttention& spans = *contents.span_attention;
  H5::Group group = file.createGroup("span_attention");
  const std::vector<std::string> dims{"layer", "head", "source"};
  h5::write_attr(group, "destination", contents.destination);
  h5::write_attr(group, "region", spans.region_name);
  h5::write_attr(group, "dims", std::string("layer,head,source"));
  write_tensor(group, "label_layer", longs(spans.layers), {"layer"});
  h5::write_strings(group, "label_source", spans.source_names);
  write_tensor(group, "label_quantile", torch::tensor(contents.quantile_levels, torch::kFloat64), {"quantile"});
  write_tensor(group, "mass", spans.mass, with(dims, "", "batch"));
  write_tensor(group, "share", spans.share, with(dims, "", "batch"));
  write_summary(group, "mass", summarize_prompts(spans.mass, contents.quantile_levels), dims);
  write_summary(group, "share", summarize_prompts(spans.share, contents.quantile_levels), dims);
  if (contents.groups) {
    write_groups(group, *contents.groups, contents.quantile_levels, {{"mass", spans.mass}, {"share", spans.share}},
                 dims);
  }
}

void write_knockout(H5::H5File& file, const TraceFileContents& contents) {
  const KnockoutResult& knockout = *contents.knockout;
  H5::Group group = file.createGroup("knockout");
  h5::write_attr(group, "dims", fmt::format("{}", fmt::join(knockout.dims, ",")));
  h5::write_attr(group, "window", knockout.window);
  h5::write_attr(group, "destination", contents.destination);
  h5::write_attr(group, "base_accuracy", knockout.base_accuracy);
  h5::write_attr(group, "method", knockout.method);
  for (size_t d = 0; d < knockout.dims.size(); ++d) {
    if (knockout.dims[d] == "source") h5::write_strings(group, "label_source", knockout.source_names);
    else write_tensor(group, "label_" + knockout.dims[d], longs(knockout.labels[d]), {knockout.dims[d]});
  }
  write_tensor(group, "relative_prob_change", knockout.relative_prob_change, knockout.dims);
  write_tensor(group, "accuracy", knockout.accuracy, knockout.dims);
  write_tensor(group, "prob", knockout.prob, with(knockout.dims, "", "batch"));
  write_tensor(group, "correct", knockout.correct, with(knockout.dims, "", "batch"));
  write_tensor(group, "base_prob", knockout.base_prob, {"batch"});
  write_tensor(group, "base_correct", knockout.base_correct, {"batch"});
  std::vector<std::pair<std::string, torch::Tensor>> per_prompt{{"prob", knockout.prob},
                                                                {"accuracy", knockout.correct}};
  if (knockout.logit_diff.defined()) {
    write_tensor(group, "logit_diff_change", knockout.logit_diff_change, knockout.dims);
    write_tensor(group, "logit_diff", knockout.logit_diff, with(knockout.dims, "", "batch"));
    write_tensor(group, "base_logit_diff", knockout.base_logit_diff, {"batch"});
    per_prompt.emplace_back("logit_diff", knockout.logit_diff);
  }
  if (contents.groups) write_groups(group, *contents.groups, {}, per_prompt, knockout.dims);
}

void write_path(H5::H5File& file, const TraceFileContents& contents) {
  const KnockoutPath& path = *contents.path;
  H5::Group group = file.createGroup("path");
  h5::write_attr(group, "start", contents.path_start);
  h5::write_attr(group, "min_drop", contents.path_min_drop);
  h5::write_attr(group, "base_accuracy", path.base_accuracy);
  std::vector<int64_t> layers;
  std::vector<std::string> destinations, sources;
  std::vector<double> accuracy, change, control;
  for (const PathEdge& edge : path.edges) {
    layers.push_back(edge.layer);
    destinations.push_back(edge.destination);
    sources.push_back(edge.source);
    accuracy.push_back(edge.accuracy);
    change.push_back(edge.relative_prob_change);
    control.push_back(edge.control_accuracy);
  }
  write_tensor(group, "layer", longs(layers), {"edge"});
  h5::write_strings(group, "destination", destinations);
  h5::write_strings(group, "source", sources);
  write_tensor(group, "accuracy", torch::tensor(accuracy, torch::kFloat64), {"edge"});
  write_tensor(group, "relative_prob_change", torch::tensor(change, torch::kFloat64), {"edge"});
  write_tensor(group, "control_accuracy", torch::tensor(control, torch::kFloat64), {"edge"});
}

void write_graph(const H5::Group& parent, const TraceFileContents& contents) {
  const TraceGraph& graph = *contents.graph;
  H5::Group group = parent.createGroup("graph");
  h5::write_attr(group, "prompt", contents.graph_prompt);
  h5::write_attr(group, "pruning", contents.pruning);
  std::vector<std::string> ids, types, labels, kinds;
  std::vector<int64_t> layers, positions, sources, targets, roots(graph.roots.begin(), graph.roots.end());
  for (const GraphNode& node : graph.nodes) {
    ids.push_back(node.id);
    types.push_back(node.type);
    labels.push_back(node.label);
    layers.push_back(node.layer);
    positions.push_back(node.pos);
  }
  size_t n_heads = 0;
  std::vector<double> weights;
  for (const GraphEdge& edge : graph.edges) {
    sources.push_back(edge.source);
    targets.push_back(edge.target);
    weights.push_back(edge.weight);
    kinds.push_back(edge.kind);
    n_heads = std::max(n_heads, edge.heads.size());
  }
  h5::write_strings(group, "node_id", ids);
  h5::write_strings(group, "node_type", types);
  h5::write_strings(group, "node_label", labels);
  write_tensor(group, "node_layer", longs(layers), {"node"});
  write_tensor(group, "node_pos", longs(positions), {"node"});
  if (!graph.influence.empty()) write_tensor(group, "node_influence", torch::tensor(graph.influence), {"node"});
  write_tensor(group, "roots", longs(roots), {"root"});
  write_tensor(group, "edge_source", longs(sources), {"edge"});
  write_tensor(group, "edge_target", longs(targets), {"edge"});
  write_tensor(group, "edge_weight", torch::tensor(weights, torch::kFloat64), {"edge"});
  h5::write_strings(group, "edge_kind", kinds);
  torch::Tensor heads = torch::zeros({int64_t(graph.edges.size()), int64_t(n_heads)});
  for (size_t e = 0; e < graph.edges.size(); ++e) {
    for (size_t h = 0; h < graph.edges[e].heads.size(); ++h) heads[int64_t(e)][int64_t(h)] = graph.edges[e].heads[h];
  }
  write_tensor(group, "edge_heads", heads, {"edge", "head"});
  if (contents.edge_check) {
    const EdgeCheck& check = *contents.edge_check;
    h5::write_attr(group, "base_accuracy", check.base_accuracy);
    write_tensor(group, "edge_knockout", torch::tensor(check.prompt_effect, torch::kFloat64), {"edge"});
    h5::write_strings(group, "edge_role", check.role);
    write_tensor(group, "edge_role_accuracy", torch::tensor(check.role_accuracy, torch::kFloat64), {"edge"});
    write_tensor(group, "edge_control_accuracy", torch::tensor(check.control_accuracy, torch::kFloat64), {"edge"});
    write_tensor(group, "edge_role_prompts", longs(check.role_prompts), {"edge"});
  }
}

void write_flow(H5::H5File& file, const TraceFileContents& contents) {
  H5::Group group = file.createGroup("flow");
  const InformationFlow& flow = *contents.flow;
  h5::write_attr(group, "method", std::string("information flow routes (L1 proximity shares)"));
  write_tensor(group, "prompt", longs(contents.flow_prompts), {"batch"});
  write_tensor(group, "attention", flow.attention, {"batch", "layer", "head", "dest", "src"});
  write_tensor(group, "attention_residual", flow.attention_residual, {"batch", "layer", "dest"});
  write_tensor(group, "attention_coverage", flow.attention_coverage, {"batch", "layer", "dest"});
  if (flow.has_mlp()) {
    write_tensor(group, "mlp", flow.mlp, {"batch", "layer", "dest"});
    write_tensor(group, "mlp_residual", flow.mlp_residual, {"batch", "layer", "dest"});
    write_tensor(group, "mlp_coverage", flow.mlp_coverage, {"batch", "layer", "dest"});
  }
  if (contents.span_flow.defined()) {
    write_tensor(group, "span_flow", contents.span_flow, {"layer", "head", "dest_span", "src_span", "batch"});
    std::vector<std::string> names;
    for (const PositionSpan& span : contents.spans) names.push_back(span.name);
    h5::write_strings(group, "label_span", names);
    write_summary(group, "span_flow", summarize_prompts(contents.span_flow, contents.quantile_levels),
                  {"layer", "head", "dest_span", "src_span"});
  }
  if (contents.rollout.defined()) write_tensor(group, "rollout", contents.rollout, {"batch", "layer", "dest", "src"});
  if (contents.attention_flow.defined()) write_tensor(group, "attention_flow", contents.attention_flow, {"src"});
  if (contents.graph) write_graph(group, contents);
}

}  // namespace

void write_trace_file(const std::string& path, const TraceFileContents& contents, const Provenance& provenance) {
  write_result_file(path, "mechlens-trace", kTraceFormatVersion, [&](H5::H5File& file) {
    write_provenance(file, provenance);
    write_prompts(file, contents);
    if (contents.span_attention) write_span_attention(file, contents);
    if (contents.knockout) write_knockout(file, contents);
    if (contents.path) write_path(file, contents);
    if (contents.flow) write_flow(file, contents);
  });
}

}  // namespace mechlens
