// What `mechlens train` and `mechlens sweep` share: the optimiser and schedule options (one
// definition, one validation), the held-out evaluation sets and the matching-score log columns.
#pragma once

#include <string>
#include <vector>

#include "cli/options.h"
#include "runtime/config.h"
#include "train/trainer.h"

namespace mechlens::cli {

/// Adds --steps, --batch, --lr, --min-lr, --warmup, --weight-decay, --grad-clip, --eval-every,
/// --eval-n, --checkpoint-every and --quiet, with the given defaults.
void add_training_options(po::options_description& options, const TrainSettings& defaults, int64_t eval_n);

/// The settings those options give (out, log, seed and metadata left to the caller); throws
/// UsageError naming the option that is out of range.
TrainSettings training_settings(const po::variables_map& vm);

/// Held-out examples: for matching one set per split (train, test, ood, and ood_decoy where the orders
/// leave room for a decoy edge), for other tasks one set.
std::vector<Example> evaluation_examples(const std::string& task_name, const std::vector<std::string>& task_options,
                                         int64_t n, uint64_t seed);

/// Warns on stderr when a matching task mixes hop counts in a layout whose prompt does not say which
/// one is asked (single_chain ends with the start node only): the answer is then ambiguous.
void warn_if_hop_count_unstated(const Task& task);

/// For a model trained on the matching task: the matching score of every hop layer's best head over
/// the task's in-distribution node ids (1..99, or 1..100 with ranges=full) as log columns
/// match_score_L1..; no columns for other tasks.
ExtraMetrics matching_score_metrics(const Task& task, const ModelConfig& config);

}  // namespace mechlens::cli
