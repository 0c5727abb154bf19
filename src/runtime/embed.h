// Token embedding (embed.W_E), learned positions (pos_embed.W_pos), token types
// (token_type_embed.W_token_type) and unembedding
// (unembed.W_U, unembed.b_U): parameter names and layouts as TransformerLens.
#pragma once

#include <torch/nn/module.h>
#include <torch/nn/pimpl.h>

#include "runtime/config.h"

namespace mechlens {

/// With shared_embed_norm each row is rescaled to the one learned norm `row_norm` [1].
class EmbedImpl : public torch::nn::Module {
 public:
  explicit EmbedImpl(const ModelConfig& config);
  torch::Tensor forward(const torch::Tensor& tokens);  // [...] ids -> [..., d_model]
  torch::Tensor W_E;                                   // [d_vocab, d_model]
  torch::Tensor row_norm;                              // [1], only with shared_embed_norm
};
TORCH_MODULE(Embed);

class PosEmbedImpl : public torch::nn::Module {
 public:
  explicit PosEmbedImpl(const ModelConfig& config);
  torch::Tensor forward(const torch::Tensor& positions);  // [batch or 1,pos] -> [batch or 1,pos,d_model]
  torch::Tensor W_pos;                                    // [n_ctx, d_model]
};
TORCH_MODULE(PosEmbed);

/// Token-type (segment) embedding of encoders: every token has type 0 (one segment), so the forward
/// adds row 0 at every position. Kept as a weight so BERT checkpoints load and round-trip.
class TokenTypeEmbedImpl : public torch::nn::Module {
 public:
  explicit TokenTypeEmbedImpl(const ModelConfig& config);
  torch::Tensor forward(const torch::Tensor& like);  // [batch,pos,d_model] -> row 0 expanded to it (a view)
  torch::Tensor W_token_type;                        // [d_vocab_token_type, d_model]
};
TORCH_MODULE(TokenTypeEmbed);

class UnembedImpl : public torch::nn::Module {
 public:
  /// With tied embeddings W_U is not a parameter: `tied_W_E` [d_vocab,d_model] is used transposed.
  UnembedImpl(const ModelConfig& config, torch::Tensor tied_W_E);
  torch::Tensor forward(const torch::Tensor& x);  // [batch,pos,d_model] -> [batch,pos,d_vocab]
  torch::Tensor W_U;                              // [d_model, d_vocab]
  torch::Tensor b_U;                              // [d_vocab]

 private:
  torch::Tensor tied_W_E_;
};
TORCH_MODULE(Unembed);

}  // namespace mechlens
