// Activations at one position per prompt: what probes, steering directions and the logit lens read.
#pragma once

#include <torch/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "runtime/model.h"

namespace mechlens {

/// For each hook in `names` (hooks of the blocks whose axis 1 is the position: resid, z, q/k/v, mlp),
/// its activation at positions[b] of every prompt b: [batch, ...the hook's other axes], on the CPU.
/// Forwards of up to max_batch prompts, each stopping after `stop_at_layer` layers (-1: all layers;
/// the unembedding never runs).
std::vector<torch::Tensor> activations_at(HookedTransformer& model, const torch::Tensor& tokens,
                                          const torch::Tensor& positions, const std::vector<std::string>& names,
                                          int64_t max_batch, int64_t stop_at_layer = -1);

/// The residual stream's stages: entering every layer (blocks.l.hook_resid_pre), then after the last
/// (hook_resid_post of the last block); n_layers + 1 names.
std::vector<std::string> residual_stage_hooks(int64_t n_layers);

}  // namespace mechlens
