#include "tracing/graph_export.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <map>
#include <nlohmann/json.hpp>

namespace mechlens {
namespace {

// circuit-tracer writes the embedding layer as "E"; the logit layer as n_layers + 1.
std::string layer_name(const GraphNode& node) { return node.layer < 0 ? "E" : std::to_string(node.layer); }

std::string dot_escape(const std::string& text) {
  std::string out;
  for (char c : text) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out;
}

// Rank of a node's stage: input 0, then attention, MLP and output of each layer.
int64_t stage(const GraphNode& node) {
  if (node.layer < 0) return 0;
  const int64_t within = node.type == "attention" ? 1 : node.type == "mlp" ? 2 : 3;
  return 1 + 3 * node.layer + within - 1;
}

}  // namespace

std::string graph_json(const TraceGraph& graph, const GraphDescription& description) {
  nlohmann::json nodes = nlohmann::json::array(), links = nlohmann::json::array();
  std::vector<bool> is_root(graph.nodes.size(), false);
  for (int64_t root : graph.roots) is_root[size_t(root)] = true;
  for (size_t i = 0; i < graph.nodes.size(); ++i) {
    const GraphNode& node = graph.nodes[i];
    nlohmann::json entry{{"node_id", node.id},
                         {"jsNodeId", node.id},
                         {"feature", int64_t(i)},
                         {"layer", layer_name(node)},
                         {"ctx_idx", node.pos},
                         {"feature_type", node.type},
                         {"clerp", node.label.empty() ? node.id : fmt::format("{} '{}'", node.id, node.label)},
                         {"is_target_logit", bool(is_root[i])},
                         {"token_prob", 0.0},
                         {"activation", nullptr}};
    if (!graph.influence.empty()) entry["influence"] = graph.influence[i];
    nodes.push_back(std::move(entry));
  }
  for (const GraphEdge& edge : graph.edges) {
    nlohmann::json link{{"source", graph.nodes[size_t(edge.source)].id},
                        {"target", graph.nodes[size_t(edge.target)].id},
                        {"weight", edge.weight},
                        {"kind", edge.kind}};
    if (!edge.heads.empty()) link["heads"] = edge.heads;
    links.push_back(std::move(link));
  }
  nlohmann::json root_ids = nlohmann::json::array();
  for (int64_t root : graph.roots) root_ids.push_back(graph.nodes[size_t(root)].id);
  const nlohmann::json document{{"metadata",
                                 {{"slug", description.slug},
                                  {"scan", "mechlens"},
                                  {"prompt_tokens", description.prompt_tokens},
                                  {"prompt", fmt::format("{}", fmt::join(description.prompt_tokens, " "))},
                                  {"schema_version", 1},
                                  {"info",
                                   {{"generator", "mechlens trace"},
                                    {"method", description.method},
                                    {"pruning", description.pruning},
                                    {"checkpoint", description.checkpoint},
                                    {"predictions", description.predictions},
                                    {"roots", root_ids}}}}},
                                {"qParams",
                                 {{"pinnedIds", nlohmann::json::array()},
                                  {"supernodes", nlohmann::json::array()},
                                  {"linkType", "both"},
                                  {"clickedId", ""},
                                  {"sg_pos", ""}}},
                                {"nodes", nodes},
                                {"links", links}};
  return document.dump(1);
}

std::string graph_dot(const TraceGraph& graph, const GraphDescription& description) {
  std::string out =
      fmt::format("digraph \"{}\" {{\n  rankdir=BT;\n  node [shape=box, fontsize=10];\n", dot_escape(description.slug));
  out += fmt::format("  label=\"{} ({})\";\n", dot_escape(description.method), dot_escape(description.pruning));
  std::map<int64_t, std::vector<size_t>> by_stage;
  for (size_t i = 0; i < graph.nodes.size(); ++i) by_stage[stage(graph.nodes[i])].push_back(i);
  for (const auto& [rank, members] : by_stage) {
    out += "  { rank=same;";
    for (size_t i : members) out += fmt::format(" \"{}\";", dot_escape(graph.nodes[i].id));
    out += " }\n";
  }
  std::vector<bool> is_root(graph.nodes.size(), false);
  for (int64_t root : graph.roots) is_root[size_t(root)] = true;
  for (size_t i = 0; i < graph.nodes.size(); ++i) {
    const GraphNode& node = graph.nodes[i];
    std::string label = node.id;
    if (node.layer < 0 && !node.label.empty()) label += "\\n" + dot_escape(node.label);
    if (is_root[i] && size_t(node.pos) < description.predictions.size()) {
      label += "\\npredicts " + dot_escape(description.predictions[size_t(node.pos)]);
    }
    out += fmt::format("  \"{}\" [label=\"{}\"{}];\n", dot_escape(node.id), label, is_root[i] ? ", peripheries=2" : "");
  }
  for (const GraphEdge& edge : graph.edges) {
    out += fmt::format("  \"{}\" -> \"{}\" [penwidth={:.2f}, label=\"{:.2f}\"{}];\n",
                       dot_escape(graph.nodes[size_t(edge.source)].id), dot_escape(graph.nodes[size_t(edge.target)].id),
                       std::max(0.3, 6.0 * edge.weight), edge.weight, edge.kind == "residual" ? ", style=dashed" : "");
  }
  return out + "}\n";
}

}  // namespace mechlens
