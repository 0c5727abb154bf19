// Aggregate attention views (Abnar & Zuidema 2020, "Quantifying Attention Flow in Transformers"):
// each layer's attention averaged over heads, with the residual connection as the identity,
// A~_l = rows normalised (mean_h A_l + I) = 0.5 mean_h A_l + 0.5 I. Rollout multiplies them:
// J_l = A~_l J_{l-1}; attention flow treats A~ as capacities of a layered graph and takes the
// maximum flow from an output position to each input position (Edmonds-Karp), normalised per
// output. Both read patterns [layer, head, dest, src] of one prompt.
#pragma once

#include <torch/types.h>  // torch::Tensor

#include <cstdint>

namespace mechlens {

/// Rollout after every layer: float [layer, dest, src]; row t of layer l sums to 1.
torch::Tensor attention_rollout(const torch::Tensor& patterns);

/// Attention flow from position `dest` of the last layer to every input position: float [src]
/// summing to 1. Cost grows as max-flows over a (layers + 1) x positions graph: refused beyond
/// `max_positions` (InputError) so that a long prompt does not run for hours unasked.
torch::Tensor attention_flow(const torch::Tensor& patterns, int64_t dest, int64_t max_positions = 128);

}  // namespace mechlens
