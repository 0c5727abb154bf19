#include "tracing/flow_graph.h"

#include <torch/torch.h>

#include <map>

#include "util/error.h"

namespace mechlens {

std::string layer_output_id(const InformationFlow& flow, int64_t layer, int64_t pos) {
  if (layer < 0) return "X0_" + std::to_string(pos);
  return (flow.has_mlp() ? "I" : "A") + std::to_string(layer) + "_" + std::to_string(pos);
}

TraceGraph flow_graph(const InformationFlow& flow, int64_t prompt, int64_t answer_pos,
                      const std::vector<std::string>& labels) {
  const int64_t batch = flow.attention.size(0), n_layers = flow.n_layers(), n_heads = flow.n_heads();
  MECHLENS_CHECK(InputError, prompt >= 0 && prompt < batch, "prompt {} is out of range (0..{})", prompt, batch - 1);
  MECHLENS_CHECK(InputError, answer_pos >= 0 && answer_pos < flow.n_pos(),
                 "answer position {} is outside the prompt's {} positions", answer_pos, flow.n_pos());
  const int64_t n_pos = answer_pos + 1;
  TraceGraph graph;
  std::map<std::string, int64_t> index;
  auto add_node = [&](std::string id, std::string type, int64_t layer, int64_t pos) {
    index[id] = int64_t(graph.nodes.size());
    const std::string label = pos < int64_t(labels.size()) ? labels[size_t(pos)] : "";
    graph.nodes.push_back(GraphNode{std::move(id), std::move(type), layer, pos, label});
  };
  auto add_edge = [&](const std::string& source, const std::string& target, double weight, const char* kind,
                      std::vector<float> heads = {}) {
    if (weight > 0) graph.edges.push_back({index.at(source), index.at(target), weight, kind, std::move(heads)});
  };
  for (int64_t t = 0; t < n_pos; ++t) add_node(layer_output_id(flow, -1, t), "embedding", -1, t);
  // [layer, head, dest, src], [layer, dest] of this prompt, on the host
  const torch::Tensor attention = flow.attention[prompt].to(torch::kFloat64).contiguous();
  const torch::Tensor attention_residual = flow.attention_residual[prompt].to(torch::kFloat64).contiguous();
  const auto shares = attention.accessor<double, 4>();
  const auto residual = attention_residual.accessor<double, 2>();
  torch::Tensor mlp_t, mlp_residual_t;
  if (flow.has_mlp()) {
    mlp_t = flow.mlp[prompt].to(torch::kFloat64).contiguous();
    mlp_residual_t = flow.mlp_residual[prompt].to(torch::kFloat64).contiguous();
  }
  for (int64_t l = 0; l < n_layers; ++l) {
    for (int64_t t = 0; t < n_pos; ++t) {
      const std::string mid = "A" + std::to_string(l) + "_" + std::to_string(t);
      add_node(mid, "attention", l, t);
      for (int64_t s = 0; s <= t; ++s) {
        std::vector<float> heads(size_t(n_heads), 0.0f);
        double sum = 0;
        for (int64_t h = 0; h < n_heads; ++h) {
          heads[size_t(h)] = float(shares[l][h][t][s]);
          sum += shares[l][h][t][s];
        }
        add_edge(layer_output_id(flow, l - 1, s), mid, sum, "attention", std::move(heads));
      }
      add_edge(layer_output_id(flow, l - 1, t), mid, residual[l][t], "residual");
      if (!flow.has_mlp()) continue;
      const std::string mlp = "M" + std::to_string(l) + "_" + std::to_string(t);
      const std::string out = layer_output_id(flow, l, t);
      add_node(mlp, "mlp", l, t);
      add_node(out, "residual", l, t);
      const double mlp_share = mlp_t[l][t].item<double>();
      add_edge(mid, mlp, mlp_share, "mlp");
      add_edge(mlp, out, mlp_share, "mlp");
      add_edge(mid, out, mlp_residual_t[l][t].item<double>(), "residual");
    }
  }
  graph.roots = {index.at(layer_output_id(flow, n_layers - 1, answer_pos))};
  graph.root_weights = {1.0};
  return graph;
}

torch::Tensor span_flow(const InformationFlow& flow, const std::vector<PositionSpan>& spans) {
  const int64_t batch = flow.attention.size(0), n_pos = flow.n_pos();
  validate_spans(spans, batch, n_pos);
  std::vector<torch::Tensor> masks;
  for (const PositionSpan& span : spans) masks.push_back(span_mask(span.per_prompt, n_pos));
  const torch::Tensor source = torch::stack(masks, 1).to(torch::kFloat32);            // [batch, span, pos]
  const torch::Tensor dest = source / source.sum(-1, /*keepdim=*/true).clamp_min(1);  // mean over the span
  // attention [batch, layer, head, dest, src]
  return torch::einsum("bkt,blhts,bjs->lhkjb", {dest, flow.attention.to(torch::kFloat32), source}).contiguous();
}

}  // namespace mechlens
