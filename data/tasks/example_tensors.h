// Examples as tensors: prompts (optionally followed by their answers) right-padded into [N, T],
// lengths, and each annotation stacked into [N, ...].
#pragma once

#include <ATen/core/Tensor.h>

#include <string>
#include <utility>
#include <vector>

#include "tasks/task.h"

namespace mechlens {

struct ExampleTensors {
  torch::Tensor tokens;                                            // [N, T] int64, right-padded with 0
  torch::Tensor lengths;                                           // [N] int64
  std::vector<std::pair<std::string, torch::Tensor>> annotations;  // name -> [N, k] int64
};

/// `with_answers`: each row is prompt + answer (for teacher forcing); otherwise the prompt only.
ExampleTensors to_tensors(const std::vector<Example>& examples, bool with_answers);

}  // namespace mechlens
