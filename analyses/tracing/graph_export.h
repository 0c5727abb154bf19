// A tracing graph in the formats other tools open: circuit-tracer's graph JSON (schema_version 1:
// metadata / qParams / nodes / links, as Neuronpedia's graph viewer reads it; mechlens node types
// "embedding", "attention", "mlp", "residual" in feature_type, and each link's kind and per-head
// shares as extra fields) and Graphviz DOT (one rank per layer stage, input tokens at the bottom,
// edge width proportional to weight, residual edges dashed).
#pragma once

#include <string>
#include <vector>

#include "tracing/graph.h"

namespace mechlens {

struct GraphDescription {
  std::string slug;                        // e.g. "logic-prompt-0"
  std::vector<std::string> prompt_tokens;  // token strings of the prompt
  std::vector<std::string> predictions;    // top token at each position (drawn above), may be empty
  std::string method;                      // "information flow routes", ...
  std::string pruning;                     // "threshold 0.04", "influence 0.8/0.98"
  std::string checkpoint;
};

std::string graph_json(const TraceGraph& graph, const GraphDescription& description);
std::string graph_dot(const TraceGraph& graph, const GraphDescription& description);

}  // namespace mechlens
