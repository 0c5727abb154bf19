// The causal check of a traced graph's attention edges (`mechlens trace --verify`):
//   - in the graph's own prompt, each edge (layer l, destination t <- source s, every head) is
//     knocked out alone: the relative change of the answer's probability;
//   - across every prompt, each edge is carried over by the roles of its ends (the narrowest named
//     span holding the position and the offset inside it, e.g. hop1_edge[1] <- answer_position[0]):
//     the accuracy when that role edge is knocked out in every prompt that has both roles, beside a
//     control edge per edge (same layer and destination, a seeded random other source outside the
//     path's source roles) so that "this edge matters" is read against "any edge matters".
// One batched knock-out grid per check (tracing/knockout.h).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/selection.h"
#include "tracing/graph.h"
#include "tracing/knockout.h"

namespace mechlens {

struct EdgeCheck {
  std::vector<double>
      prompt_effect;              // per graph edge: relative p(answer) change in the graph's prompt; NaN: not attention
  std::vector<std::string> role;  // per graph edge: "L1 answer_position[0] <- hop1_edge[1]", "" without roles
  std::vector<double> role_accuracy;     // per graph edge: accuracy over prompts with the role edge knocked out; NaN
  std::vector<double> control_accuracy;  // per graph edge: the same for its control edge; NaN
  std::vector<int64_t> role_prompts;     // per graph edge: prompts that have both roles
  double base_accuracy = 0;
};

struct EdgeCheckOptions {
  int64_t max_batch = 512;
  uint64_t seed = 0;  // control sources
  bool progress = false;
};

/// `graph` is the graph of prompt `graph_prompt` of `prompts`; `spans` the prompts' named spans
/// (empty: only the in-prompt check).
EdgeCheck check_edges(HookedTransformer& model, const AnswerPrompts& prompts, const std::vector<PositionSpan>& spans,
                      const TraceGraph& graph, int64_t graph_prompt, const EdgeCheckOptions& options = {});

}  // namespace mechlens
