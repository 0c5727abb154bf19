// Training sequences: each example's prompt followed by its answer, with next-token targets only where
// the model must produce the answer (the label position for matching, every proof token for logic).
#pragma once

#include <ATen/core/Tensor.h>

#include <vector>

#include "tasks/task.h"

namespace mechlens {

inline constexpr int64_t kIgnoreTarget = -100;

struct TrainingBatch {
  torch::Tensor tokens;        // [batch, T] prompt + answer, right-padded with 0
  torch::Tensor targets;       // [batch, T] next token where it is an answer token, else kIgnoreTarget
  torch::Tensor first_answer;  // [batch] position whose prediction is the first answer token
};

TrainingBatch make_training_batch(const std::vector<Example>& examples);

}  // namespace mechlens
