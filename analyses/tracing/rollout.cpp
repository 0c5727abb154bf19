#include "tracing/rollout.h"

#include <torch/torch.h>

#include <algorithm>
#include <deque>
#include <limits>
#include <vector>

#include "util/error.h"
#include "util/shape_format.h"

namespace mechlens {
namespace {

// [layer, dest, src]: 0.5 mean_h A + 0.5 I, rows normalised, in float64.
torch::Tensor residual_attention(const torch::Tensor& patterns) {
  MECHLENS_CHECK(InputError, patterns.dim() == 4 && patterns.size(2) == patterns.size(3),
                 "patterns must be [layer, head, dest, src] with dest == src, got {}", format_shape(patterns.sizes()));
  const torch::Tensor mean = patterns.to(torch::kCPU, torch::kFloat64).mean(1);
  const torch::Tensor with_identity = mean + torch::eye(patterns.size(2), torch::kFloat64);
  return with_identity / with_identity.sum(-1, /*keepdim=*/true);
}

struct FlowEdge {
  int64_t to, reverse;
  double capacity;
};

// Edmonds-Karp: breadth-first augmenting paths on the residual graph.
double max_flow(std::vector<std::vector<FlowEdge>> graph, int64_t source, int64_t sink) {
  const int64_t n = int64_t(graph.size());
  double total = 0;
  while (true) {
    std::vector<std::pair<int64_t, int64_t>> parent(size_t(n), {-1, -1});  // node, edge index
    parent[size_t(source)] = {source, -1};
    std::deque<int64_t> queue{source};
    while (!queue.empty() && parent[size_t(sink)].first < 0) {
      const int64_t u = queue.front();
      queue.pop_front();
      for (size_t e = 0; e < graph[size_t(u)].size(); ++e) {
        const FlowEdge& edge = graph[size_t(u)][e];
        if (edge.capacity > 1e-15 && parent[size_t(edge.to)].first < 0) {
          parent[size_t(edge.to)] = {u, int64_t(e)};
          queue.push_back(edge.to);
        }
      }
    }
    if (parent[size_t(sink)].first < 0) return total;
    double push = std::numeric_limits<double>::infinity();
    for (int64_t v = sink; v != source; v = parent[size_t(v)].first) {
      const auto [u, e] = parent[size_t(v)];
      push = std::min(push, graph[size_t(u)][size_t(e)].capacity);
    }
    for (int64_t v = sink; v != source; v = parent[size_t(v)].first) {
      const auto [u, e] = parent[size_t(v)];
      FlowEdge& edge = graph[size_t(u)][size_t(e)];
      edge.capacity -= push;
      graph[size_t(edge.to)][size_t(edge.reverse)].capacity += push;
    }
    total += push;
  }
}

}  // namespace

torch::Tensor attention_rollout(const torch::Tensor& patterns) {
  const torch::Tensor layers = residual_attention(patterns);
  std::vector<torch::Tensor> rollout;
  torch::Tensor joint = layers[0];
  rollout.push_back(joint);
  for (int64_t l = 1; l < layers.size(0); ++l) {
    joint = layers[l].matmul(joint);
    rollout.push_back(joint);
  }
  return torch::stack(rollout).to(torch::kFloat32);
}

torch::Tensor attention_flow(const torch::Tensor& patterns, int64_t dest, int64_t max_positions) {
  const torch::Tensor layers = residual_attention(patterns).contiguous();
  const int64_t n_layers = layers.size(0), n_pos = layers.size(1);
  MECHLENS_CHECK(InputError, dest >= 0 && dest < n_pos, "destination {} is outside the {} positions", dest, n_pos);
  MECHLENS_CHECK(InputError, n_pos <= max_positions,
                 "attention flow over {} positions is refused (limit {}: one max-flow per source over a {}-node "
                 "graph); raise the limit or use attention rollout",
                 n_pos, max_positions, (n_layers + 1) * n_pos);
  // Node (i, k) = i * n_pos + k; layer n_layers holds the outputs, layer 0 the inputs.
  const auto capacity = layers.accessor<double, 3>();
  std::vector<std::vector<FlowEdge>> graph(size_t((n_layers + 1) * n_pos));
  auto add = [&graph](int64_t from, int64_t to, double cap) {
    graph[size_t(from)].push_back({to, int64_t(graph[size_t(to)].size()), cap});
    graph[size_t(to)].push_back({from, int64_t(graph[size_t(from)].size()) - 1, 0.0});
  };
  for (int64_t i = 1; i <= n_layers; ++i)
    for (int64_t k = 0; k < n_pos; ++k)
      for (int64_t j = 0; j <= k; ++j) {
        if (capacity[i - 1][k][j] > 0) add(i * n_pos + k, (i - 1) * n_pos + j, capacity[i - 1][k][j]);
      }
  torch::Tensor flow = torch::zeros({n_pos}, torch::kFloat64);
  for (int64_t s = 0; s <= dest; ++s) flow[s] = max_flow(graph, n_layers * n_pos + dest, s);
  const double total = flow.sum().item<double>();
  return (total > 0 ? flow / total : flow).to(torch::kFloat32);
}

}  // namespace mechlens
