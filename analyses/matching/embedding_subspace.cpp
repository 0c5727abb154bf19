#include "matching/embedding_subspace.h"

#include <torch/torch.h>

#include "util/error.h"

namespace mechlens {
namespace {

torch::Tensor rows_of(const torch::Tensor& embed, const std::vector<int64_t>& ids, const char* what) {
  MECHLENS_CHECK(InputError, !ids.empty(), "the {} token set is empty", what);
  for (const int64_t id : ids) {
    MECHLENS_CHECK(InputError, id >= 0 && id < embed.size(0), "{} token {} is outside the vocabulary (0..{})", what, id,
                   embed.size(0) - 1);
  }
  return embed.index_select(0, torch::tensor(ids, torch::kLong));
}

}  // namespace

EmbeddingSubspace embedding_subspace(const torch::Tensor& embed, const std::vector<int64_t>& reference,
                                     const std::vector<int64_t>& scored, double energy) {
  MECHLENS_CHECK(InputError, embed.dim() == 2, "W_E must be [vocab, d_model]");
  MECHLENS_CHECK(InputError, energy > 0 && energy <= 1, "the subspace's energy share {} is not in (0, 1]", energy);
  torch::NoGradGuard no_grad;
  const torch::Tensor e = embed.detach().to(torch::kCPU, torch::kFloat64);
  const torch::Tensor ref = rows_of(e, reference, "reference");                    // [n_ref, d]
  const torch::Tensor rows = rows_of(e, scored, "scored");                         // [n, d]
  const auto [u, singular, vh] = torch::linalg_svd(ref, /*full_matrices=*/false);  // vh: [min(n_ref, d), d]
  const torch::Tensor cumulative = (singular.square().cumsum(0) / singular.square().sum()).contiguous();
  // The fewest directions whose share reaches `energy` (the last one absorbs rounding at energy = 1).
  int64_t dims = 1;
  while (dims < cumulative.size(0) && cumulative[dims - 1].item<double>() < energy - 1e-12) ++dims;
  const torch::Tensor basis = vh.narrow(0, 0, dims);  // [k, d], orthonormal rows
  const torch::Tensor norms = rows.square().sum(-1);  // [n]
  const int64_t smallest = norms.argmin().item<int64_t>();
  MECHLENS_CHECK(InputError, norms[smallest].item<double>() > 0, "token {}'s row of W_E is zero",
                 scored[size_t(smallest)]);
  EmbeddingSubspace out;
  out.dims = dims;
  out.d_model = e.size(1);
  out.energy = energy;
  out.share = rows.matmul(basis.t()).square().sum(-1) / norms;
  return out;
}

}  // namespace mechlens
