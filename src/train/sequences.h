// Training sequences: each example's prompt followed by its answer, with next-token targets only where
// the model must produce the answer (the label position for matching, every proof token for logic).
#pragma once

#include <torch/types.h>  // torch::Tensor

#include <vector>

#include "tasks/task.h"

namespace mechlens {

inline constexpr int64_t kIgnoreTarget = -100;

struct TrainingBatch {
  torch::Tensor tokens;        // [batch, T] prompt + answer, right-padded with 0
  torch::Tensor targets;       // [batch, T] next token where it is an answer token, else kIgnoreTarget
  torch::Tensor first_answer;  // [batch] position whose prediction is the first answer token
  // The same targets gathered per row, so the loss needs logits at these positions only:
  torch::Tensor loss_positions;  // [batch, n] positions with a target (padded by repeating the last)
  torch::Tensor loss_targets;    // [batch, n] their targets, kIgnoreTarget in the padding
};

TrainingBatch make_training_batch(const std::vector<Example>& examples);

}  // namespace mechlens
