#include "tracing/knockout_path.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <torch/torch.h>

#include <algorithm>
#include <deque>
#include <map>
#include <set>
#include <tuple>

#include "util/error.h"

namespace mechlens {
namespace {

// The roles, without spans that repeat an earlier one in every prompt (query = answer_position in
// a task whose query is the last token) and without spans absent from every prompt.
std::vector<PositionSpan> distinct_roles(const std::vector<PositionSpan>& roles) {
  std::vector<PositionSpan> out;
  for (const PositionSpan& role : roles) {
    bool present = false;
    for (const auto& [begin, end] : role.per_prompt) present = present || end > begin;
    bool repeated = false;
    for (const PositionSpan& kept : out) repeated = repeated || kept.per_prompt == role.per_prompt;
    if (present && !repeated) out.push_back(role);
  }
  return out;
}

// Whether span `outer` holds span `inner` in every prompt where `inner` is present.
bool contains(const PositionSpan& outer, const PositionSpan& inner) {
  for (size_t b = 0; b < inner.per_prompt.size(); ++b) {
    const auto [ib, ie] = inner.per_prompt[b];
    const auto [ob, oe] = outer.per_prompt[b];
    if (ie > ib && (ib < ob || ie > oe)) return false;
  }
  return true;
}

}  // namespace

KnockoutPath trace_knockout_path(HookedTransformer& model, const AnswerPrompts& prompts,
                                 const std::vector<PositionSpan>& all_roles, const std::string& start,
                                 const KnockoutPathOptions& options) {
  const int64_t batch = prompts.batch(), n_pos = prompts.positions(), n_layers = model->config().n_layers;
  validate_spans(all_roles, batch, n_pos);
  const std::vector<PositionSpan> roles = distinct_roles(all_roles);
  std::map<std::string, size_t> index;
  for (size_t i = 0; i < roles.size(); ++i) index[roles[i].name] = i;
  // A start role dropped as a repeat is traced under the name it repeats.
  std::string from = start;
  for (const PositionSpan& role : all_roles) {
    if (role.name != start) continue;
    for (const PositionSpan& kept : roles) {
      if (kept.per_prompt == role.per_prompt) from = kept.name;
    }
  }
  if (!index.count(from)) {
    std::vector<std::string> names;
    for (const PositionSpan& role : all_roles) names.push_back(role.name);
    MECHLENS_FAIL(InputError, "no role '{}' to trace from; the prompts name {}", start, fmt::join(names, ", "));
  }
  MECHLENS_CHECK(InputError, options.min_drop > 0 && options.min_drop <= 1, "min_drop must be in (0, 1], got {}",
                 options.min_drop);

  KnockoutSession session(model, prompts);
  KnockoutPath path;
  path.start = from;
  std::deque<std::pair<size_t, int64_t>> queue{{index.at(from), n_layers}};  // (destination role, layers below)
  std::set<std::pair<size_t, int64_t>> seen{queue.front()};
  std::set<std::tuple<int64_t, size_t, size_t>> found;  // (layer, destination, source)
  while (!queue.empty() && int64_t(path.edges.size()) < options.max_edges) {
    const auto [dest, below] = queue.front();
    queue.pop_front();
    if (below <= 0) continue;
    KnockoutOptions grid;
    for (int64_t l = 0; l < below; ++l) grid.layers.push_back(l);
    grid.destinations = roles[dest].per_prompt;
    for (size_t s = 0; s < roles.size(); ++s) {
      if (s != dest) grid.sources.push_back(source_from_span(roles[s], n_pos));
    }
    if (grid.sources.empty()) continue;
    grid.max_batch = options.max_batch;
    grid.progress = options.progress;
    const KnockoutResult result = session.run(grid);
    ++path.grids;
    path.base_accuracy = result.base_accuracy;
    // Strongest first, so that max_edges keeps the edges that matter most.
    std::vector<std::tuple<double, int64_t, size_t>> hits;  // (accuracy, layer, source role)
    for (int64_t l = 0; l < below; ++l) {
      for (size_t k = 0; k < grid.sources.size(); ++k) {
        const double accuracy = result.accuracy[l][int64_t(k)].item<double>();
        if (result.base_accuracy - accuracy >= options.min_drop) hits.emplace_back(accuracy, l, k < dest ? k : k + 1);
      }
    }
    // A hit span holding another hit of the same layer says no more than the narrower one: dropped.
    std::vector<std::tuple<double, int64_t, size_t>> narrowest;
    for (const auto& hit : hits) {
      bool wider = false;
      for (const auto& other : hits) {
        wider = wider || (std::get<1>(other) == std::get<1>(hit) && std::get<2>(other) != std::get<2>(hit) &&
                          contains(roles[std::get<2>(hit)], roles[std::get<2>(other)]));
      }
      if (!wider) narrowest.push_back(hit);
    }
    hits = std::move(narrowest);
    std::sort(hits.begin(), hits.end());
    for (const auto& [accuracy, layer, source] : hits) {
      if (int64_t(path.edges.size()) >= options.max_edges) break;
      if (!found.insert({layer, dest, source}).second) continue;
      const int64_t k = int64_t(source < dest ? source : source - 1);
      path.edges.push_back({layer, roles[dest].name, roles[source].name, accuracy,
                            result.relative_prob_change[layer][k].item<double>(), 0.0});
      if (seen.insert({source, layer}).second) queue.emplace_back(source, layer);
    }
  }
  if (path.edges.empty()) return path;

  // Controls: per edge, a seeded random source outside every role the path reads.
  torch::Tensor path_positions = torch::zeros({batch, n_pos}, torch::kBool);
  for (const PathEdge& edge : path.edges) {
    path_positions.logical_or_(source_from_span(roles[index.at(edge.source)], n_pos).blocked);
  }
  KnockoutOptions controls;
  std::set<int64_t> layers;
  for (size_t e = 0; e < path.edges.size(); ++e) {
    const PathEdge& edge = path.edges[e];
    layers.insert(edge.layer);
    controls.sources.push_back(random_control_source(
        fmt::format("control {}", e), roles[index.at(edge.destination)].per_prompt, path_positions, options.seed + e));
  }
  controls.layers.assign(layers.begin(), layers.end());
  controls.max_batch = options.max_batch;
  controls.progress = options.progress;
  const KnockoutResult checked = session.run(controls);
  ++path.grids;
  for (size_t e = 0; e < path.edges.size(); ++e) {
    const int64_t row = int64_t(std::distance(layers.begin(), layers.find(path.edges[e].layer)));
    path.edges[e].control_accuracy = checked.accuracy[row][int64_t(e)].item<double>();
  }
  return path;
}

TraceGraph knockout_path_graph(const KnockoutPath& path, int64_t n_layers) {
  const std::string& start = path.start;
  TraceGraph graph;
  std::map<std::string, int64_t> index;
  std::map<std::string, int64_t> role_index;  // ctx_idx stand-in: roles in order of appearance
  auto role_pos = [&](const std::string& role) {
    return role_index.emplace(role, int64_t(role_index.size())).first->second;
  };
  auto node = [&](const std::string& role, int64_t layer, const char* stage) {
    const std::string id = layer < 0 ? "X0_" + role : stage + std::to_string(layer) + "_" + role;
    const auto found = index.find(id);
    if (found != index.end()) return found->second;
    const std::string type = layer < 0 ? "embedding" : std::string(stage) == "A" ? "attention" : "residual";
    graph.nodes.push_back(GraphNode{id, type, layer, role_pos(role), role});
    return index[id] = int64_t(graph.nodes.size()) - 1;
  };
  // The output node of `role` after layer `layer` (-1: the input).
  auto output = [&](const std::string& role, int64_t layer) { return node(role, layer, layer < 0 ? "X" : "I"); };
  role_pos(start);
  const int64_t root = output(start, n_layers - 1);
  for (const PathEdge& edge : path.edges) {
    const int64_t target = node(edge.destination, edge.layer, "A");
    const int64_t source = output(edge.source, edge.layer - 1);
    graph.edges.push_back({source, target, path.base_accuracy - edge.accuracy, "attention", {}});
  }
  // Residual edges: each attention node feeds its role's state up to the next node of that role
  // (the next attention node, or the layer output that is read, or the root).
  std::map<std::string, std::vector<int64_t>> by_role;  // role -> node indices
  for (size_t i = 0; i < graph.nodes.size(); ++i) by_role[graph.nodes[i].label].push_back(int64_t(i));
  for (auto& [role, members] : by_role) {
    auto rank = [&](int64_t i) {  // input, then per layer: attention before output
      const GraphNode& n = graph.nodes[size_t(i)];
      return n.layer < 0 ? -1.0 : double(n.layer) + (n.type == "attention" ? 0.25 : 0.75);
    };
    std::sort(members.begin(), members.end(), [&](int64_t a, int64_t b) { return rank(a) < rank(b); });
    for (size_t k = 0; k + 1 < members.size(); ++k)
      graph.edges.push_back({members[k], members[k + 1], 1.0, "residual", {}});
  }
  graph.roots = {root};
  graph.root_weights = {1.0};
  return graph;
}

}  // namespace mechlens
