// Synthetic reasoning tasks: each generates examples (prompt tokens, answer tokens, annotations)
// deterministically from a seed, renders them readably, and builds counterfactual pairs.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "tasks/rng.h"

namespace mechlens {

struct Example {
  std::vector<int64_t> prompt;  // what the model reads; it predicts answer[0] at the last position
  std::vector<int64_t> answer;  // target tokens (teacher forcing continues the prompt with them)
  std::string group;            // e.g. "train", "test", "ood", "order2", "logop", "linear"
  /// Named integer annotations, each of a fixed length for a given task configuration.
  std::map<std::string, std::vector<int64_t>> annotations;
};

class Task {
 public:
  virtual ~Task() = default;
  virtual std::string name() const = 0;
  /// JSON of the task's settings, stored with generated data.
  virtual std::string settings_json() const = 0;
  virtual int64_t vocab_size() const = 0;
  /// A readable, distinct string per token id [vocab_size] (written into output files as `vocab`,
  /// used to label positions and decode predictions).
  virtual std::vector<std::string> token_strings() const = 0;
  /// Longest prompt + answer the task produces (a model's n_ctx must cover it to train on it).
  virtual int64_t max_sequence_length() const = 0;
  virtual Example sample(Rng& rng) const = 0;
  /// The same problem with one input changed so that the answer changes (same prompt length).
  virtual Example counterfactual(const Example& clean, Rng& rng) const = 0;
  /// The name of what counterfactual() changes ("query-flip", "fact-flip", "query-node").
  virtual std::string counterfactual_kind() const = 0;
  /// The token that ends every answer (greedy decoding stops there), or -1 when answers have none.
  virtual int64_t end_token() const { return -1; }
  /// A human-readable rendering ("Y implies G. X implies J. ... Query F." / "13->72 72->12 ...").
  virtual std::string render(const Example& example) const = 0;
  /// Dimension names of each annotation (after the example dimension).
  virtual std::map<std::string, std::vector<std::string>> annotation_dims() const = 0;
  /// Names of the prompt regions an analysis can address by name (e.g. "query", "queried_rule"),
  /// fixed for a task configuration; span_positions() gives their [begin, end) token positions in one
  /// example, in this order (begin == end where an example lacks the region).
  virtual std::vector<std::string> span_names() const = 0;
  virtual std::vector<std::pair<int64_t, int64_t>> span_positions(const Example& example) const = 0;
};

/// Examples first_index .. first_index + n - 1 of the stream seeded with `seed`: example i depends
/// only on (seed, i), so any prefix or window of a run is reproducible on its own.
std::vector<Example> generate_examples(const Task& task, int64_t n, uint64_t seed, int64_t first_index = 0);

/// Counterfactual partner of each example, with its own deterministic stream.
std::vector<Example> generate_counterfactuals(const Task& task, const std::vector<Example>& clean, uint64_t seed);

}  // namespace mechlens
