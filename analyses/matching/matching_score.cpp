#include "matching/matching_score.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <torch/torch.h>

#include <algorithm>
#include <cmath>

#include "runtime/block.h"
#include "util/error.h"

namespace mechlens {
namespace {

torch::Tensor parameter(HookedTransformer& model, const std::string& name) {
  auto params = model->named_parameters();
  MECHLENS_CHECK(InputError, params.contains(name), "the model has no parameter '{}'", name);
  return params[name].detach().to(torch::kCPU, torch::kFloat32);
}

int64_t kv_head(const ModelConfig& config, int64_t head) { return head / (config.n_heads / config.kv_heads()); }

void check_head(const ModelConfig& config, int64_t layer, int64_t head) {
  MECHLENS_CHECK(InputError, layer >= 0 && layer < config.n_layers, "layer {} is out of range (0..{})", layer,
                 config.n_layers - 1);
  MECHLENS_CHECK(InputError, head >= 0 && head < config.n_heads, "head {} is out of range (0..{})", head,
                 config.n_heads - 1);
}

// A layer's value-output map summed over its heads: [d_model, d_model].
torch::Tensor layer_vo(HookedTransformer& model, int64_t layer) {
  torch::Tensor sum;
  for (int64_t h = 0; h < model->config().n_heads; ++h) {
    const torch::Tensor vo = vo_product(model, layer, h);
    sum = sum.defined() ? sum + vo : vo;
  }
  return sum;
}

}  // namespace

torch::Tensor qk_product(HookedTransformer& model, int64_t layer, int64_t head) {
  const ModelConfig& config = model->config();
  check_head(config, layer, head);
  const std::string prefix = "blocks." + std::to_string(layer) + ".attn.";
  const torch::Tensor q = parameter(model, prefix + "W_Q")[head];                   // [d_model, d_head]
  const torch::Tensor k = parameter(model, prefix + "W_K")[kv_head(config, head)];  // [d_model, d_head]
  return q.matmul(k.t());
}

torch::Tensor vo_product(HookedTransformer& model, int64_t layer, int64_t head) {
  const ModelConfig& config = model->config();
  check_head(config, layer, head);
  const std::string prefix = "blocks." + std::to_string(layer) + ".attn.";
  const torch::Tensor v = parameter(model, prefix + "W_V")[kv_head(config, head)];  // [d_model, d_head]
  const torch::Tensor o = parameter(model, prefix + "W_O")[head];                   // [d_head, d_model]
  return v.matmul(o);
}

double identity_kernel_score(const torch::Tensor& kernel) {
  MECHLENS_CHECK(InputError, kernel.dim() == 2 && kernel.size(0) == kernel.size(1),
                 "the kernel must be square, got [{}]", fmt::join(kernel.sizes(), ", "));
  const torch::Tensor k = kernel.to(torch::kFloat64);
  const double frobenius = k.square().sum().item<double>();
  if (frobenius == 0) return 0;
  const double trace = k.trace().item<double>();
  return trace * trace / (double(k.size(0)) * frobenius);
}

MatchingScores matching_scores(HookedTransformer& model, const MatchingOptions& options) {
  const ModelConfig& config = model->config();
  MECHLENS_CHECK(InputError, config.n_layers >= 2,
                 "matching scores need a pair-fusion layer and at least one hop layer; the model has {} layer",
                 config.n_layers);
  const int64_t fusion = options.fusion_layer;
  MECHLENS_CHECK(InputError, fusion >= 0 && fusion + 1 < config.n_layers,
                 "fusion layer {}: expected 0..{} (a hop layer must follow it; the model has {} layers)", fusion,
                 config.n_layers - 2, config.n_layers);
  torch::NoGradGuard no_grad;
  MatchingScores out;
  out.tokens = options.tokens;
  if (out.tokens.empty()) {
    for (int64_t t = 0; t < config.d_vocab; ++t) out.tokens.push_back(t);
  }
  std::vector<bool> seen(size_t(std::max<int64_t>(config.d_vocab, 0)), false);
  for (int64_t token : out.tokens) {
    MECHLENS_CHECK(InputError, token >= 0 && token < config.d_vocab,
                   "token {} is not in the model's vocabulary (0..{})", token, config.d_vocab - 1);
    // A repeated token has two equal rows and columns in M: its diagonal entry would share the row's
    // maximum with another column, so its score could not reach 1.
    MECHLENS_CHECK(InputError, !seen[size_t(token)],
                   "token {} appears more than once in the token set (the score matches each token against "
                   "the others; list each once)",
                   token);
    seen[size_t(token)] = true;
  }
  const torch::Tensor ids = torch::tensor(out.tokens, torch::kLong);
  // As the model's forward embeds them (with shared_embed_norm, rescaled rows).
  torch::Tensor embeddings = model->embed->forward(ids.to(parameter(model, "embed.W_E").device()));  // [T, d_model]
  out.embeddings = "raw";
  if (options.positional) {
    MECHLENS_CHECK(InputError, config.positional_embedding_type == PositionalEmbedding::kStandard,
                   "the model has no learned positional embedding to add (positions: {})",
                   to_string(config.positional_embedding_type));
    embeddings = embeddings + parameter(model, "pos_embed.W_pos").mean(0, /*keepdim=*/true);
  }
  if (options.normalised && config.has_norm()) {
    // Layer 0's first norm, as the model applies it (pre-LN: before attention; post-LN: after it).
    auto block = model->blocks[0]->as<TransformerBlock>();
    embeddings = block->ln1->forward(embeddings.unsqueeze(0).to(parameter(model, "embed.W_E").device())).squeeze(0);
    embeddings = embeddings.to(torch::kCPU, torch::kFloat32);
    out.embeddings = "layer-0 norm";
  }
  if (options.positional) out.embeddings += " + mean position";
  const double scale = 1.0 / std::sqrt(double(config.d_head));
  const int64_t n_tokens = int64_t(out.tokens.size()), n_heads = config.n_heads;
  // Low-rank throughout: per head M = (X_l W_Q)(E W_VO(F) W_K)^T, and the kernel
  // K = carry W_Q W_K^T W_VO(F)^T = A B^T with A = carry W_Q, B = W_VO(F) W_K [d_model, d_head], whose
  // trace is sum(A * B) and squared Frobenius norm sum((A^T A) * (B^T B)): no d_model x d_model product.
  // F is the fusion layer (0 unless set).
  const torch::Tensor vo_fusion = layer_vo(model, fusion);
  const torch::Tensor keys = embeddings.matmul(vo_fusion);  // [T, d_model]: E W_VO(F)
  out.queries = fmt::format("X_{} = E{}", fusion + 1, options.moved_queries ? fmt::format(" W_VO({})", fusion) : "");
  std::vector<torch::Tensor> matrices, scores, top1, kernels;
  for (int64_t layer = fusion + 1; layer < config.n_layers; ++layer) {
    out.layers.push_back(layer);
    const std::string prefix = "blocks." + std::to_string(layer) + ".attn.";
    const torch::Tensor W_Q = parameter(model, prefix + "W_Q"), W_K = parameter(model, prefix + "W_K");
    // X_l = E carry: layer l's query is the node layer l - 1 moved (for the first hop layer F + 1, the
    // query token itself, or the one the fusion layer moved to the query position).
    const torch::Tensor carry = layer > fusion + 1      ? layer_vo(model, layer - 1)
                                : options.moved_queries ? vo_fusion
                                                        : torch::Tensor();
    const torch::Tensor queries = carry.defined() ? embeddings.matmul(carry) : embeddings;  // [T, d_model]
    for (int64_t h = 0; h < n_heads; ++h) {
      const torch::Tensor w_q = W_Q[h], w_k = W_K[kv_head(config, h)];           // [d_model, d_head]
      const torch::Tensor m = queries.matmul(w_q).matmul(keys.matmul(w_k).t());  // [T, T]
      const torch::Tensor p = torch::softmax(m.to(torch::kFloat64) * scale, -1);
      matrices.push_back(m);
      scores.push_back(p.diagonal().mean().to(torch::kFloat32));
      top1.push_back(m.argmax(-1).eq(torch::arange(n_tokens)).to(torch::kFloat32).mean());
      const torch::Tensor a = (carry.defined() ? carry.matmul(w_q) : w_q).to(torch::kFloat64);
      const torch::Tensor b = vo_fusion.matmul(w_k).to(torch::kFloat64);
      const double trace = (a * b).sum().item<double>();
      const double frobenius = (a.t().matmul(a) * b.t().matmul(b)).sum().item<double>();
      kernels.push_back(
          torch::tensor(float(frobenius > 0 ? trace * trace / (double(config.d_model) * frobenius) : 0.0)));
    }
  }
  const int64_t n_layers = int64_t(out.layers.size());
  out.matrix = torch::stack(matrices).view({n_layers, n_heads, n_tokens, n_tokens});
  out.score = torch::stack(scores).view({n_layers, n_heads});
  out.top1 = torch::stack(top1).view({n_layers, n_heads});
  out.kernel_score = torch::stack(kernels).view({n_layers, n_heads});
  return out;
}

}  // namespace mechlens
