#include "train/evaluation.h"

#include <fmt/format.h>
#include <torch/torch.h>

#include <algorithm>

#include "train/sequences.h"

namespace mechlens {

std::vector<std::string> example_groups(const Example& example) {
  std::vector<std::string> groups{"all", example.group};
  const auto order = example.annotations.find("order");
  if (order != example.annotations.end()) groups.push_back(fmt::format("{}/order{}", example.group, order->second[0]));
  return groups;
}

std::map<std::string, GroupMetrics> evaluate(HookedTransformer& model, const std::vector<Example>& examples,
                                             int64_t batch_size) {
  torch::NoGradGuard no_grad;
  const bool was_training = model->is_training();
  model->eval();
  std::map<std::string, GroupMetrics> sums;
  for (size_t start = 0; start < examples.size(); start += static_cast<size_t>(batch_size)) {
    const std::vector<Example> chunk(examples.begin() + start,
                                     examples.begin() + std::min(examples.size(), start + static_cast<size_t>(batch_size)));
    const TrainingBatch batch = make_training_batch(chunk);
    const torch::Tensor logits = model->forward(batch.tokens);  // [batch, T, d_vocab]
    const torch::Tensor answer_mask = batch.targets.ne(kIgnoreTarget);
    const torch::Tensor safe_targets = batch.targets.clamp_min(0);
    // Per-token loss and correctness on answer positions only.
    const torch::Tensor token_loss =
        -torch::log_softmax(logits, -1).gather(-1, safe_targets.unsqueeze(-1)).squeeze(-1) * answer_mask;
    const torch::Tensor correct = logits.argmax(-1).eq(safe_targets).logical_or(answer_mask.logical_not());
    const torch::Tensor example_loss = token_loss.sum(1) / answer_mask.sum(1);
    const torch::Tensor exact = correct.all(1);
    const torch::Tensor rows = torch::arange(static_cast<int64_t>(chunk.size()));
    const torch::Tensor first_correct = correct.index({rows, batch.first_answer});
    const auto loss_a = example_loss.accessor<float, 1>();
    const auto exact_a = exact.accessor<bool, 1>();
    const auto first_a = first_correct.accessor<bool, 1>();
    for (size_t i = 0; i < chunk.size(); ++i) {
      for (const auto& group : example_groups(chunk[i])) {
        GroupMetrics& m = sums[group];
        ++m.n;
        m.loss += loss_a[i];
        m.first_token_accuracy += first_a[i];
        m.exact_match += exact_a[i];
      }
    }
  }
  for (auto& [group, m] : sums) {
    m.loss /= static_cast<double>(m.n);
    m.first_token_accuracy /= static_cast<double>(m.n);
    m.exact_match /= static_cast<double>(m.n);
  }
  if (was_training) model->train();
  return sums;
}

std::vector<std::vector<int64_t>> greedy_decode(HookedTransformer& model, const std::vector<Example>& examples,
                                                int64_t max_new, int64_t eos) {
  torch::NoGradGuard no_grad;
  model->eval();
  std::vector<std::vector<int64_t>> sequences;
  for (const auto& e : examples) {
    std::vector<int64_t> sequence = e.prompt;
    for (int64_t step = 0; step < max_new && static_cast<int64_t>(sequence.size()) < model->config().n_ctx; ++step) {
      const torch::Tensor logits = model->forward(torch::tensor(sequence, torch::kLong).unsqueeze(0));
      const int64_t next = logits[0][-1].argmax().item<int64_t>();
      sequence.push_back(next);
      if (next == eos) break;
    }
    sequences.push_back(std::move(sequence));
  }
  return sequences;
}

}  // namespace mechlens
