// `mechlens steer --decode`: the steering intervention held during greedy decoding, so that its effect
// on the whole generated answer (the logic task's proof) is seen, not only on the first token.
#pragma once

#include <torch/types.h>

#include "cli/task_input.h"
#include "heads/steering.h"
#include "runtime/model.h"

namespace mechlens::cli {

struct SteeredDecoding {
  torch::Tensor own_answer;             // [alpha, batch]: 1 where the generated answer is the prompt's own
  torch::Tensor counterfactual_answer;  // [alpha, batch]: 1 where it is the counterfactual prompt's answer
  torch::Tensor own_prefix;             // [alpha, batch]: leading tokens that agree with the own answer
  torch::Tensor counterfactual_prefix;  // [alpha, batch]: ... with the counterfactual's answer
  torch::Tensor tokens;                 // [alpha, batch, longest]: generated tokens, -1 after the end
};

/// Greedy decoding of every prompt of `generated` (made with pairs) for each alpha of `options`, with
/// alpha · direction added at blocks.{layer}.hook_resid_pre at each prompt's steered position.
SteeredDecoding decode_steered(HookedTransformer& model, const TaskPrompts& generated, const torch::Tensor& direction,
                               const SteeringOptions& options);

}  // namespace mechlens::cli
