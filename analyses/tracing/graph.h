// The graphs tracing makes (information flow, knock-out, attribution patching), as nodes and
// weighted edges, and the one pruning engine every graph goes through:
//   - threshold pruning from the prediction backwards (Information Flow Routes' tool: keep the
//     in-edges above tau of every node reached from a root; default tau 0.04);
//   - cumulative-influence pruning (circuit-tracer's prune_graph): normalise |A| per target row,
//     influence = w (A + A^2 + ...), keep the nodes holding `node_threshold` of the cumulative
//     influence and the edges holding `edge_threshold` of the cumulative edge score, then remove
//     dangling nodes until every kept node has an in- and an out-edge (roots and inputs excepted).
// Edges run from source to target in the direction information flows.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace mechlens {

struct GraphNode {
  std::string id;      // "X0_3" (input), "A1_5" (after layer 1's attention), "M1_5" (its MLP), "I1_5" (layer output)
  std::string type;    // "embedding", "attention", "mlp", "residual"
  int64_t layer = -1;  // -1: the input
  int64_t pos = 0;
  std::string label;  // e.g. the token at pos
};

struct GraphEdge {
  int64_t source = 0, target = 0;  // node indices
  double weight = 0;
  std::string kind;          // "attention", "residual", "mlp"
  std::vector<float> heads;  // attention edges: each head's share (sums to weight)
};

struct TraceGraph {
  std::vector<GraphNode> nodes;
  std::vector<GraphEdge> edges;
  std::vector<int64_t> roots;        // the prediction nodes
  std::vector<double> root_weights;  // e.g. 1, or each predicted token's probability
  std::vector<double> influence;     // per node, set by prune_by_influence (empty otherwise)

  /// Index of the node with this id; throws InputError naming it when there is none.
  int64_t node_index(const std::string& id) const;
};

/// Keeps the edges of weight > tau reached backwards from the roots, and their nodes.
TraceGraph prune_by_threshold(const TraceGraph& graph, double tau);

struct InfluencePruning {
  double node_threshold = 0.8;
  double edge_threshold = 0.98;
  int64_t max_iterations = 1000;  // of the influence series (a DAG's depth suffices)
};
/// circuit-tracer's pruning; nodes of type "embedding" and the roots are always kept. Sets the kept
/// graph's `influence`.
TraceGraph prune_by_influence(const TraceGraph& graph, const InfluencePruning& options = {});

/// Influence of every node on the roots: w (A + A^2 + ...) with A the row-normalised |weights|.
std::vector<double> node_influence(const TraceGraph& graph, int64_t max_iterations = 1000);

}  // namespace mechlens
