// One transformer block: attention and MLP sublayers with residual hooks, in pre-norm
// (x + f(LN(x)), GPT-2) or post-norm (LN(x + f(x)), Wang et al. 2024) placement.
#pragma once

#include <torch/nn/module.h>
#include <torch/nn/pimpl.h>

#include "hooks/hook_point.h"
#include "runtime/attention.h"
#include "runtime/config.h"
#include "runtime/mlp.h"
#include "runtime/norm.h"

namespace mechlens {

class TransformerBlockImpl : public torch::nn::Module {
 public:
  explicit TransformerBlockImpl(const ModelConfig& config);

  /// resid: [batch, pos, d_model] -> [batch, pos, d_model]
  torch::Tensor forward(torch::Tensor resid, const AttentionContext& context, const KeyValues* past = nullptr);

  /// The block's output at chosen positions only: resid [batch,pos,d_model], query_index [batch,n]
  /// -> [batch,n,d_model], equal to forward(resid) at those rows; hook points are not run.
  torch::Tensor forward_at(const torch::Tensor& resid, const torch::Tensor& query_index,
                           const AttentionContext& context);

  HookPoint hook_resid_pre{nullptr};
  Norm ln1{nullptr};  // absent without normalisation
  Attention attn{nullptr};
  HookPoint hook_attn_out{nullptr};
  HookPoint hook_resid_mid{nullptr};  // absent when attention-only
  Norm ln2{nullptr};                  // absent when attention-only or without normalisation
  MLP mlp{nullptr};
  HookPoint hook_mlp_out{nullptr};
  HookPoint hook_resid_post{nullptr};

 private:
  torch::Tensor norm(Norm& layer, const torch::Tensor& x) { return layer ? layer(x) : x; }

  bool post_norm_;
};
TORCH_MODULE(TransformerBlock);

}  // namespace mechlens
