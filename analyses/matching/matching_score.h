// Matching-mechanism scores (Wang et al. 2024, "multi-step reasoning with matching operation"): a
// hop layer l matches the query, a token embedding carried forward through the value-output maps,
// against keys that hold a parent's embedding through layer 0's value-output map. From weights alone:
//   W_QK(l, h) = W_Q[h] W_K[kv(h)]^T and W_VO(l, h) = W_V[kv(h)] W_O[h] (d_model x d_model);
//   E = the embeddings of a token set, as layer 0's norm returns them (or raw; with or without the
//     mean positional embedding);
//   M(l) = X_l W_QK(l) (E W_VO(0))^T over the token set, X_1 = E, X_l = E W_VO(l - 1) for l >= 2
//     (W_VO of a layer summed over its heads where a layer has several); or, where the query node is
//     not the last token and reaches the query position through layer 0 (a hop count after the start
//     node), X_1 = E W_VO(0) ("moved" queries); where a setup layer comes first, the pair-fusion
//     layer F > 0 replaces layer 0 throughout (keys E W_VO(F), hop layers F + 1.., X_{F+1} = E or
//     E W_VO(F));
//   score S(l) = mean over tokens of the row-softmax diagonal of M(l) / sqrt(d_head), and the top-1
//     hit rate (the row's maximum is its own token);
//   kernel score of K(l) = X-map W_QK(l) W_VO(0)^T (the d_model x d_model matrix between the
//     embeddings in M(l)): (tr K)^2 / (d_model ||K||_F^2), 1 exactly when K is a multiple of the
//     identity, about 1/d_model for a random K.
// The paper does not give its normalisation; these are the project's reconstruction (docs/MATCHING.md),
// every choice an option, and the result says which were used.
#pragma once

#include <torch/types.h>  // torch::Tensor

#include <cstdint>
#include <string>
#include <vector>

#include "runtime/model.h"

namespace mechlens {

/// The d_model x d_model products of one head: W_Q W_K^T and W_V W_O.
torch::Tensor qk_product(HookedTransformer& model, int64_t layer, int64_t head);
torch::Tensor vo_product(HookedTransformer& model, int64_t layer, int64_t head);

struct MatchingOptions {
  std::vector<int64_t> tokens;  // the token set (ids); empty: every token of the model
  bool normalised = true;       // apply layer 0's norm to the embeddings (models without one: raw)
  bool positional = false;      // add the mean positional embedding to every token's
  bool moved_queries = false;   // X_1 = E W_VO(0) instead of E (the query moved by layer 0)
  int64_t fusion_layer = 0;     // the layer whose value-output map writes the keys; hop layers follow it
};

struct MatchingScores {
  std::vector<int64_t> layers;  // hop layers fusion_layer + 1..n_layers - 1
  torch::Tensor matrix;         // float [layer, head, token, token]: M(l) per query head
  torch::Tensor score;          // float [layer, head]
  torch::Tensor top1;           // float [layer, head]
  torch::Tensor kernel_score;   // float [layer, head]
  std::vector<int64_t> tokens;
  std::string embeddings;  // "layer-0 norm" or "raw", "+ mean position"
  std::string queries;     // the first hop layer's query: "X_{F+1} = E" or "X_{F+1} = E W_VO(F)", F = fusion_layer
};

/// Throws InputError for a model with fewer than 2 layers, a fusion layer without a hop layer after it,
/// or token ids outside the vocabulary (naming the first one).
MatchingScores matching_scores(HookedTransformer& model, const MatchingOptions& options = {});

/// (tr K)^2 / (n ||K||_F^2) for a square K: 1 iff K = c I (c != 0); 0 for K = 0.
double identity_kernel_score(const torch::Tensor& kernel);

}  // namespace mechlens
