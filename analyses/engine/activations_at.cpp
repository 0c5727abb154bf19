#include "engine/activations_at.h"

#include <torch/torch.h>

#include "hooks/hook_names.h"
#include "hooks/hook_point.h"
#include "util/error.h"

namespace mechlens {

std::vector<torch::Tensor> activations_at(HookedTransformer& model, const torch::Tensor& tokens,
                                          const torch::Tensor& positions, const std::vector<std::string>& names,
                                          int64_t max_batch, int64_t stop_at_layer) {
  MECHLENS_CHECK(InputError, tokens.dim() == 2 && positions.dim() == 1 && positions.size(0) == tokens.size(0),
                 "activations at positions: {} positions for {} prompts", positions.numel(), tokens.size(0));
  MECHLENS_CHECK(InputError, max_batch >= 1, "activations at positions: batch size {} must be >= 1", max_batch);
  const int64_t batch = tokens.size(0);
  std::vector<std::vector<torch::Tensor>> parts(names.size());
  torch::NoGradGuard no_grad;
  for (int64_t start = 0; start < batch; start += max_batch) {
    const int64_t count = std::min(max_batch, batch - start);
    const torch::Tensor chunk_positions = positions.narrow(0, start, count).to(tokens.device());
    const torch::Tensor rows = torch::arange(count, chunk_positions.options());
    HookScope scope;
    for (size_t i = 0; i < names.size(); ++i) {
      scope.add(model->hook_point(names[i]), [&, i](const torch::Tensor& x, const HookPointImpl&) {
        parts[i].push_back(x.index({rows, chunk_positions}).to(torch::kCPU));
        return torch::Tensor();
      });
    }
    ForwardOptions forward;
    forward.stop_at_layer = stop_at_layer < 0 ? model->config().n_layers : stop_at_layer;
    model->forward(tokens.narrow(0, start, count), forward);
  }
  std::vector<torch::Tensor> out;
  for (auto& p : parts) out.push_back(torch::cat(p));
  return out;
}

std::vector<std::string> residual_stage_hooks(int64_t n_layers) {
  std::vector<std::string> names;
  for (int64_t layer = 0; layer < n_layers; ++layer) names.push_back(layer_hook_name(layer, "hook_resid_pre"));
  names.push_back(layer_hook_name(n_layers - 1, "hook_resid_post"));
  return names;
}

}  // namespace mechlens
