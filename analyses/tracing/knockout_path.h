// The path a prediction takes, traced by knock-out alone (no attribution scores to trust): start at
// a destination role (a named span, e.g. the answer position), knock out its attention to every
// source role in every layer below the current one (one batched grid), keep each (layer, source)
// whose knock-out drops accuracy by at least `min_drop`, and continue from those sources in the
// layers below. Every kept edge is then checked against a control edge: same layer and destination,
// a seeded random other source (outside every role the path reads), knocked out the same way.
// Roles are the task's named spans; a span that coincides with an earlier one in every prompt is
// the same role and is dropped.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/selection.h"
#include "tracing/graph.h"
#include "tracing/knockout.h"

namespace mechlens {

struct PathEdge {
  int64_t layer = 0;
  std::string destination, source;  // role names
  double accuracy = 0;              // over the prompts, with this edge knocked out
  double relative_prob_change = 0;  // mean (p - p0) / p0 of the answer
  double control_accuracy = 0;      // with the control edge knocked out instead
};

struct KnockoutPath {
  std::string start;            // the role traced from (a repeated role under the name it repeats)
  std::vector<PathEdge> edges;  // in the order found: from the destination backwards
  double base_accuracy = 0;
  int64_t grids = 0;  // knock-out grids run
};

struct KnockoutPathOptions {
  double min_drop = 0.3;   // accuracy drop (absolute) that makes an edge part of the path
  int64_t max_edges = 32;  // stop after this many edges
  uint64_t seed = 0;       // control sources
  int64_t max_batch = 512;
  bool progress = false;
};

/// Traces from role `start` (a name in `roles`). Throws InputError naming the known roles when
/// `start` is not one of them.
KnockoutPath trace_knockout_path(HookedTransformer& model, const AnswerPrompts& prompts,
                                 const std::vector<PositionSpan>& roles, const std::string& start,
                                 const KnockoutPathOptions& options = {});

/// The path as a tracing graph (so that it prunes and exports like every graph): a node per role
/// and layer stage ("X0_query" input, "A1_query" after layer 1's attention, "I1_query" after layer
/// 1), an attention edge per path edge weighted by its accuracy drop (base - accuracy), and
/// residual edges of weight 1 (not measured) carrying a role's state up to the layer where it is
/// read. The root is path.start after the last layer.
TraceGraph knockout_path_graph(const KnockoutPath& path, int64_t n_layers);

}  // namespace mechlens
