#include "tasks/task.h"

namespace mechlens {

std::vector<Example> generate_examples(const Task& task, int64_t n, uint64_t seed, int64_t first_index) {
  std::vector<Example> examples;
  examples.reserve(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    Rng rng = Rng::for_item(seed, static_cast<uint64_t>(first_index + i));
    examples.push_back(task.sample(rng));
  }
  return examples;
}

std::vector<Example> generate_counterfactuals(const Task& task, const std::vector<Example>& clean, uint64_t seed) {
  std::vector<Example> corrupt;
  corrupt.reserve(clean.size());
  for (size_t i = 0; i < clean.size(); ++i) {
    // A stream apart from the clean examples' (which use item indices 0..n-1 of `seed`).
    Rng rng = Rng::for_item(~seed, static_cast<uint64_t>(i));
    corrupt.push_back(task.counterfactual(clean[i], rng));
  }
  return corrupt;
}

}  // namespace mechlens
