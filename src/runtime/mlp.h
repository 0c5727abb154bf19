// Feed-forward block with hook_pre [batch,pos,d_mlp] and hook_post [batch,pos,d_mlp];
// gated variants (act(x W_gate) * (x W_in)) add hook_pre_linear for the x W_in branch.
#pragma once

#include <torch/nn/module.h>
#include <torch/nn/pimpl.h>

#include "hooks/hook_point.h"
#include "runtime/config.h"

namespace mechlens {

class MLPImpl : public torch::nn::Module {
 public:
  explicit MLPImpl(const ModelConfig& config);

  torch::Tensor forward(const torch::Tensor& x);  // [batch,pos,d_model] -> [batch,pos,d_model]

  torch::Tensor W_in;    // [d_model, d_mlp]
  torch::Tensor W_gate;  // [d_model, d_mlp], gated only
  torch::Tensor W_out;   // [d_mlp, d_model]
  torch::Tensor b_in;    // [d_mlp]
  torch::Tensor b_out;   // [d_model]

  HookPoint hook_pre{nullptr}, hook_pre_linear{nullptr}, hook_post{nullptr};

 private:
  ActFn act_fn_;
  bool gated_;
};
TORCH_MODULE(MLP);

torch::Tensor apply_activation(const torch::Tensor& x, ActFn fn);

}  // namespace mechlens
