#include "tasks/example_tensors.h"

#include <torch/torch.h>

#include <algorithm>

#include "util/error.h"

namespace mechlens {

PromptSet to_tensors(const std::vector<Example>& examples, bool with_answers) {
  MECHLENS_CHECK(InputError, !examples.empty(), "no examples");
  const auto n = static_cast<int64_t>(examples.size());
  size_t width = 0;
  for (const auto& e : examples) width = std::max(width, e.prompt.size() + (with_answers ? e.answer.size() : 0));
  PromptSet out;
  out.tokens = torch::zeros({n, static_cast<int64_t>(width)}, torch::kLong);
  out.lengths = torch::empty({n}, torch::kLong);
  auto tokens = out.tokens.accessor<int64_t, 2>();
  auto lengths = out.lengths.accessor<int64_t, 1>();
  for (int64_t i = 0; i < n; ++i) {
    std::vector<int64_t> row = examples[i].prompt;
    if (with_answers) row.insert(row.end(), examples[i].answer.begin(), examples[i].answer.end());
    lengths[i] = static_cast<int64_t>(row.size());
    for (size_t j = 0; j < row.size(); ++j) tokens[i][j] = row[j];
  }
  for (const auto& [name, first] : examples.front().annotations) {
    torch::Tensor stacked = torch::empty({n, static_cast<int64_t>(first.size())}, torch::kLong);
    auto rows = stacked.accessor<int64_t, 2>();
    for (int64_t i = 0; i < n; ++i) {
      const auto& values = examples[i].annotations.at(name);
      MECHLENS_CHECK(InputError, values.size() == first.size(),
                     "annotation '{}' has {} values in example {} but {} in "
                     "example 0",
                     name, values.size(), i, first.size());
      for (size_t j = 0; j < values.size(); ++j) rows[i][j] = values[j];
    }
    out.annotations.emplace_back(name, stacked);
  }
  return out;
}

}  // namespace mechlens
