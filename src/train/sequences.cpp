#include "train/sequences.h"

#include <torch/torch.h>

#include <algorithm>

namespace mechlens {

TrainingBatch make_training_batch(const std::vector<Example>& examples) {
  const auto n = static_cast<int64_t>(examples.size());
  size_t width = 0, most_answers = 1;
  for (const auto& e : examples) {
    width = std::max(width, e.prompt.size() + e.answer.size());
    most_answers = std::max(most_answers, e.answer.size());
  }
  const auto n_loss = static_cast<int64_t>(most_answers);
  TrainingBatch batch;
  batch.tokens = torch::zeros({n, static_cast<int64_t>(width)}, torch::kLong);
  batch.targets = torch::full({n, static_cast<int64_t>(width)}, kIgnoreTarget, torch::kLong);
  batch.first_answer = torch::empty({n}, torch::kLong);
  auto tokens = batch.tokens.accessor<int64_t, 2>();
  auto targets = batch.targets.accessor<int64_t, 2>();
  batch.loss_positions = torch::empty({n, n_loss}, torch::kLong);
  batch.loss_targets = torch::full({n, n_loss}, kIgnoreTarget, torch::kLong);
  auto first = batch.first_answer.accessor<int64_t, 1>();
  auto loss_positions = batch.loss_positions.accessor<int64_t, 2>();
  auto loss_targets = batch.loss_targets.accessor<int64_t, 2>();
  for (int64_t i = 0; i < n; ++i) {
    const auto& e = examples[i];
    const auto prompt_len = static_cast<int64_t>(e.prompt.size());
    for (int64_t j = 0; j < prompt_len; ++j) tokens[i][j] = e.prompt[j];
    for (size_t j = 0; j < e.answer.size(); ++j) {
      tokens[i][prompt_len + static_cast<int64_t>(j)] = e.answer[j];
      // Position p predicts token p + 1: the last prompt token predicts answer[0], and so on.
      targets[i][prompt_len - 1 + static_cast<int64_t>(j)] = e.answer[j];
      loss_targets[i][static_cast<int64_t>(j)] = e.answer[j];
    }
    for (int64_t j = 0; j < n_loss; ++j) {
      const int64_t answer_index = std::min<int64_t>(j, std::max<int64_t>(int64_t(e.answer.size()) - 1, 0));
      loss_positions[i][j] = prompt_len - 1 + answer_index;
    }
    first[i] = prompt_len - 1;
  }
  return batch;
}

}  // namespace mechlens
