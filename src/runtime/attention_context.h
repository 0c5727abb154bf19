// What every attention layer of one forward pass shares: the mask and the rotary angles.
// Built once per forward by the model (runtime/model.cpp), not once per layer.
#pragma once

#include <torch/types.h>  // torch::Tensor

namespace mechlens {

/// Keys and values of earlier positions for one layer (k after rotary, before GQA repetition):
/// [batch, past_pos, kv_head, d_head]. A forward given these computes only the later positions.
struct KeyValues {
  torch::Tensor k;
  torch::Tensor v;
};

struct AttentionContext {
  torch::Tensor score_mask;    // float [batch or 1, 1, q_pos, k_pos]: -inf where a query may not look,
                               // else 0 (k_pos = past_pos + q_pos when earlier keys are given)
  torch::Tensor query_is_pad;  // bool [batch, 1, q_pos, 1], or undefined when nothing is padded
  torch::Tensor rotary_cos;    // [batch or 1, pos, 1, rotary_dim], or undefined without rotary
  torch::Tensor rotary_sin;    // same shape as rotary_cos
};

}  // namespace mechlens
