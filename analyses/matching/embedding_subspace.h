// Which directions a matching model's trained embeddings occupy, and how much of other tokens' rows
// lies there. A hop layer matches what enters inside the subspace that the trained (in-distribution)
// rows of W_E span and not outside it (docs/MATCHING.md, "Scale and subspace"), so the share of an
// unseen token's row in that subspace bounds how well the circuit can transfer to it. Definition (ours):
// the subspace is spanned by the top right singular vectors of the reference rows that hold `energy` of
// their squared norm; a row's share is |P e|^2 / |e|^2 with P the projector onto it (a random direction
// has dims / d_model in expectation).
#pragma once

#include <torch/types.h>  // torch::Tensor

#include <cstdint>
#include <vector>

namespace mechlens {

struct EmbeddingSubspace {
  int64_t dims = 0;  // k: directions holding `energy` of the reference rows' squared norm
  int64_t d_model = 0;
  double energy = 0;    // the requested share
  torch::Tensor share;  // double [scored token]: |P e_t|^2 / |e_t|^2
};

/// embed [vocab, d_model] (W_E). Throws InputError for an empty reference set, ids outside the
/// vocabulary (naming the first one), energy outside (0, 1], or a scored row of norm zero.
EmbeddingSubspace embedding_subspace(const torch::Tensor& embed, const std::vector<int64_t>& reference,
                                     const std::vector<int64_t>& scored, double energy = 0.9);

}  // namespace mechlens
