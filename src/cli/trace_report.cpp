#include "cli/trace_report.h"

#include <fmt/format.h>
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <numeric>

namespace mechlens::cli {

void print_span_attention(std::FILE* out, const SpanAttention& spans, const std::string& destination,
                          const std::optional<PromptGroups>& groups) {
  const int64_t n_heads = spans.mass.size(1), n_spans = spans.mass.size(2);
  const PromptSummary summary = summarize_prompts(spans.mass, {});
  fmt::print(out, "span attention from the {} (mean mass over prompts, +- std):\n  {:<6}", destination, "head");
  for (const std::string& name : spans.source_names) fmt::print(out, " {:>16.16}", name);
  fmt::print(out, "\n");
  for (size_t i = 0; i < spans.layers.size(); ++i) {
    for (int64_t h = 0; h < n_heads; ++h) {
      fmt::print(out, "  L{}H{:<3}", spans.layers[i], h);
      for (int64_t s = 0; s < n_spans; ++s) {
        fmt::print(out, " {:>16}",
                   fmt::format("{:.3f} +- {:.3f}", summary.mean[int64_t(i)][h][s].item<float>(),
                               summary.std[int64_t(i)][h][s].item<float>()));
      }
      fmt::print(out, "\n");
    }
  }
  if (!groups) return;
  const PromptSummary by_group = summarize_groups(spans.mass, *groups, {});
  fmt::print(out, "  by {}: the span each head reads most (mean mass) per group\n  {:<6}", groups->by, "head");
  for (const std::string& label : groups->labels)
    fmt::print(out, " {:>26.26}", fmt::format("{}={}", groups->by, label));
  fmt::print(out, "\n");
  for (size_t i = 0; i < spans.layers.size(); ++i) {
    for (int64_t h = 0; h < n_heads; ++h) {
      fmt::print(out, "  L{}H{:<3}", spans.layers[i], h);
      for (int64_t g = 0; g < groups->size(); ++g) {
        const torch::Tensor row = by_group.mean[g][int64_t(i)][h];  // [span]
        const int64_t best = row.argmax().item<int64_t>();
        fmt::print(out, " {:>26}",
                   fmt::format("{:.16} {:.3f}", spans.source_names[size_t(best)], row[best].item<float>()));
      }
      fmt::print(out, "\n");
    }
  }
}

void print_knockout(std::FILE* out, const KnockoutResult& knockout, const std::string& destination, int64_t top) {
  const torch::Tensor accuracy = knockout.accuracy.flatten(), change = knockout.relative_prob_change.flatten();
  // Sort on host copies: no tensor indexing inside the comparator.
  const torch::Tensor host_accuracy = accuracy.contiguous(), host_change = change.contiguous();
  const float* acc = host_accuracy.data_ptr<float>();
  const float* drop = host_change.data_ptr<float>();
  std::vector<int64_t> order(size_t(accuracy.numel()));
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](int64_t a, int64_t b) { return acc[a] != acc[b] ? acc[a] < acc[b] : drop[a] < drop[b]; });
  fmt::print(out, "attention knock-out ({} -> source, window {} layer{}): base accuracy {:.3f}; strongest {}:\n",
             destination, knockout.window, knockout.window == 1 ? "" : "s", knockout.base_accuracy,
             std::min<int64_t>(top, accuracy.numel()));
  const bool per_head = knockout.dims.size() == 3;
  for (int64_t i = 0; i < std::min<int64_t>(top, accuracy.numel()); ++i) {
    const int64_t flat = order[size_t(i)];
    const int64_t n_sources = int64_t(knockout.source_names.size());
    const int64_t source = flat % n_sources, rest = flat / n_sources;
    std::string where;
    if (per_head) {
      const int64_t n_heads = int64_t(knockout.labels[1].size());
      where =
          fmt::format("L{}H{}", knockout.labels[0][size_t(rest / n_heads)], knockout.labels[1][size_t(rest % n_heads)]);
    } else {
      const int64_t layer = knockout.labels[0][size_t(rest)];
      where =
          knockout.window == 1 ? fmt::format("L{}", layer) : fmt::format("L{}-{}", layer, layer + knockout.window - 1);
    }
    std::string line = fmt::format("  {:<8} {:<24.24} accuracy {:.3f}  p(answer) {:+.1f}%", where,
                                   knockout.source_names[size_t(source)], accuracy[flat].item<float>(),
                                   100.0 * change[flat].item<float>());
    if (knockout.logit_diff_change.defined()) {
      line += fmt::format("  logit diff {:+.3f}", knockout.logit_diff_change.flatten()[flat].item<float>());
    }
    fmt::print(out, "{}\n", line);
  }
}

