#include "tracing/information_flow.h"

#include <ATen/Parallel.h>
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <tuple>

#include "hooks/hook_names.h"
#include "util/error.h"
#include "util/progress.h"
#include "util/shape_format.h"

namespace mechlens {
namespace {

// Each head's value at each source, written into the residual stream: [batch, src, head, d_model].
torch::Tensor value_outputs(const torch::Tensor& v, const torch::Tensor& W_O) {
  torch::Tensor values = v;  // [batch, src, kv_head, d_head]
  const int64_t n_heads = W_O.size(0);
  if (values.size(2) != n_heads) values = values.repeat_interleave(n_heads / values.size(2), 2);
  return torch::einsum("bshd,hdm->bshm", {values, W_O});
}

// Shares of the parts of y: proximity(z, y) = max(|y|_1 - |y - z|_1, 0), normalised over all parts.
torch::Tensor proximity(const torch::Tensor& y, const torch::Tensor& part) {
  return (y.abs().sum(-1) - (y - part).abs().sum(-1)).clamp_min(0);
}

// sum_m |y_m - a * v_m| over d elements, in 8 independent lanes (vectorised without reassociation).
float l1_distance_scaled(const float* y, const float* v, float a, int64_t d) {
  float lane[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int64_t m = 0;
  for (; m + 8 <= d; m += 8) {
    for (int k = 0; k < 8; ++k) lane[k] += std::fabs(y[m + k] - a * v[m + k]);
  }
  float sum = ((lane[0] + lane[1]) + (lane[2] + lane[3])) + ((lane[4] + lane[5]) + (lane[6] + lane[7]));
  for (; m < d; ++m) sum += std::fabs(y[m] - a * v[m]);
  return sum;
}

// Attention block of one layer: shares [batch, head, dest, src], the residual's [batch, dest] and
// the coverage [batch, dest]. Each part A[t, s, h] vo[s, h] is compared with y[t] on the fly: no
// [dest, src, head, d_model] tensor is ever made, and sources after t (A = 0) are skipped.
std::tuple<torch::Tensor, torch::Tensor, torch::Tensor> attention_shares(const torch::Tensor& resid_pre,
                                                                         const torch::Tensor& attn_out,
                                                                         const torch::Tensor& pattern,
                                                                         const torch::Tensor& vo) {
  const int64_t batch = pattern.size(0), n_heads = pattern.size(1), n_pos = pattern.size(2), n_src = pattern.size(3);
  const int64_t d_model = vo.size(-1);
  const torch::Tensor y =
      (resid_pre + attn_out).to(torch::kCPU, torch::kFloat32).contiguous();             // [batch, dest, d_model]
  const torch::Tensor weights = pattern.to(torch::kCPU, torch::kFloat32).contiguous();  // [batch, head, dest, src]
  const torch::Tensor values = vo.to(torch::kCPU, torch::kFloat32).contiguous();        // [batch, src, head, d_model]
  const torch::Tensor y_norm = y.abs().sum(-1);                                         // [batch, dest]
  torch::Tensor near = torch::zeros({batch, n_heads, n_pos, n_src});
  const float* y_data = y.data_ptr<float>();
  const float* w_data = weights.data_ptr<float>();
  const float* v_data = values.data_ptr<float>();
  const float* norm_data = y_norm.data_ptr<float>();
  float* near_data = near.data_ptr<float>();
  at::parallel_for(0, batch * n_pos, 1, [&](int64_t begin, int64_t end) {
    for (int64_t bt = begin; bt < end; ++bt) {
      const int64_t b = bt / n_pos, t = bt % n_pos;
      const float* y_row = y_data + bt * d_model;
      const float norm = norm_data[bt];
      for (int64_t h = 0; h < n_heads; ++h) {
        const int64_t row = ((b * n_heads + h) * n_pos + t) * n_src;
        for (int64_t s = 0; s < n_src; ++s) {
          const float a = w_data[row + s];
          if (a == 0.0f) continue;  // a zero part is as far from y as 0 is: proximity 0
          const float* v_row = v_data + ((b * n_src + s) * n_heads + h) * d_model;
          near_data[row + s] = std::max(0.0f, norm - l1_distance_scaled(y_row, v_row, a, d_model));
        }
      }
    }
  });
  const torch::Tensor near_residual = proximity(y, resid_pre.to(torch::kCPU, torch::kFloat32));  // [batch, dest]
  const torch::Tensor total = near.sum({1, 3}) + near_residual;                                  // [batch, dest]
  const torch::Tensor scale = torch::where(total > 0, 1.0 / total, torch::zeros_like(total));
  const torch::Tensor coverage = torch::where(y_norm > 0, total / y_norm, torch::zeros_like(total));
  return {near * scale.view({batch, 1, n_pos, 1}), near_residual * scale, coverage};
}

}  // namespace

namespace {

// Applies `op` to every per-prompt tensor of the flows (undefined ones stay undefined).
template <typename Op>
InformationFlow map_fields(const std::vector<const InformationFlow*>& flows, Op op) {
  InformationFlow out;
  for (torch::Tensor InformationFlow::*field :
       {&InformationFlow::attention, &InformationFlow::attention_residual, &InformationFlow::mlp,
        &InformationFlow::mlp_residual, &InformationFlow::attention_coverage, &InformationFlow::mlp_coverage}) {
    std::vector<torch::Tensor> parts;
    for (const InformationFlow* flow : flows) parts.push_back(flow->*field);
    if (!parts.empty() && parts.front().defined()) out.*field = op(parts);
  }
  return out;
}

}  // namespace

InformationFlow narrow_prompts(const InformationFlow& flow, int64_t start, int64_t count) {
  return map_fields({&flow},
                    [&](const std::vector<torch::Tensor>& t) { return t[0].narrow(0, start, count).contiguous(); });
}

InformationFlow concat_prompts(const std::vector<InformationFlow>& flows) {
  MECHLENS_CHECK(InputError, !flows.empty(), "no flows to concatenate");
  std::vector<const InformationFlow*> pointers;
  for (const InformationFlow& flow : flows) pointers.push_back(&flow);
  return map_fields(pointers, [](const std::vector<torch::Tensor>& t) { return torch::cat(t); });
}

InformationFlow information_flow(HookedTransformer& model, const torch::Tensor& tokens,
                                 const InformationFlowOptions& options) {
  const ModelConfig& config = model->config();
  MECHLENS_CHECK(InputError, !config.noise_vo(),
                 "information flow: this model adds orthogonal VO noise to its attention output, a part the "
                 "decomposition does not name; trace a model without VO noise");
  MECHLENS_CHECK(InputError, tokens.dim() == 2 && tokens.size(0) > 0, "tokens must be [batch, pos], got {}",
                 format_shape(tokens.sizes()));
  model->check_tokens(tokens);
  const int64_t batch = tokens.size(0), n_pos = tokens.size(1), n_layers = config.n_layers;
  const bool has_mlp = !config.attn_only();
  InformationFlow flow;
  flow.attention = torch::zeros({batch, n_layers, config.n_heads, n_pos, n_pos});
  flow.attention_residual = torch::zeros({batch, n_layers, n_pos});
  flow.attention_coverage = torch::zeros({batch, n_layers, n_pos});
  if (has_mlp) {
    flow.mlp = torch::zeros({batch, n_layers, n_pos});
    flow.mlp_residual = torch::zeros({batch, n_layers, n_pos});
    flow.mlp_coverage = torch::zeros({batch, n_layers, n_pos});
  }
  auto params = model->named_parameters();
  // What the current layer's hooks have seen so far in this forward: one layer at a time.
  std::map<std::string, torch::Tensor> seen;
  auto keep = [&seen](const std::string& key) {
    return [&seen, key](const torch::Tensor& value, const HookPointImpl&) {
      seen[key] = value;
      return torch::Tensor();
    };
  };
  ProgressBar progress("information flow", n_layers, options.progress);
  torch::NoGradGuard no_grad;
  HookScope scope;
  for (int64_t layer = 0; layer < n_layers; ++layer) {
    scope.add(model->hook_point(layer_hook_name(layer, "hook_resid_pre")), keep("resid_pre"));
    scope.add(model->hook_point(layer_hook_name(layer, "attn.hook_v")), keep("v"));
    scope.add(model->hook_point(layer_hook_name(layer, "attn.hook_pattern")), keep("pattern"));
    const torch::Tensor W_O = params["blocks." + std::to_string(layer) + ".attn.W_O"];
    scope.add(model->hook_point(layer_hook_name(layer, "hook_attn_out")),
              [&, layer, W_O](const torch::Tensor& attn_out, const HookPointImpl&) {
                auto [shares, residual, coverage] = attention_shares(seen.at("resid_pre"), attn_out, seen.at("pattern"),
                                                                     value_outputs(seen.at("v"), W_O));
                flow.attention.select(1, layer).copy_(shares);
                flow.attention_residual.select(1, layer).copy_(residual);
                flow.attention_coverage.select(1, layer).copy_(coverage);
                seen.clear();
                if (!has_mlp) progress.advance();
                return torch::Tensor();
              });
    if (!has_mlp) continue;
    scope.add(model->hook_point(layer_hook_name(layer, "hook_resid_mid")), keep("resid_mid"));
    scope.add(model->hook_point(layer_hook_name(layer, "hook_mlp_out")), [&, layer](const torch::Tensor& mlp_out,
                                                                                    const HookPointImpl&) {
      const torch::Tensor& mid = seen.at("resid_mid");
      const torch::Tensor y = mid + mlp_out;
      torch::Tensor near_mlp = proximity(y, mlp_out), near_mid = proximity(y, mid);
      torch::Tensor total = near_mlp + near_mid;
      torch::Tensor scale = torch::where(total > 0, 1.0 / total, torch::zeros_like(total));
      flow.mlp.select(1, layer).copy_(near_mlp * scale);
      flow.mlp_residual.select(1, layer).copy_(near_mid * scale);
      const torch::Tensor norm = y.abs().sum(-1);
      flow.mlp_coverage.select(1, layer).copy_(torch::where(norm > 0, total / norm, torch::zeros_like(total)));
      seen.clear();
      progress.advance();
      return torch::Tensor();
    });
  }
  model->forward(tokens);
  scope.release();
  progress.finish();
  return flow;
}

torch::Tensor attention_parts(HookedTransformer& model, const torch::Tensor& tokens, int64_t layer) {
  MECHLENS_CHECK(InputError, layer >= 0 && layer < model->config().n_layers, "layer {} is out of range", layer);
  torch::NoGradGuard no_grad;
  const ActivationCache cache =
      model
          ->run_with_cache(tokens, model->names_filter({layer_hook_name(layer, "attn.hook_v"),
                                                        layer_hook_name(layer, "attn.hook_pattern")}))
          .second;
  const torch::Tensor vo = value_outputs(cache.at(layer_hook_name(layer, "attn.hook_v")),
                                         model->named_parameters()["blocks." + std::to_string(layer) + ".attn.W_O"]);
  const torch::Tensor pattern = cache.at(layer_hook_name(layer, "attn.hook_pattern"));  // [batch, head, dest, src]
  return pattern.permute({0, 2, 3, 1}).unsqueeze(-1) * vo.unsqueeze(1);  // [batch, dest, src, head, d_model]
}

}  // namespace mechlens
