#include "runtime/attention.h"

#include <cmath>
#include <vector>

#include "runtime/affine.h"
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
  hook_attn_scores = register_module("hook_attn_scores", HookPoint(Dims{"batch", "head", "dest", "src"}));
  hook_pattern = register_module("hook_pattern", HookPoint(Dims{"batch", "head", "dest", "src"}));
  hook_z = register_module("hook_z", HookPoint(Dims{"batch", "pos", "head", "d_head"}));
  hook_result = register_module("hook_result", HookPoint(Dims{"batch", "pos", "head", "d_model"}));
}

namespace {

// W [head, d_model, d_head] -> [d_model, head*d_head], the layout of one GEMM for all heads.
torch::Tensor heads_flat(const torch::Tensor& W) {
  return W.permute({1, 0, 2}).reshape({W.size(1), W.size(0) * W.size(2)});
}

// [..., head*d_head] -> [..., head, d_head] (a view)
torch::Tensor split_heads(const torch::Tensor& x, int64_t heads) {
  std::vector<int64_t> shape = x.sizes().vec();
  const int64_t d_head = shape.back() / heads;
  shape.back() = heads;
  shape.push_back(d_head);
  return x.view(shape);
}

}  // namespace

std::vector<torch::Tensor> AttentionImpl::project(const torch::Tensor& x, const std::vector<torch::Tensor>& Ws,
                                                  const std::vector<torch::Tensor>& bs) {
  // One GEMM for every head of every given projection (the concatenation copies only weights).
  std::vector<torch::Tensor> flat_W, flat_b;
  for (const auto& W : Ws) flat_W.push_back(heads_flat(W));
  for (const auto& b : bs) {
    if (b.defined()) flat_b.push_back(b.reshape({-1}));
  }
  const torch::Tensor W = flat_W.size() == 1 ? flat_W[0] : torch::cat(flat_W, 1);
  const torch::Tensor b = flat_b.empty() ? torch::Tensor() : flat_b.size() == 1 ? flat_b[0] : torch::cat(flat_b);
  const torch::Tensor out = affine(x, W, b);  // [batch, pos, sum of head*d_head]
  std::vector<torch::Tensor> parts;
  int64_t offset = 0;
  for (const auto& Wi : Ws) {
    const int64_t width = Wi.size(0) * Wi.size(2);
    parts.push_back(split_heads(out.narrow(-1, offset, width), Wi.size(0)));  // [batch,pos,head,d_head]
    offset += width;
  }
  return parts;
}

torch::Tensor AttentionImpl::forward(const torch::Tensor& x, const AttentionContext& context, const KeyValues* past) {
  std::vector<torch::Tensor> qkv = project(x, {W_Q, W_K, W_V}, {b_Q, b_K, b_V});
  torch::Tensor q = hook_q(qkv[0]);  // [batch, pos, head, d_head]
  torch::Tensor k = hook_k(qkv[1]);  // [batch, pos, kv_head, d_head]
  torch::Tensor v = hook_v(qkv[2]);  // [batch, pos, kv_head, d_head]
  if (rotary_) {
    q = hook_rot_q(apply_rotary(q, context.rotary_cos, context.rotary_sin));
    k = hook_rot_k(apply_rotary(k, context.rotary_cos, context.rotary_sin));
  }
  if (past != nullptr) {
    k = torch::cat({past->k, k}, /*dim=*/1);  // [batch, past_pos + pos, kv_head, d_head]
    v = torch::cat({past->v, v}, /*dim=*/1);
  }
  // The noise reads every source position's input x, which cached keys and values do not hold.
  MECHLENS_CHECK(InputError, past == nullptr || !(R_QK.defined() || R_VO.defined()),
                 "past_key_values are not supported by a model with orthogonal noise");
  return attend(x, x, q, k, v, context.score_mask, context.query_is_pad, /*hooked=*/true);
}

torch::Tensor AttentionImpl::forward_at(const torch::Tensor& x, const torch::Tensor& query_index,
                                        const AttentionContext& context) {
  torch::Tensor x_query = select_positions(x, query_index);  // [batch, n, d_model]
  torch::Tensor q = project(x_query, {W_Q}, {b_Q})[0];       // [batch, n, head, d_head]
  std::vector<torch::Tensor> kv = project(x, {W_K, W_V}, {b_K, b_V});
  torch::Tensor k = kv[0], v = kv[1];  // [batch, pos, kv_head, d_head]
  if (rotary_) {
    q = apply_rotary(q, select_positions(context.rotary_cos, query_index),
                     select_positions(context.rotary_sin, query_index));
    k = apply_rotary(k, context.rotary_cos, context.rotary_sin);
  }
  // Mask rows of the chosen queries: [batch or 1, 1, pos, pos] -> [batch, 1, n, pos]
  torch::Tensor score_mask = select_positions(context.score_mask.transpose(1, 2), query_index).transpose(1, 2);
  torch::Tensor query_is_pad;
  if (context.query_is_pad.defined()) {
    query_is_pad = select_positions(context.query_is_pad.transpose(1, 2), query_index).transpose(1, 2);
  }
  return attend(x_query, x, q, k, v, score_mask, query_is_pad, /*hooked=*/false);
}

