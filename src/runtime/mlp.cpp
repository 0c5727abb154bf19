#include "runtime/mlp.h"

#include <cmath>

#include "runtime/affine.h"

namespace mechlens {

MLPImpl::MLPImpl(const ModelConfig& config) : act_fn_(config.act_fn), gated_(config.gated_mlp) {
  const int64_t d_model = config.d_model, d_mlp = config.d_mlp;
  W_in = register_parameter("W_in", torch::empty({d_model, d_mlp}));
  if (gated_) W_gate = register_parameter("W_gate", torch::empty({d_model, d_mlp}));
  W_out = register_parameter("W_out", torch::empty({d_mlp, d_model}));
  if (config.mlp_bias) {
    b_in = register_parameter("b_in", torch::zeros({d_mlp}));
    b_out = register_parameter("b_out", torch::zeros({d_model}));
  }
  using Dims = std::vector<std::string>;
  hook_pre = register_module("hook_pre", HookPoint(Dims{"batch", "pos", "d_mlp"}));
  if (gated_) hook_pre_linear = register_module("hook_pre_linear", HookPoint(Dims{"batch", "pos", "d_mlp"}));
  hook_post = register_module("hook_post", HookPoint(Dims{"batch", "pos", "d_mlp"}));
}

torch::Tensor MLPImpl::forward(const torch::Tensor& x) {
  torch::Tensor post;  // [batch, pos, d_mlp]
  if (gated_) {
    // As TransformerLens GatedMLP: hook_pre is the gate branch, hook_pre_linear the bias-free linear
    // branch, and b_in is added after the product (inside hook_post).
    torch::Tensor gate = hook_pre(affine(x, W_gate));
    torch::Tensor gated = apply_activation(gate, act_fn_) * hook_pre_linear(affine(x, W_in));
    post = hook_post(b_in.defined() ? gated + b_in : gated);
  } else {
    post = hook_post(apply_activation(hook_pre(affine(x, W_in, b_in)), act_fn_));
  }
  return affine(post, W_out, b_out);
}

torch::Tensor apply_activation(const torch::Tensor& x, ActFn fn) {
  switch (fn) {
    case ActFn::kReLU:
      return torch::relu(x);
    case ActFn::kGELU:
      return torch::gelu(x);  // exact, erf-based
    case ActFn::kGELUNew:
      return torch::gelu(x, "tanh");  // GPT-2's tanh approximation
    case ActFn::kSiLU:
      return torch::silu(x);
  }
  return x;
}

}  // namespace mechlens
