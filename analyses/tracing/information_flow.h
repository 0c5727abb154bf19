// Information-flow routes (Ferrando & Voita 2024, "Information Flow Routes"): one forward pass, no
// gradients. Every sum the residual stream makes is split into its parts, and each part's share is
// its proximity to the sum: proximity(z, y) = max(||y||_1 - ||y - z||_1, 0), divided by the sum of
// the proximities of all parts of y (the paper's L1 form; all zero when no part is close).
//   attention block of layer l at destination t: y = resid_pre[t] + attn_out[t]; parts: for every
//     head h and source s, A_h[t, s] * v_h[s] W_O,h (values include b_V; b_O belongs to the sum
//     but to no part), and the residual resid_pre[t];
//   MLP block: y = resid_mid[t] + mlp_out[t]; parts: mlp_out[t] and resid_mid[t].
// For post-LN models y is the sum before the norm. Where large parts cancel, every one of them can
// be farther from y than 0 is, and the proximities vanish: `coverage` reports it per node. The
// per-(head, source) parts are never stored: each is compared with its sum as it is formed, one
// layer at a time (memory: one layer's activations, and the [layer, head, dest, src] shares).
#pragma once

#include <torch/types.h>  // torch::Tensor

#include <cstdint>
#include <vector>

#include "runtime/model.h"

namespace mechlens {

struct InformationFlowOptions {
  bool progress = false;
};

/// Edge shares of every prompt; each node's shares (attention parts + residual, or MLP + residual)
/// sum to 1 unless no part is close to the sum.
struct InformationFlow {
  torch::Tensor attention;           // float [batch, layer, head, dest, src]
  torch::Tensor attention_residual;  // float [batch, layer, dest]
  torch::Tensor mlp, mlp_residual;   // float [batch, layer, dest]; undefined for attention-only models
  // How much of each node the shares describe: the sum of the parts' proximities over ||y||_1
  // [batch, layer, dest]. Near 0 when the large parts cancel each other (each is farther from y
  // than y is from 0, so its proximity is 0): the shares then rest on the small parts alone and
  // say little; a knock-out (tracing/knockout.h) is the check there.
  torch::Tensor attention_coverage, mlp_coverage;

  int64_t n_layers() const { return attention.size(1); }
  int64_t n_heads() const { return attention.size(2); }
  int64_t n_pos() const { return attention.size(3); }
  bool has_mlp() const { return mlp.defined(); }
};

/// Prompts [start, start + count) of `flow`.
InformationFlow narrow_prompts(const InformationFlow& flow, int64_t start, int64_t count);
/// The prompts of several flows, in order.
InformationFlow concat_prompts(const std::vector<InformationFlow>& flows);

/// One forward over `tokens` [batch, pos]. Throws InputError for models whose attention output has
/// parts this decomposition does not name (orthogonal VO noise).
InformationFlow information_flow(HookedTransformer& model, const torch::Tensor& tokens,
                                 const InformationFlowOptions& options = {});

/// The parts of layer `layer`'s attention sum at every destination: [batch, dest, src, head, d_model]
/// (small inputs only; for tests and inspection). parts.sum over (src, head) + b_O = attn_out.
torch::Tensor attention_parts(HookedTransformer& model, const torch::Tensor& tokens, int64_t layer);

}  // namespace mechlens
