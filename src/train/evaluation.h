// Per-group evaluation on held-out examples: loss on answer tokens, first-answer-token accuracy, and
// exact-match accuracy of the whole answer. Exact match is computed teacher-forced: a greedy decode
// reproduces the answer exactly iff every teacher-forced argmax is correct, so the two are equal.
#pragma once

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "runtime/model.h"
#include "tasks/task.h"

namespace mechlens {

struct GroupMetrics {
  int64_t n = 0;
  double loss = 0.0;
  double first_token_accuracy = 0.0;
  double exact_match = 0.0;
};

/// The groups an example counts in: "all", its own group, and "<group>/order<k>" when annotated.
std::vector<std::string> example_groups(const Example& example);

/// Metrics per example group ("train"/"test"/"ood", "logop"/"linear"), plus "order{k}" groups for
/// examples with an "order" annotation, and "all".
std::map<std::string, GroupMetrics> evaluate(HookedTransformer& model, const std::vector<Example>& examples,
                                             int64_t batch_size = 512);

/// The metrics as a text table, one row per group.
std::string format_metrics(const std::map<std::string, GroupMetrics>& metrics);

/// Hooks for the forward that reads the prompts of `rows` (indices into the examples decoded together,
/// row r of the batch is examples[rows[r]]): interventions at prompt positions, such as steering. They
/// act on the prompt's positions only, so with cached keys and values they run on the first step.
using PromptHooks = std::function<std::vector<NamedHook>(const std::vector<size_t>& rows)>;

/// Greedy decoding of each prompt until EOS (or `max_new` tokens): [prompt + generated] per example.
/// Prompts of equal length decode as one batch with cached keys and values; `progress`: a bar on stderr.
std::vector<std::vector<int64_t>> greedy_decode(HookedTransformer& model, const std::vector<Example>& examples,
                                                int64_t max_new, int64_t eos, bool progress = false,
                                                const PromptHooks& prompt_hooks = {});

/// Whether `decoded` (prompt + generated, from greedy_decode) is `prompt` followed by exactly `answer`.
/// Without an end token (eos < 0) decoding runs on, so only the answer's length is compared.
bool decoded_answer_is(const std::vector<int64_t>& decoded, const std::vector<int64_t>& prompt,
                       const std::vector<int64_t>& answer, int64_t eos);

}  // namespace mechlens
