// Weight initialisation with the matching paper's "initialisation rate" gamma (Wang et al. 2024):
// normal with std = fan_in^-gamma, or uniform on +-(6/fan_in)^gamma; seeded and deterministic.
#pragma once

#include <torch/nn/module.h>

#include "runtime/config.h"

namespace mechlens {

/// Re-initialises every parameter of `model` (built from `config`) from config.seed.
void init_weights(torch::nn::Module& model, const ModelConfig& config);

/// The fan-in the initialisation uses for a TransformerLens parameter name ("blocks.0.attn.W_Q").
int64_t init_fan_in(const std::string& name, const ModelConfig& config);

}  // namespace mechlens
