// Knocking whole attention heads out of every forward pass, to test whether a circuit is necessary:
// `eval --ablate L1H2,L2H0` and `run --ablate ...`. A head's output (hook_z) is replaced by zero,
// or by its mean over a set of prompts. The mean is taken over prompts *and* positions, one d_head
// vector per head (our choice: it does not depend on the position, so it applies unchanged to
// teacher-forced sequences of any length and to token-by-token decoding with a KV cache).
#pragma once

#include <torch/types.h>  // torch::Tensor

#include <cstdint>
#include <string>
#include <vector>

#include "hooks/hook_point.h"
#include "runtime/model.h"

namespace mechlens {

struct HeadRef {
  int64_t layer = 0, head = 0;
};

/// "L1H2", "L0H0,L2H1", "L1H*" (every head of layer 1). Throws InputError naming the bad part, or
/// the model's layer and head ranges.
std::vector<HeadRef> parse_heads(const std::string& text, const ModelConfig& config);
std::string format_heads(const std::vector<HeadRef>& heads);  // "L0H0,L2H1"

enum class HeadAblation { kZero, kMean };
HeadAblation parse_head_ablation(const std::string& text);  // zero | mean

/// Mean hook_z of each listed head over `tokens` [batch, pos] (positions < lengths[b] only):
/// [heads, d_head], in the order of `heads`.
torch::Tensor mean_head_outputs(HookedTransformer& model, const std::vector<HeadRef>& heads,
                                const torch::Tensor& tokens, const torch::Tensor& lengths);

/// Installs the ablation on every later forward until the returned scope ends. `means` from
/// mean_head_outputs (mean ablation only).
HookScope ablate_heads(HookedTransformer& model, const std::vector<HeadRef>& heads, HeadAblation kind,
                       const torch::Tensor& means = {});

}  // namespace mechlens
