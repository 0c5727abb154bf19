#include "runtime/norm.h"

#include <torch/torch.h>

namespace mechlens {

NormImpl::NormImpl(int64_t d_model, NormType type, double eps) : type_(type), eps_(eps) {
  w = register_parameter("w", torch::ones({d_model}));
  if (type_ == NormType::kLN) b = register_parameter("b", torch::zeros({d_model}));
  hook_scale = register_module("hook_scale", HookPoint(std::vector<std::string>{"batch", "pos", "1"}));
  hook_normalized = register_module("hook_normalized", HookPoint(std::vector<std::string>{"batch", "pos", "d_model"}));
}

torch::Tensor NormImpl::forward(torch::Tensor x) {
  torch::Tensor centred = x, scale, computed;
  if (hook_scale->has_hooks()) {
    if (type_ == NormType::kLN) centred = x - x.mean(-1, /*keepdim=*/true);
    // scale: [batch, pos, 1]; sqrt of the (centred, for LN) mean square
    computed = (centred.pow(2).mean(-1, /*keepdim=*/true) + eps_).sqrt();
    scale = hook_scale(computed);
  }
  // LibTorch's fused LayerNorm (forward and backward) is several times cheaper than the formula in
  // elementwise ops; it is used unless a hook replaced the scale, so read-only hooks change no bit.
  const bool scale_kept = !scale.defined() || scale.is_same(computed) || torch::equal(scale, computed);
  if (type_ == NormType::kLN && scale_kept) {
    return hook_normalized(torch::layer_norm(x, {x.size(-1)}, w, b, eps_));
  }
  if (!scale.defined()) scale = (centred.pow(2).mean(-1, /*keepdim=*/true) + eps_).sqrt();  // RMS, unhooked
  // TransformerLens's conventions: LayerNorm's hook_normalized holds the value after w and b;
  // RMSNorm's holds x / scale, before the weight is applied.
  if (type_ == NormType::kRMS) return hook_normalized(centred / scale) * w;
  return hook_normalized(centred / scale * w + b);
}

}  // namespace mechlens
