// Token embedding (embed.W_E), learned positions (pos_embed.W_pos) and unembedding
// (unembed.W_U, unembed.b_U): parameter names and layouts as TransformerLens.
#pragma once

#include <torch/nn/module.h>
#include <torch/nn/pimpl.h>

#include "runtime/config.h"

namespace mechlens {

class EmbedImpl : public torch::nn::Module {
 public:
  explicit EmbedImpl(const ModelConfig& config);
  torch::Tensor forward(const torch::Tensor& tokens);  // [batch,pos] -> [batch,pos,d_model]
  torch::Tensor W_E;                                   // [d_vocab, d_model]
};
TORCH_MODULE(Embed);

class PosEmbedImpl : public torch::nn::Module {
 public:
  explicit PosEmbedImpl(const ModelConfig& config);
  torch::Tensor forward(const torch::Tensor& positions);  // [batch or 1,pos] -> [batch or 1,pos,d_model]
  torch::Tensor W_pos;                                    // [n_ctx, d_model]
};
TORCH_MODULE(PosEmbed);

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
