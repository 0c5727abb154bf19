// Direct logit attribution and the logit lens at each prompt's answer position.
//
// DLA splits the answer's logit difference (correct − wrong token; or the correct token's logit)
// into what each component writes into the residual stream read by the unembedding: the token and
// position embeddings, every head (its z through W_O), each layer's attention bias, every MLP, and a
// constant (the final norm's bias and the unembedding bias). Each component passes through the final
// norm as the real residual did: centred (LayerNorm) and divided by the final norm's scale from the
// forward — so the components sum to the logit difference exactly (float rounding). A head's part is
// also split over the source positions it reads (attention weight × that position's value). Only for
// models whose residual stream is a sum of components: pre-norm or no norm (post-LN renormalises the
// stream in every block; those are refused with a message).
//
// The logit lens decodes the residual stream before every layer and after the last one, at the
// answer position, through the final norm (recomputed for that residual, as nostalgebraist's logit
// lens does) and the unembedding: the answer's rank and probability, the top-k tokens, and the KL
// divergence from the model's final distribution.
#pragma once

#include <torch/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "runtime/model.h"
#include "tracing/knockout.h"  // AnswerPrompts

namespace mechlens {

struct LogitAttribution {
  bool logit_difference = true;  // false: the correct token's logit alone (prompts without `wrong`)
  torch::Tensor embed;           // [batch]: token embedding
  torch::Tensor pos_embed;       // [batch]: positional embedding (zeros without one)
  torch::Tensor head;            // [layer, head, batch]
  torch::Tensor head_by_source;  // [layer, head, src, batch]: sums to `head` over src
  torch::Tensor attn_bias;       // [layer, batch]
  torch::Tensor mlp;             // [layer, batch]
  torch::Tensor constant;        // [batch]: final-norm bias and unembedding bias
  torch::Tensor metric;          // [batch]: the logit difference (or logit) of the forward
};

/// Throws InputError for post-LN models and for prompts that do not fit the model.
LogitAttribution direct_logit_attribution(HookedTransformer& model, const AnswerPrompts& prompts,
                                          int64_t max_batch = 64, bool progress = false);

struct LogitLens {
  torch::Tensor
      answer_prob;  // [stage, batch]: stage l < n_layers is the residual before layer l; n_layers: after the last
  torch::Tensor answer_rank;  // [stage, batch] long: 0 = the top token
  torch::Tensor kl_to_final;  // [stage, batch]: KL(final ‖ stage), in nats
  torch::Tensor top_tokens;   // [stage, batch, k] long
  torch::Tensor top_probs;    // [stage, batch, k]
};

LogitLens logit_lens(HookedTransformer& model, const AnswerPrompts& prompts, int64_t top_k = 5, int64_t max_batch = 64,
                     bool progress = false);

}  // namespace mechlens
