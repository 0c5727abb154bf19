#include "tracing/edge_check.h"

#include <fmt/format.h>
#include <torch/torch.h>

#include <cmath>
#include <map>
#include <set>

#include "util/error.h"

namespace mechlens {
namespace {

struct Role {
  int64_t span = -1, offset = 0;
};

// The narrowest span holding `pos` in prompt `b` (ties: the first named).
Role role_of(const std::vector<PositionSpan>& spans, int64_t b, int64_t pos) {
  Role best;
  int64_t width = 0;
  for (size_t i = 0; i < spans.size(); ++i) {
    const auto [begin, end] = spans[i].per_prompt[size_t(b)];
    if (pos < begin || pos >= end) continue;
    if (best.span < 0 || end - begin < width) best = {int64_t(i), pos - begin}, width = end - begin;
  }
  return best;
}

// Where `role` is in prompt `b`; -1 where the prompt lacks it.
int64_t position_of(const std::vector<PositionSpan>& spans, const Role& role, int64_t b) {
  const auto [begin, end] = spans[size_t(role.span)].per_prompt[size_t(b)];
  return begin + role.offset < end ? begin + role.offset : -1;
}

std::string role_name(const std::vector<PositionSpan>& spans, const Role& role) {
  return fmt::format("{}[{}]", spans[size_t(role.span)].name, role.offset);
}

}  // namespace

EdgeCheck check_edges(HookedTransformer& model, const AnswerPrompts& prompts, const std::vector<PositionSpan>& spans,
                      const TraceGraph& graph, int64_t graph_prompt, const EdgeCheckOptions& options) {
  const int64_t batch = prompts.batch(), n_pos = prompts.positions(), n_edges = int64_t(graph.edges.size());
  MECHLENS_CHECK(InputError, graph_prompt >= 0 && graph_prompt < batch, "graph prompt {} is outside the {} prompts",
                 graph_prompt, batch);
  if (!spans.empty()) validate_spans(spans, batch, n_pos);
  EdgeCheck check;
  check.prompt_effect.assign(size_t(n_edges), std::nan(""));
  check.role.assign(size_t(n_edges), "");
  check.role_accuracy.assign(size_t(n_edges), std::nan(""));
  check.control_accuracy.assign(size_t(n_edges), std::nan(""));
  check.role_prompts.assign(size_t(n_edges), 0);

  struct Planned {
    int64_t edge, layer;
    int64_t in_prompt = -1, by_role = -1, control = -1;  // source-set indices
    torch::Tensor has_roles;                             // bool [batch]
  };
  std::vector<Planned> planned;
  std::vector<SourceSet> sets;
  std::set<int64_t> layers;
  // Source roles of the whole path: a control source is none of them.
  std::vector<Role> path_sources;
  auto empty_set = [&](std::string name) {
    return SourceSet{std::move(name), torch::zeros({batch, n_pos}, torch::kBool),
                     std::vector<std::pair<int64_t, int64_t>>(size_t(batch), {0, 0})};
  };
  for (int64_t e = 0; e < n_edges; ++e) {
    const GraphEdge& edge = graph.edges[size_t(e)];
    if (edge.kind != "attention") continue;
    const GraphNode& source = graph.nodes[size_t(edge.source)];
    const GraphNode& target = graph.nodes[size_t(edge.target)];
    Planned plan{e, target.layer, -1, -1, -1, {}};
    layers.insert(target.layer);
    SourceSet own = empty_set(fmt::format("{}->{}", source.id, target.id));
    own.blocked[graph_prompt][source.pos] = true;
    own.destinations[size_t(graph_prompt)] = {target.pos, target.pos + 1};
    plan.in_prompt = int64_t(sets.size());
    sets.push_back(std::move(own));
    if (!spans.empty()) {
      const Role from = role_of(spans, graph_prompt, source.pos), to = role_of(spans, graph_prompt, target.pos);
      if (from.span >= 0 && to.span >= 0) {
        check.role[size_t(e)] = fmt::format("L{} {} <- {}", target.layer, role_name(spans, to), role_name(spans, from));
        path_sources.push_back(from);
        SourceSet by_role = empty_set(check.role[size_t(e)]);
        plan.has_roles = torch::zeros({batch}, torch::kBool);
        for (int64_t b = 0; b < batch; ++b) {
          const int64_t s = position_of(spans, from, b), t = position_of(spans, to, b);
          if (s < 0 || t < 0 || s > t) continue;
          by_role.blocked[b][s] = true;
          by_role.destinations[size_t(b)] = {t, t + 1};
          plan.has_roles[b] = true;
        }
        plan.by_role = int64_t(sets.size());
        sets.push_back(std::move(by_role));
      }
    }
    planned.push_back(std::move(plan));
  }
  // Controls: same layer and destination, a seeded random source outside the path's source roles.
  torch::Tensor path_positions = torch::zeros({batch, n_pos}, torch::kBool);
  for (const Role& role : path_sources) {
    for (int64_t b = 0; b < batch; ++b) {
      const int64_t s = position_of(spans, role, b);
      if (s >= 0) path_positions[b][s] = true;
    }
  }
  for (Planned& plan : planned) {
    if (plan.by_role < 0) continue;
    const std::string name = "control of " + check.role[size_t(plan.edge)];
    const auto& destinations = sets[size_t(plan.by_role)].destinations;  // empty where a prompt lacks the roles
    plan.control = int64_t(sets.size());
    sets.push_back(random_control_source(name, destinations, path_positions, options.seed + uint64_t(plan.edge)));
  }
  if (sets.empty()) return check;

  KnockoutOptions knockout;
  knockout.layers.assign(layers.begin(), layers.end());
  knockout.sources = std::move(sets);
  knockout.max_batch = options.max_batch;
  knockout.progress = options.progress;
  KnockoutSession session(model, prompts);
  const KnockoutResult result = session.run(knockout);
  check.base_accuracy = result.base_accuracy;
  std::map<int64_t, int64_t> row_of_layer;
  for (int64_t layer : knockout.layers) row_of_layer.emplace(layer, int64_t(row_of_layer.size()));
  const double p0 = std::max(result.base_prob[graph_prompt].item<double>(), 1e-12);
  for (const Planned& plan : planned) {
    const int64_t row = row_of_layer.at(plan.layer);
    const double p = result.prob[row][plan.in_prompt][graph_prompt].item<double>();
    check.prompt_effect[size_t(plan.edge)] = (p - p0) / p0;
    if (plan.by_role < 0) continue;
    const torch::Tensor mask = plan.has_roles.to(torch::kFloat32);
    const double count = mask.sum().item<double>();
    check.role_prompts[size_t(plan.edge)] = int64_t(count);
    if (count == 0) continue;
    check.role_accuracy[size_t(plan.edge)] = (result.correct[row][plan.by_role] * mask).sum().item<double>() / count;
    check.control_accuracy[size_t(plan.edge)] = (result.correct[row][plan.control] * mask).sum().item<double>() / count;
  }
  return check;
}

}  // namespace mechlens
