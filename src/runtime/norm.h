// LayerNorm and RMSNorm with TransformerLens hook points hook_scale [batch,pos,1] and
// hook_normalized [batch,pos,d_model] (after the learned weight and bias).
#pragma once

#include <torch/nn/module.h>
#include <torch/nn/pimpl.h>

#include "hooks/hook_point.h"
#include "runtime/config.h"

namespace mechlens {

class NormImpl : public torch::nn::Module {
 public:
  NormImpl(int64_t d_model, NormType type, double eps);

  torch::Tensor forward(torch::Tensor x);  // [batch, pos, d_model] -> same

  torch::Tensor w;  // [d_model]
  torch::Tensor b;  // [d_model], LayerNorm only
  HookPoint hook_scale{nullptr};
  HookPoint hook_normalized{nullptr};

 private:
  NormType type_;
  double eps_;
};
TORCH_MODULE(Norm);

}  // namespace mechlens
