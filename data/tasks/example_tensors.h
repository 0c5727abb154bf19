// Examples as tensors: prompts (optionally followed by their answers) right-padded into [N, T],
// lengths, and each annotation stacked into [N, ...].
#pragma once

#include <ATen/core/Tensor.h>

#include <string>
#include <utility>
#include <vector>

#include "tasks/task.h"
#include "util/prompt_set.h"

namespace mechlens {

/// `with_answers`: each row is prompt + answer (for teacher forcing); otherwise the prompt only.
PromptSet to_tensors(const std::vector<Example>& examples, bool with_answers);

}  // namespace mechlens
