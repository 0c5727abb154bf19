// Models whose weights are set by hand, so that an analysis's answer is known in advance.
#pragma once

#include <torch/torch.h>

#include "runtime/model.h"

namespace mechlens::testing {

/// One attention-only layer with one head (d_head = d_model), no norm, every weight 0: the start of
/// each hand-built model below.
inline HookedTransformer zeroed_one_head_model(int64_t d_model, int64_t d_vocab, int64_t n_ctx) {
  ModelConfig config;
  config.n_layers = 1;
  config.d_mlp = 0;
  config.n_heads = 1;
  config.d_model = d_model;
  config.d_head = d_model;
  config.d_vocab = d_vocab;
  config.n_ctx = n_ctx;
  config.normalization_type = NormType::kNone;
  HookedTransformer model(config);
  model->eval();
  torch::NoGradGuard no_grad;
  for (auto& item : model->named_parameters()) item.value().zero_();
  return model;
}

/// One attention-only layer, one head, no norm, d_vocab tokens as one-hot residual directions
/// plus a marker direction that only position 0 carries. The head's query matches the marker with
/// a score so large that softmax gives every other source exactly 0 in float32: every destination
/// attends to position 0 alone and copies its token (x2) into the residual stream. The unembedding
/// reads the token directions, so the prediction at every position is the first token.
inline HookedTransformer copy_first_token_model(int64_t d_vocab = 8, int64_t n_ctx = 8) {
  HookedTransformer model = zeroed_one_head_model(d_vocab + 1, d_vocab, n_ctx);
  torch::NoGradGuard no_grad;
  auto params = model->named_parameters();
  const int64_t marker = d_vocab;
  for (int64_t t = 0; t < d_vocab; ++t) {
    params["embed.W_E"][t][t] = 1.0;
    params["blocks.0.attn.W_V"][0][t][t] = 1.0;
    params["blocks.0.attn.W_O"][0][t][t] = 2.0;
    params["unembed.W_U"][t][t] = 1.0;
  }
  params["pos_embed.W_pos"][0][marker] = 1.0;
  params["blocks.0.attn.W_K"][0][marker][marker] = 1.0;
  params["blocks.0.attn.b_Q"][0][marker] = 1e4;  // every query asks for the marker
  return model;
}

/// One attention-only layer, one head, no norm: d_model = n_ctx one-hot position directions. The
/// query of position p asks for direction p − 1 with a score so large that softmax puts all of the
/// attention there: every position q >= 1 attends to q − 1 alone, position 0 to itself.
inline HookedTransformer previous_token_model(int64_t n_ctx = 8, int64_t d_vocab = 5) {
  HookedTransformer model = zeroed_one_head_model(n_ctx, d_vocab, n_ctx);
  torch::NoGradGuard no_grad;
  auto params = model->named_parameters();
  for (int64_t p = 0; p < n_ctx; ++p) {
    params["pos_embed.W_pos"][p][p] = 1.0;
    params["blocks.0.attn.W_K"][0][p][p] = 1.0;
    if (p >= 1) params["blocks.0.attn.W_Q"][0][p][p - 1] = 1e4;
  }
  return model;
}

}  // namespace mechlens::testing
