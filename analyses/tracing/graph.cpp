#include "tracing/graph.h"

#include <algorithm>
#include <cmath>
#include <deque>
#include <numeric>

#include "util/error.h"

namespace mechlens {
namespace {

// The nodes and edges marked kept (an edge only where both its ends are), reindexed.
TraceGraph subgraph(const TraceGraph& graph, const std::vector<bool>& keep_node, const std::vector<bool>& keep_edge) {
  TraceGraph out;
  std::vector<int64_t> new_index(graph.nodes.size(), -1);
  for (size_t i = 0; i < graph.nodes.size(); ++i) {
    if (!keep_node[i]) continue;
    new_index[i] = int64_t(out.nodes.size());
    out.nodes.push_back(graph.nodes[i]);
    if (!graph.influence.empty()) out.influence.push_back(graph.influence[i]);
  }
  for (size_t e = 0; e < graph.edges.size(); ++e) {
    const GraphEdge& edge = graph.edges[e];
    if (!keep_edge[e] || new_index[size_t(edge.source)] < 0 || new_index[size_t(edge.target)] < 0) continue;
    GraphEdge kept = edge;
    kept.source = new_index[size_t(edge.source)];
    kept.target = new_index[size_t(edge.target)];
    out.edges.push_back(std::move(kept));
  }
  for (size_t r = 0; r < graph.roots.size(); ++r) {
    const int64_t index = new_index[size_t(graph.roots[r])];
    if (index < 0) continue;
    out.roots.push_back(index);
    out.root_weights.push_back(graph.root_weights[r]);
  }
  return out;
}

void check_graph(const TraceGraph& graph) {
  const int64_t n = int64_t(graph.nodes.size());
  MECHLENS_CHECK(InputError, graph.roots.size() == graph.root_weights.size(),
                 "the graph has {} roots but {} root weights", graph.roots.size(), graph.root_weights.size());
  for (int64_t root : graph.roots) {
    MECHLENS_CHECK(InputError, root >= 0 && root < n, "root {} is not a node of the graph ({} nodes)", root, n);
  }
  for (const GraphEdge& edge : graph.edges) {
    MECHLENS_CHECK(InputError, edge.source >= 0 && edge.source < n && edge.target >= 0 && edge.target < n,
                   "edge {} -> {} names a node outside the graph ({} nodes)", edge.source, edge.target, n);
  }
}

// Cut-off value at which the descending cumulative sum of `scores` reaches `fraction` of the total.
double cumulative_threshold(std::vector<double> scores, double fraction) {
  std::sort(scores.begin(), scores.end(), std::greater<double>());
  const double total = std::accumulate(scores.begin(), scores.end(), 0.0);
  if (total <= 0) return 0;
  double sum = 0;
  for (double score : scores) {
    sum += score;
    if (sum >= fraction * total) return score;
  }
  return scores.back();
}

}  // namespace

int64_t TraceGraph::node_index(const std::string& id) const {
  for (size_t i = 0; i < nodes.size(); ++i) {
    if (nodes[i].id == id) return int64_t(i);
  }
  MECHLENS_FAIL(InputError, "the graph has no node '{}'", id);
}

TraceGraph prune_by_threshold(const TraceGraph& graph, double tau) {
  check_graph(graph);
  std::vector<std::vector<size_t>> in_edges(graph.nodes.size());
  for (size_t e = 0; e < graph.edges.size(); ++e) in_edges[size_t(graph.edges[e].target)].push_back(e);
  std::vector<bool> keep_node(graph.nodes.size(), false), keep_edge(graph.edges.size(), false);
  std::deque<int64_t> queue(graph.roots.begin(), graph.roots.end());
  for (int64_t root : graph.roots) keep_node[size_t(root)] = true;
  while (!queue.empty()) {
    const int64_t target = queue.front();
    queue.pop_front();
    for (size_t e : in_edges[size_t(target)]) {
      if (!(graph.edges[e].weight > tau)) continue;
      keep_edge[e] = true;
      const int64_t source = graph.edges[e].source;
      if (!keep_node[size_t(source)]) {
        keep_node[size_t(source)] = true;
        queue.push_back(source);
      }
    }
  }
  return subgraph(graph, keep_node, keep_edge);
}

std::vector<double> node_influence(const TraceGraph& graph, int64_t max_iterations) {
  check_graph(graph);
  const size_t n = graph.nodes.size();
  std::vector<double> in_sum(n, 0.0), value(n, 0.0), influence(n, 0.0);
  for (const GraphEdge& edge : graph.edges) in_sum[size_t(edge.target)] += std::abs(edge.weight);
  for (size_t r = 0; r < graph.roots.size(); ++r) value[size_t(graph.roots[r])] += graph.root_weights[r];
  for (int64_t step = 0; step < max_iterations; ++step) {
    std::vector<double> next(n, 0.0);
    for (const GraphEdge& edge : graph.edges) {
      const double total = in_sum[size_t(edge.target)];
      if (total > 0) next[size_t(edge.source)] += value[size_t(edge.target)] * std::abs(edge.weight) / total;
    }
    double largest = 0;
    for (size_t i = 0; i < n; ++i) {
      influence[i] += next[i];
      largest = std::max(largest, std::abs(next[i]));
    }
    value.swap(next);
    if (largest < 1e-12) break;  // a DAG empties after its depth
  }
  return influence;
}

TraceGraph prune_by_influence(const TraceGraph& graph, const InfluencePruning& options) {
  check_graph(graph);
  MECHLENS_CHECK(InputError,
                 options.node_threshold > 0 && options.node_threshold <= 1 && options.edge_threshold > 0 &&
                     options.edge_threshold <= 1,
                 "pruning thresholds must be in (0, 1], got node {} and edge {}", options.node_threshold,
                 options.edge_threshold);
  const size_t n = graph.nodes.size();
  std::vector<bool> always(n, false);
  for (size_t i = 0; i < n; ++i) always[i] = graph.nodes[i].type == "embedding";
  for (int64_t root : graph.roots) always[size_t(root)] = true;

  // 1. Nodes: those holding node_threshold of the cumulative influence.
  const std::vector<double> influence = node_influence(graph, options.max_iterations);
  const double node_cut = cumulative_threshold(influence, options.node_threshold);
  std::vector<bool> keep_node(n);
  for (size_t i = 0; i < n; ++i) keep_node[i] = always[i] || (influence[i] >= node_cut && influence[i] > 0);
  TraceGraph nodes_kept = subgraph(graph, keep_node, std::vector<bool>(graph.edges.size(), true));

  // 2. Edges: score = normalised |weight| x (target's influence + its root weight), on the pruned graph.
  const std::vector<double> pruned_influence = node_influence(nodes_kept, options.max_iterations);
  std::vector<double> in_sum(nodes_kept.nodes.size(), 0.0), own(nodes_kept.nodes.size(), 0.0);
  for (const GraphEdge& edge : nodes_kept.edges) in_sum[size_t(edge.target)] += std::abs(edge.weight);
  for (size_t r = 0; r < nodes_kept.roots.size(); ++r) own[size_t(nodes_kept.roots[r])] += nodes_kept.root_weights[r];
  std::vector<double> edge_score;
  for (const GraphEdge& edge : nodes_kept.edges) {
    const size_t t = size_t(edge.target);
    edge_score.push_back(in_sum[t] > 0 ? std::abs(edge.weight) / in_sum[t] * (pruned_influence[t] + own[t]) : 0.0);
  }
  const double edge_cut = cumulative_threshold(edge_score, options.edge_threshold);
  std::vector<bool> keep_edge(nodes_kept.edges.size());
  for (size_t e = 0; e < edge_score.size(); ++e) keep_edge[e] = edge_score[e] >= edge_cut && edge_score[e] > 0;

  // 3. Dangling nodes: no out-edge (not a root), or no in-edge (not an input), until none is left.
  std::vector<bool> keep(nodes_kept.nodes.size(), true);
  std::vector<bool> kept_always(nodes_kept.nodes.size(), false);
  for (size_t i = 0; i < nodes_kept.nodes.size(); ++i) kept_always[i] = nodes_kept.nodes[i].type == "embedding";
  std::vector<bool> is_root(nodes_kept.nodes.size(), false);
  for (int64_t root : nodes_kept.roots) is_root[size_t(root)] = kept_always[size_t(root)] = true;
  for (bool changed = true; changed;) {
    changed = false;
    std::vector<int64_t> in_count(keep.size(), 0), out_count(keep.size(), 0);
    for (size_t e = 0; e < nodes_kept.edges.size(); ++e) {
      const GraphEdge& edge = nodes_kept.edges[e];
      if (!keep_edge[e] || !keep[size_t(edge.source)] || !keep[size_t(edge.target)]) continue;
      ++out_count[size_t(edge.source)];
      ++in_count[size_t(edge.target)];
    }
    for (size_t i = 0; i < keep.size(); ++i) {
      if (!keep[i] || kept_always[i]) continue;
      if (out_count[i] == 0 || in_count[i] == 0) {
        keep[i] = false;
        changed = true;
      }
    }
  }
  for (size_t i = 0; i < keep.size(); ++i) {
    if (is_root[i]) keep[i] = true;
  }
  nodes_kept.influence = pruned_influence;
  return subgraph(nodes_kept, keep, keep_edge);
}

}  // namespace mechlens
