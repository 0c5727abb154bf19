#include "runtime/block.h"

namespace mechlens {

TransformerBlockImpl::TransformerBlockImpl(const ModelConfig& config)
    : post_norm_(config.norm_placement == NormPlacement::kPost) {
  const std::vector<std::string> resid_dims{"batch", "pos", "d_model"};
  // Registration order is forward order, so named_modules() lists hooks as they fire.
  hook_resid_pre = register_module("hook_resid_pre", HookPoint(resid_dims));
  if (config.has_norm()) {
    ln1 = register_module("ln1", Norm(config.d_model, config.normalization_type, config.eps));
  }
  attn = register_module("attn", Attention(config));
  hook_attn_out = register_module("hook_attn_out", HookPoint(resid_dims));
  if (!config.attn_only()) {
    hook_resid_mid = register_module("hook_resid_mid", HookPoint(resid_dims));
    if (config.has_norm()) {
      ln2 = register_module("ln2", Norm(config.d_model, config.normalization_type, config.eps));
    }
    mlp = register_module("mlp", MLP(config));
    hook_mlp_out = register_module("hook_mlp_out", HookPoint(resid_dims));
  }
  hook_resid_post = register_module("hook_resid_post", HookPoint(resid_dims));
}

torch::Tensor TransformerBlockImpl::forward(torch::Tensor resid, const AttentionContext& context,
                                            const KeyValues* past) {
  resid = hook_resid_pre(resid);
  if (post_norm_) {
    torch::Tensor attn_out = hook_attn_out(attn(resid, context, past));
    if (!mlp) return hook_resid_post(norm(ln1, resid + attn_out));
    resid = hook_resid_mid(norm(ln1, resid + attn_out));
    return hook_resid_post(norm(ln2, resid + hook_mlp_out(mlp(resid))));
  }
  torch::Tensor attn_out = hook_attn_out(attn(norm(ln1, resid), context, past));
  if (!mlp) return hook_resid_post(resid + attn_out);
  resid = hook_resid_mid(resid + attn_out);
  return hook_resid_post(resid + hook_mlp_out(mlp(norm(ln2, resid))));
}

torch::Tensor TransformerBlockImpl::forward_at(const torch::Tensor& resid, const torch::Tensor& query_index,
                                               const AttentionContext& context) {
  // Every position is still a key (so the attention input is full width); the rest runs on n rows.
  torch::Tensor rows = select_positions(resid, query_index);  // [batch, n, d_model]
  if (post_norm_) {
    rows = norm(ln1, rows + attn->forward_at(resid, query_index, context));
    return mlp ? norm(ln2, rows + mlp(rows)) : rows;
  }
  rows = rows + attn->forward_at(norm(ln1, resid), query_index, context);
  return mlp ? rows + mlp(norm(ln2, rows)) : rows;
}

}  // namespace mechlens
