#include "runtime/norm.h"

namespace mechlens {

NormImpl::NormImpl(int64_t d_model, NormType type, double eps) : type_(type), eps_(eps) {
  w = register_parameter("w", torch::ones({d_model}));
  if (type_ == NormType::kLN) b = register_parameter("b", torch::zeros({d_model}));
  hook_scale = register_module("hook_scale", HookPoint(std::vector<std::string>{"batch", "pos", "1"}));
  hook_normalized = register_module(
      "hook_normalized", HookPoint(std::vector<std::string>{"batch", "pos", "d_model"}));
}

torch::Tensor NormImpl::forward(torch::Tensor x) {
  if (type_ == NormType::kLN) x = x - x.mean(-1, /*keepdim=*/true);
  // scale: [batch, pos, 1]; sqrt of the (centred, for LN) mean square
  torch::Tensor scale = hook_scale((x.pow(2).mean(-1, /*keepdim=*/true) + eps_).sqrt());
  torch::Tensor normalized = x / scale * w;
  if (type_ == NormType::kLN) normalized = normalized + b;
  return hook_normalized(normalized);
}

}  // namespace mechlens
