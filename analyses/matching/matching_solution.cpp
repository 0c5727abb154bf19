#include "matching/matching_solution.h"

#include <torch/torch.h>

#include <cmath>

#include "util/error.h"

namespace mechlens {
namespace {

using torch::indexing::Slice;

// A random orthogonal d x d matrix (QR of a Gaussian, signs fixed so that the draw is uniform).
torch::Tensor random_orthogonal(int64_t d, at::Generator& generator) {
  const torch::Tensor gaussian = at::normal(0.0, 1.0, {d, d}, generator);
  auto [q, r] = torch::linalg_qr(gaussian);
  return q * r.diagonal().sign().unsqueeze(0);
}

}  // namespace

HookedTransformer build_matching_solution(const MatchingSolutionOptions& options) {
  MECHLENS_CHECK(InputError, options.hops >= 1, "the solution needs at least one hop layer, got {}", options.hops);
  MECHLENS_CHECK(InputError, options.d_token >= 8 && options.n_ctx >= 3 && options.d_vocab >= 2,
                 "the solution needs d_token >= 8, n_ctx >= 3 and a vocabulary of 2 or more tokens");
  const int64_t n_ctx = options.n_ctx, k = options.d_token;
  const int64_t d = n_ctx + (options.hops + 2) * k;
  // Block offsets: positions [0, n_ctx), token, then buffer 0 .. buffer hops.
  auto block = [&](int64_t b) { return n_ctx + b * k; };  // b = 0: token, b = 1 + l: buffer l
  ModelConfig config;
  config.n_layers = options.hops + 1;
  config.d_model = d;
  config.n_heads = 1;
  config.d_head = d;
  config.d_mlp = 0;
  config.d_vocab = options.d_vocab;
  config.n_ctx = n_ctx;
  config.normalization_type = NormType::kNone;
  config.attn_bias = false;
  config.unembed_bias = false;
  config.seed = options.seed;
  HookedTransformer model(config);
  model->eval();
  torch::NoGradGuard no_grad;
  at::Generator generator = at::detail::createCPUGenerator(options.seed);
  auto params = model->named_parameters();
  // Tokens: random directions in the token block (nearly orthonormal); positions: basis vectors.
  const torch::Tensor tokens = at::normal(0.0, 1.0 / std::sqrt(double(k)), {options.d_vocab, k}, generator);
  torch::Tensor embed = torch::zeros({options.d_vocab, d});
  embed.index_put_({Slice(), Slice(block(0), block(0) + k)}, tokens);
  const torch::Tensor positions = torch::eye(d).narrow(0, 0, n_ctx);
  params["embed.W_E"].copy_(embed);
  params["pos_embed.W_pos"].copy_(positions);
  std::vector<torch::Tensor> rotations;  // R_0 .. R_hops: token -> buffer l
  for (int64_t l = 0; l <= options.hops; ++l) rotations.push_back(random_orthogonal(k, generator));
  // d x d map that reads block `from` and writes `matrix` into block `to`.
  auto map = [&](int64_t from, int64_t to, const torch::Tensor& matrix) {
    torch::Tensor out = torch::zeros({d, d});
    out.index_put_({Slice(block(from), block(from) + k), Slice(block(to), block(to) + k)}, matrix);
    return out;
  };
  auto outer = [](const torch::Tensor& a, const torch::Tensor& b) { return a.unsqueeze(1).matmul(b.unsqueeze(0)); };
  const torch::Tensor identity = torch::eye(d), eye_k = torch::eye(k);
  // W_QK of layer 0: the query of child 2i+1 is p_{2i+1}, the key of its parent p_{2i}.
  torch::Tensor pair = torch::zeros({d, d});
  for (int64_t i = 0; 2 * i + 1 < n_ctx; ++i) pair += outer(positions[2 * i + 1], positions[2 * i]);
  // Hop layers prefer child positions: every query holds one position vector, every child key p_{2i+1}.
  const torch::Tensor children = positions.index({Slice(1, torch::indexing::None, 2)}).sum(0);
  const torch::Tensor child_bonus = outer(positions.sum(0), children) / 3.0;
  for (int64_t l = 0; l <= options.hops; ++l) {
    const std::string prefix = "blocks." + std::to_string(l) + ".attn.";
    // Query: the token (l = 1) or buffer l - 1 read back through R_{l-1}^T; key: buffer 0 read
    // back through R_0^T; both land in token coordinates, where equal tokens have product ~1.
    const torch::Tensor qk =
        l == 0 ? pair
               : map(l == 1 ? 0 : l, 1, (l == 1 ? eye_k : rotations[size_t(l - 1)].t()).matmul(rotations[0])) +
                     child_bonus;
    params[prefix + "W_Q"][0].copy_(identity);
    params[prefix + "W_K"][0].copy_(qk.t() * options.sharpness * std::sqrt(double(d)));  // W_Q W_K^T = qk
    params[prefix + "W_V"][0].copy_(map(0, 1 + l, rotations[size_t(l)]));                // token -> buffer l
    params[prefix + "W_O"][0].copy_(identity);
  }
  // Unembedding: buffer `hops` rotated back to token coordinates, against every token.
  torch::Tensor readout = torch::zeros({d, k});
  readout.index_put_({Slice(block(1 + options.hops), block(1 + options.hops) + k), Slice()},
                     rotations[size_t(options.hops)].t());
  params["unembed.W_U"].copy_(readout.matmul(tokens.t()));
  return model;
}

}  // namespace mechlens
