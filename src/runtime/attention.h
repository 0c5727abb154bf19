// Multi-head (and grouped-query) causal self-attention with every TransformerLens hook point:
// hook_q/k/v [batch,pos,head,d_head] (k/v over key-value heads), hook_rot_q/k (rotary),
// hook_attn_scores and hook_pattern [batch,head,dest,src], hook_z, and hook_result
// [batch,pos,head,d_model], which is computed only while something is hooked to it. With orthogonal
// noise, hook_attn_scores includes s_QK x R_QK x^T / sqrt(d_head), and each head's output (attn_out,
// hook_result) includes s_VO pattern (x R_VO); hook_z does not.
#pragma once

#include <torch/nn/module.h>
#include <torch/nn/pimpl.h>

#include <vector>

#include "hooks/hook_point.h"
#include "runtime/attention_context.h"
#include "runtime/config.h"

namespace mechlens {

class AttentionImpl : public torch::nn::Module {
 public:
  explicit AttentionImpl(const ModelConfig& config);

  /// x [batch,pos,d_model] -> [batch,pos,d_model]. With `past`, x holds the positions after
  /// past->k.size(1) and attends to the given earlier keys and values too.
  torch::Tensor forward(const torch::Tensor& x, const AttentionContext& context, const KeyValues* past = nullptr);

  /// Attention output at chosen query positions only: x [batch,pos,d_model] (every position is a
  /// key), query_index [batch,n] -> [batch,n,d_model], equal to forward(x) at those rows. Hook
  /// points are not run (the training path, where only the loss positions need the last layer).
  torch::Tensor forward_at(const torch::Tensor& x, const torch::Tensor& query_index, const AttentionContext& context);

  torch::Tensor W_Q, W_K, W_V;  // [head, d_model, d_head] (K, V: key-value heads)
  torch::Tensor W_O;            // [head, d_head, d_model]
  torch::Tensor b_Q, b_K, b_V;  // [head, d_head] (K, V: key-value heads)
  torch::Tensor b_O;            // [d_model]
  // Orthogonal noise (config.orthogonal_noise): fixed R [head, d_model, d_model], scalars s [head].
  torch::Tensor R_QK, R_VO, s_QK, s_VO;

  HookPoint hook_q{nullptr}, hook_k{nullptr}, hook_v{nullptr};
  HookPoint hook_rot_q{nullptr}, hook_rot_k{nullptr};
  HookPoint hook_attn_scores{nullptr}, hook_pattern{nullptr};
  HookPoint hook_z{nullptr}, hook_result{nullptr};

 private:
  // x [batch,pos,d_model] @ each W [head,d_model,d_head] + b -> [batch,pos,head,d_head] each (views
  // of one fused GEMM's output; a b may be undefined only when all are)
  static std::vector<torch::Tensor> project(const torch::Tensor& x, const std::vector<torch::Tensor>& Ws,
                                            const std::vector<torch::Tensor>& bs);
  // Scores, pattern and output from projected q [batch,dest,head,d_head] and k, v [batch,src,kv_head,
  // d_head]; x_query / x_source feed the orthogonal noise. Hook points run only when `hooked`.
  torch::Tensor attend(const torch::Tensor& x_query, const torch::Tensor& x_source, torch::Tensor q, torch::Tensor k,
                       torch::Tensor v, const torch::Tensor& score_mask, const torch::Tensor& query_is_pad,
                       bool hooked);

  int64_t n_heads_;
  int64_t n_kv_heads_;
  int64_t d_head_;
  bool rotary_;
};
TORCH_MODULE(Attention);

/// Rows of x at per-example positions: x [batch or 1, pos, ...], index [batch, n] -> [batch, n, ...].
torch::Tensor select_positions(const torch::Tensor& x, const torch::Tensor& index);

/// Applies rotary embedding (GPT-NeoX "rotate half" layout) to the first rotary_dim dims.
/// x: [batch, pos, head, d_head]; cos, sin: [batch or 1, pos, 1, rotary_dim].
torch::Tensor apply_rotary(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin);

}  // namespace mechlens