torch::Tensor AttentionImpl::attend(const torch::Tensor& x_query, const torch::Tensor& x_source, torch::Tensor q,
                                    torch::Tensor k, torch::Tensor v, const torch::Tensor& score_mask,
                                    const torch::Tensor& query_is_pad, bool hooked) {
  auto hook = [hooked](HookPoint& point, const torch::Tensor& value) { return hooked ? point(value) : value; };
  const int64_t batch = q.size(0), dest = q.size(1);
  if (n_kv_heads_ != n_heads_) {
    // Query head h reads key-value head h / group (TransformerLens repeat_interleave order).
    const int64_t group = n_heads_ / n_kv_heads_;
    k = k.repeat_interleave(group, /*dim=*/2);
    v = v.repeat_interleave(group, /*dim=*/2);
  }
  // scores: [batch, head, dest, src] (src counts the earlier positions too)
  const int64_t src = k.size(1);
  const double scale = 1.0 / std::sqrt(double(d_head_));
  torch::Tensor scores;
  if (R_QK.defined()) {
    scores = torch::matmul(q.permute({0, 2, 1, 3}), k.permute({0, 2, 3, 1}));
    // + s_QK[h] x_dest R_QK[h] x_src^T: [batch, head, dest, src]
    torch::Tensor xr = torch::einsum("bpm,hmn->bhpn", {x_query, R_QK * s_QK.view({-1, 1, 1})});
    scores = scores + torch::matmul(xr, x_source.transpose(1, 2).unsqueeze(1));
    scores = scores * scale + score_mask.to(scores.scalar_type());
  } else {
    // Scale and mask inside the batched GEMM (mask + scale * q k^T): no separate passes over the
    // scores forward or backward. [batch*head, dest, src]
    torch::Tensor q3 = q.permute({0, 2, 1, 3}).reshape({batch * n_heads_, dest, d_head_});
    torch::Tensor k3 = k.permute({0, 2, 3, 1}).reshape({batch * n_heads_, d_head_, src});
    torch::Tensor mask = score_mask.to(q.scalar_type());
    mask = mask.size(0) == 1 ? mask.view({1, dest, src})
                             : mask.expand({batch, n_heads_, dest, src}).reshape({batch * n_heads_, dest, src});
    scores = torch::baddbmm(mask, q3, k3, /*beta=*/1, /*alpha=*/scale).view({batch, n_heads_, dest, src});
  }
  scores = hook(hook_attn_scores, scores);
  torch::Tensor pattern = torch::softmax(scores, /*dim=*/-1);
  // A padded query may have no visible key (left padding): its row is all -inf, softmax NaN.
  if (query_is_pad.defined()) pattern = pattern.masked_fill(query_is_pad, 0.0);
  pattern = hook(hook_pattern, pattern);  // [batch, head, dest, src]
  torch::Tensor z = hook(hook_z, torch::matmul(pattern, v.permute({0, 2, 1, 3})).permute({0, 2, 1, 3}));
  // z: [batch, dest, head, d_head]
  // Orthogonal VO noise: each head's pattern applied to x R_VO[h] s_VO[h]: [batch, dest, head, d_model]
  torch::Tensor vo_noise;
  if (R_VO.defined()) {
    torch::Tensor xr = torch::einsum("bpm,hmn->bhpn", {x_source, R_VO * s_VO.view({-1, 1, 1})});
    vo_noise = torch::matmul(pattern, xr).permute({0, 2, 1, 3});
  }
  torch::Tensor out;
  if (hooked && hook_result->has_hooks()) {
    // result: [batch, dest, head, d_model]; large, so only built when someone listens.
    torch::Tensor computed = torch::einsum("bphd,hdm->bphm", {z, W_O});
    if (vo_noise.defined()) computed = computed + vo_noise;
    torch::Tensor result = hook_result(computed);
    // Unchanged values take the fused path below, so a read-only hook changes no bit downstream.
    if (!result.is_same(computed) && !torch::equal(result, computed)) out = result.sum(2);
  }
  if (!out.defined()) {
    out = affine(z.reshape({batch, dest, n_heads_ * d_head_}), W_O.reshape({n_heads_ * d_head_, W_O.size(2)}), b_O);
    return vo_noise.defined() ? out + vo_noise.sum(2) : out;
  }
  return b_O.defined() ? out + b_O : out;
}

torch::Tensor select_positions(const torch::Tensor& x, const torch::Tensor& index) {
  // x: [batch or 1, pos, ...], index: [batch, n] -> [batch, n, ...]
  std::vector<int64_t> shape(x.sizes().begin(), x.sizes().end());
  shape[0] = index.size(0);
  shape[1] = index.size(1);
  std::vector<int64_t> view_shape(x.dim(), 1);
  view_shape[0] = index.size(0);
  view_shape[1] = index.size(1);
  std::vector<int64_t> source_shape = shape;
  source_shape[1] = x.size(1);
  return x.expand(source_shape).gather(1, index.view(view_shape).expand(shape));
}

torch::Tensor apply_rotary(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin) {
  const int64_t rotary_dim = cos.size(-1), half = rotary_dim / 2;
  torch::Tensor rot = x.narrow(-1, 0, rotary_dim);
  torch::Tensor rotated_half = torch::cat({-rot.narrow(-1, half, half), rot.narrow(-1, 0, half)}, -1);
  // cos and sin are computed in float32; in the activations' dtype here (a no-op for float32), as
  // Hugging Face casts them, so that bfloat16 models stay bfloat16.
  torch::Tensor out = rot * cos.to(x.scalar_type()) + rotated_half * sin.to(x.scalar_type());
  if (rotary_dim == x.size(-1)) return out;
  return torch::cat({out, x.narrow(-1, rotary_dim, x.size(-1) - rotary_dim)}, -1);
}

}  // namespace mechlens
