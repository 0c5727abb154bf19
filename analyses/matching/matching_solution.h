// The matching paper's hand-built solution (Wang et al. 2024; the group's teaching figure) as a
// mechlens model, for tests and as a reference: one pair-fusion layer that makes each child position
// attend to its parent through positional vectors, then `hops` hop layers whose query matches a token
// carried in a "buffer" against a parent fused into layer 0's buffer, and whose value-output map
// copies the matched child's token into the next buffer. Our construction keeps each buffer in a
// subspace of its own (the paper's random near-orthogonal buffers, made exact so that the hops do not
// interfere): d_model = positions (n_ctx) + (hops + 2) blocks of `d_token` for the token, buffer 0
// (the fused parent) and buffers 1..hops (each hop's readout); every copy into a buffer is a seeded
// random orthogonal rotation R_l. Layers:
//   layer 0: child 2i+1 attends to parent 2i (positions); W_V W_O: token -> buffer 0 (R_0);
//   hop l: W_Q W_K^T: (token for l = 1, buffer l - 1 otherwise) -> buffer 0, plus a bonus for child
//     positions (position 0 can only attend to itself in layer 0, so its buffer 0 holds its own token
//     and would tie with the true match); W_V W_O: token -> buffer l (R_l);
//   unembedding: buffer `hops` read back through R_hops^T onto the token embeddings.
// Attention-only, one head of width d_model per layer, no norm, no biases. A model with `hops` hop
// layers answers a `hops`-hop single-chain query.
#pragma once

#include <cstdint>

#include "runtime/model.h"

namespace mechlens {

struct MatchingSolutionOptions {
  int64_t hops = 2;       // hop layers (the model has hops + 1 layers)
  int64_t d_token = 128;  // width of the token block and of each buffer
  int64_t d_vocab = 201;  // the matching task's vocabulary
  int64_t n_ctx = 16;
  double sharpness = 30;  // attention logit of a match (a miss is about 0)
  uint64_t seed = 0;
};

HookedTransformer build_matching_solution(const MatchingSolutionOptions& options = {});

}  // namespace mechlens
