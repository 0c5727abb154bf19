#include "runtime/embed.h"

#include "runtime/affine.h"

namespace mechlens {

EmbedImpl::EmbedImpl(const ModelConfig& config) {
  W_E = register_parameter("W_E", torch::empty({config.d_vocab, config.d_model}));
  if (config.shared_embed_norm) row_norm = register_parameter("row_norm", torch::ones({1}));
}

torch::Tensor EmbedImpl::forward(const torch::Tensor& tokens) {
  torch::Tensor rows = torch::embedding(W_E, tokens);  // [..., d_model]
  if (!row_norm.defined()) return rows;
  // The gathered rows only, not all of W_E: a prompt touches few of the vocabulary's rows.
  return rows * (row_norm / rows.norm(2, -1, /*keepdim=*/true).clamp_min(1e-12));
}

PosEmbedImpl::PosEmbedImpl(const ModelConfig& config) {
  W_pos = register_parameter("W_pos", torch::empty({config.n_ctx, config.d_model}));
}

torch::Tensor PosEmbedImpl::forward(const torch::Tensor& positions) { return torch::embedding(W_pos, positions); }

TokenTypeEmbedImpl::TokenTypeEmbedImpl(const ModelConfig& config) {
  W_token_type = register_parameter("W_token_type", torch::empty({config.d_vocab_token_type, config.d_model}));
}

torch::Tensor TokenTypeEmbedImpl::forward(const torch::Tensor& like) { return W_token_type[0].expand_as(like); }

UnembedImpl::UnembedImpl(const ModelConfig& config, torch::Tensor tied_W_E) : tied_W_E_(std::move(tied_W_E)) {
  if (!config.tie_embeddings) {
    W_U = register_parameter("W_U", torch::empty({config.d_model, config.d_vocab}));
  }
  if (config.unembed_bias) b_U = register_parameter("b_U", torch::zeros({config.d_vocab}));
}

torch::Tensor UnembedImpl::forward(const torch::Tensor& x) {
  return affine(x, W_U.defined() ? W_U : tied_W_E_.t(), b_U);
}

}  // namespace mechlens