void print_path(std::FILE* out, const KnockoutPath& path, const std::string& start) {
  fmt::print(out, "knock-out path from '{}' (edges whose knock-out drops accuracy; base {:.3f}; {} grids):\n", start,
             path.base_accuracy, path.grids);
  if (path.edges.empty()) fmt::print(out, "  no single edge drops accuracy by the threshold (see --min-drop)\n");
  for (const PathEdge& edge : path.edges) {
    fmt::print(out, "  L{} {:<18} <- {:<18} accuracy {:.3f}  p(answer) {:+.1f}%   control edge {:.3f}\n", edge.layer,
               edge.destination, edge.source, edge.accuracy, 100.0 * edge.relative_prob_change, edge.control_accuracy);
  }
}

void print_span_flow(std::FILE* out, const torch::Tensor& span_flow, const std::vector<std::string>& span_names,
                     int64_t dest_span) {
  // span_flow [layer, head, dest_span, src_span, batch] -> [layer, src_span]
  const torch::Tensor into = span_flow.select(2, dest_span).sum(1).mean(-1);
  fmt::print(out,
             "information flow into '{}' (attention share from each span, heads summed, mean over prompts):\n  {:<6}",
             span_names[size_t(dest_span)], "layer");
  for (const std::string& name : span_names) fmt::print(out, " {:>16.16}", name);
  fmt::print(out, "\n");
  for (int64_t l = 0; l < into.size(0); ++l) {
    fmt::print(out, "  L{:<5}", l);
    for (int64_t s = 0; s < into.size(1); ++s) fmt::print(out, " {:>16.3f}", into[l][s].item<float>());
    fmt::print(out, "\n");
  }
}

void print_graph(std::FILE* out, const TraceGraph& graph, const std::optional<EdgeCheck>& check, int64_t top) {
  // Attention edges say which position read which: listed first; residual and MLP edges counted.
  std::vector<size_t> order;
  int64_t other = 0;
  for (size_t e = 0; e < graph.edges.size(); ++e) {
    if (graph.edges[e].kind == "attention") order.push_back(e);
    else ++other;
  }
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return graph.edges[a].weight > graph.edges[b].weight; });
  if (graph.edges.empty()) {
    fmt::print(out, "graph: {} node(s) and no edge kept by the pruning (--prune, --tau)\n", graph.nodes.size());
    return;
  }
  fmt::print(out, "graph: {} nodes, {} attention edges and {} residual/MLP edges{}\n", graph.nodes.size(), order.size(),
             other, order.empty() ? "" : "; strongest attention edges:");
  auto name = [&](int64_t i) {
    const GraphNode& node = graph.nodes[size_t(i)];
    return node.label.empty() ? node.id : fmt::format("{} '{}'", node.id, node.label);
  };
  for (size_t i = 0; i < std::min<size_t>(size_t(top), order.size()); ++i) {
    const GraphEdge& edge = graph.edges[order[i]];
    std::string line = fmt::format("  {:<18} -> {:<18} {:.3f}", name(edge.source), name(edge.target), edge.weight);
    if (!edge.heads.empty()) {
      const auto best = std::max_element(edge.heads.begin(), edge.heads.end());
      line += fmt::format("  (head {}: {:.3f})", best - edge.heads.begin(), *best);
    }
    if (check && !std::isnan(check->prompt_effect[order[i]])) {
      line += fmt::format("  knocked out: p(answer) {:+.1f}%", 100.0 * check->prompt_effect[order[i]]);
    }
    fmt::print(out, "{}\n", line);
  }
  if (!check) return;
  bool any_role = false;
  for (size_t i = 0; i < std::min<size_t>(size_t(top), order.size()); ++i) {
    const size_t e = order[i];
    if (check->role[e].empty() || std::isnan(check->role_accuracy[e])) continue;
    if (!any_role) {
      fmt::print(out, "  the same edges by role, knocked out in every prompt that has them (base accuracy {:.3f}):\n",
                 check->base_accuracy);
      any_role = true;
    }
    fmt::print(out, "  {:<44} accuracy {:.3f}   control edge {:.3f}   ({} prompts)\n", check->role[e],
               check->role_accuracy[e], check->control_accuracy[e], check->role_prompts[e]);
  }
}

}  // namespace mechlens::cli
