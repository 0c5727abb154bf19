#include "runtime/attention.h"

#include <cmath>
#include <limits>

#include "util/error.h"

namespace mechlens {

AttentionImpl::AttentionImpl(const ModelConfig& config)
    : n_heads_(config.n_heads),
      n_kv_heads_(config.kv_heads()),
      d_head_(config.d_head),
      rotary_(config.positional_embedding_type == PositionalEmbedding::kRotary) {
  const int64_t d_model = config.d_model;
  W_Q = register_parameter("W_Q", torch::empty({n_heads_, d_model, d_head_}));
  W_K = register_parameter("W_K", torch::empty({n_kv_heads_, d_model, d_head_}));
  W_V = register_parameter("W_V", torch::empty({n_kv_heads_, d_model, d_head_}));
  W_O = register_parameter("W_O", torch::empty({n_heads_, d_head_, d_model}));
  if (config.attn_bias) {
    b_Q = register_parameter("b_Q", torch::zeros({n_heads_, d_head_}));
    b_K = register_parameter("b_K", torch::zeros({n_kv_heads_, d_head_}));
    b_V = register_parameter("b_V", torch::zeros({n_kv_heads_, d_head_}));
    b_O = register_parameter("b_O", torch::zeros({d_model}));
  }
  if (config.noise_qk()) {
    R_QK = register_parameter("R_QK", torch::empty({n_heads_, d_model, d_model}), /*requires_grad=*/false);
    s_QK = register_parameter("s_QK", torch::empty({n_heads_}), config.orthogonal_noise_learnable);
  }
  if (config.noise_vo()) {
    R_VO = register_parameter("R_VO", torch::empty({n_heads_, d_model, d_model}), /*requires_grad=*/false);
    s_VO = register_parameter("s_VO", torch::empty({n_heads_}), config.orthogonal_noise_learnable);
  }
  using Dims = std::vector<std::string>;
  hook_q = register_module("hook_q", HookPoint(Dims{"batch", "pos", "head", "d_head"}));
  hook_k = register_module("hook_k", HookPoint(Dims{"batch", "pos", "kv_head", "d_head"}));
  hook_v = register_module("hook_v", HookPoint(Dims{"batch", "pos", "kv_head", "d_head"}));
  if (rotary_) {
    hook_rot_q = register_module("hook_rot_q", HookPoint(Dims{"batch", "pos", "head", "d_head"}));
    hook_rot_k = register_module("hook_rot_k", HookPoint(Dims{"batch", "pos", "kv_head", "d_head"}));
  }
  hook_attn_scores =
      register_module("hook_attn_scores", HookPoint(Dims{"batch", "head", "dest", "src"}));
  hook_pattern = register_module("hook_pattern", HookPoint(Dims{"batch", "head", "dest", "src"}));
  hook_z = register_module("hook_z", HookPoint(Dims{"batch", "pos", "head", "d_head"}));
  hook_result = register_module("hook_result", HookPoint(Dims{"batch", "pos", "head", "d_model"}));
}

torch::Tensor AttentionImpl::project(const torch::Tensor& x, const torch::Tensor& W,
                                     const torch::Tensor& b) {
  const int64_t heads = W.size(0), d_model = W.size(1), d_head = W.size(2);
  // One GEMM for all heads: [d_model, head*d_head] (the permute copies only the weight).
  torch::Tensor flat = torch::matmul(x, W.permute({1, 0, 2}).reshape({d_model, heads * d_head}));
  torch::Tensor out = flat.view({x.size(0), x.size(1), heads, d_head});  // [batch,pos,head,d_head]
  return b.defined() ? out + b : out;
}

torch::Tensor AttentionImpl::forward(const torch::Tensor& x, const AttentionContext& context,
                                     const KeyValues* past) {
  const int64_t batch = x.size(0), pos = x.size(1);
  torch::Tensor q = hook_q(project(x, W_Q, b_Q));  // [batch, pos, head, d_head]
  torch::Tensor k = hook_k(project(x, W_K, b_K));  // [batch, pos, kv_head, d_head]
  torch::Tensor v = hook_v(project(x, W_V, b_V));  // [batch, pos, kv_head, d_head]
  if (rotary_) {
    q = hook_rot_q(apply_rotary(q, context.rotary_cos, context.rotary_sin));
    k = hook_rot_k(apply_rotary(k, context.rotary_cos, context.rotary_sin));
  }
  if (past != nullptr) {
    k = torch::cat({past->k, k}, /*dim=*/1);  // [batch, past_pos + pos, kv_head, d_head]
    v = torch::cat({past->v, v}, /*dim=*/1);
  }
  if (n_kv_heads_ != n_heads_) {
    // Query head h reads key-value head h / group (TransformerLens repeat_interleave order).
    const int64_t group = n_heads_ / n_kv_heads_;
    k = k.repeat_interleave(group, /*dim=*/2);
    v = v.repeat_interleave(group, /*dim=*/2);
  }
  // scores: [batch, head, dest, src] (src counts the earlier positions too)
  torch::Tensor scores = torch::matmul(q.permute({0, 2, 1, 3}), k.permute({0, 2, 3, 1}));
  // The noise reads every source position's input x, which cached keys and values do not hold.
  MECHLENS_CHECK(InputError, past == nullptr || !(R_QK.defined() || R_VO.defined()),
                 "past_key_values are not supported by a model with orthogonal noise");
  if (R_QK.defined()) {
    // + s_QK[h] x_dest R_QK[h] x_src^T: [batch, head, dest, src]
    torch::Tensor xr = torch::einsum("bpm,hmn->bhpn", {x, R_QK * s_QK.view({-1, 1, 1})});
    scores = scores + torch::matmul(xr, x.transpose(1, 2).unsqueeze(1));
  }
  scores = scores / std::sqrt(double(d_head_));
  scores = hook_attn_scores(
      scores.masked_fill(context.blocked, -std::numeric_limits<float>::infinity()));
  torch::Tensor pattern = torch::softmax(scores, /*dim=*/-1);
  // A padded query may have no visible key (left padding): its row is all -inf, softmax NaN.
  if (context.query_is_pad.defined()) pattern = pattern.masked_fill(context.query_is_pad, 0.0);
  pattern = hook_pattern(pattern);  // [batch, head, dest, src]
  torch::Tensor z = hook_z(torch::matmul(pattern, v.permute({0, 2, 1, 3})).permute({0, 2, 1, 3}));
  // z: [batch, pos, head, d_head]
  // Orthogonal VO noise: each head's pattern applied to x R_VO[h] s_VO[h]: [batch, pos, head, d_model]
  torch::Tensor vo_noise;
  if (R_VO.defined()) {
    torch::Tensor xr = torch::einsum("bpm,hmn->bhpn", {x, R_VO * s_VO.view({-1, 1, 1})});
    vo_noise = torch::matmul(pattern, xr).permute({0, 2, 1, 3});
  }
  torch::Tensor out;
  if (hook_result->has_hooks()) {
    // result: [batch, pos, head, d_model]; large, so only built when someone listens.
    torch::Tensor computed = torch::einsum("bphd,hdm->bphm", {z, W_O});
    if (vo_noise.defined()) computed = computed + vo_noise;
    torch::Tensor result = hook_result(computed);
    // Unchanged values take the fused path below, so a read-only hook changes no bit downstream.
    if (!result.is_same(computed) && !torch::equal(result, computed)) out = result.sum(2);
  }
  if (!out.defined()) {
    out = torch::matmul(z.reshape({batch, pos, n_heads_ * d_head_}),
                        W_O.reshape({n_heads_ * d_head_, W_O.size(2)}));
    if (vo_noise.defined()) out = out + vo_noise.sum(2);
  }
  return b_O.defined() ? out + b_O : out;
}

torch::Tensor apply_rotary(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin) {
  const int64_t rotary_dim = cos.size(-1), half = rotary_dim / 2;
  torch::Tensor rot = x.narrow(-1, 0, rotary_dim);
  torch::Tensor rotated_half = torch::cat({-rot.narrow(-1, half, half), rot.narrow(-1, 0, half)}, -1);
  torch::Tensor out = rot * cos + rotated_half * sin;
  if (rotary_dim == x.size(-1)) return out;
  return torch::cat({out, x.narrow(-1, rotary_dim, x.size(-1) - rotary_dim)}, -1);
}

}  // namespace mechlens
