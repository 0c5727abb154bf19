// Runs a model over a prompt set batch by batch and streams the selected hooks (with position and
// head selections applied) into a RecordWriter, with a progress bar on stderr.
#pragma once

#include <torch/types.h>  // torch::Tensor

#include <functional>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "runtime/model.h"
#include "store/record_schema.h"
#include "store/record_writer.h"
#include "util/prompt_set.h"

namespace mechlens {

/// Builds a PromptSet from token-id prompts of any lengths.
PromptSet make_prompt_set(const std::vector<std::vector<int64_t>>& prompts);

/// Hash of the token ids, lengths and annotations: identifies the input of a record.
std::string prompt_set_sha256(const PromptSet& prompts);

/// Absolute positions [N, P] that `settings.positions` keeps for each prompt, or undefined for all.
/// Throws InputError when a prompt is too short or prompts would keep different counts.
torch::Tensor resolve_positions(const std::string& spec, const torch::Tensor& lengths);
/// Positions per prompt [N][K] as the [N, K] int64 tensor a record stores.
torch::Tensor positions_tensor(const std::vector<std::vector<int64_t>>& per_prompt);

/// Dimension names of each recorded hook (TransformerLens order, batch first).
std::map<std::string, std::vector<std::string>> recorded_dims(const HookedTransformer& model,
                                                              const std::vector<std::string>& hooks);

/// Records prompts [writer.n_written(), N) in batches of settings.batch_size.
void record_activations(HookedTransformer& model, const PromptSet& prompts, const RecordSettings& settings,
                        RecordWriter& writer, bool show_progress);
/// As above, telling `rows_done` how many prompts each batch recorded (instead of a progress bar).
void record_activations(HookedTransformer& model, const PromptSet& prompts, const RecordSettings& settings,
                        RecordWriter& writer, const std::function<void(int64_t rows)>& rows_done);

}  // namespace mechlens
