// Task-generated prompts for the subcommands: --task NAME [--task-option key=value ...] --n N --seed S.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "cli/options.h"
#include "core/grouping.h"
#include "core/selection.h"
#include "patching/metrics.h"
#include "store/recorder.h"
#include "tasks/task.h"

namespace mechlens::cli {

void add_task_options(po::options_description& options);

/// Throws UsageError when --n, --seed, --task-option or --pairs were given without --task (they would
/// otherwise be silently ignored). `seed_used_elsewhere`: the command also uses --seed without a task.
void refuse_task_options_without_task(const po::variables_map& vm, bool seed_used_elsewhere = false);

/// Throws UsageError when the checkpoint's metadata records that it was trained on another task than
/// `task_name` (its token ids would mean nothing to this task's vocabulary). Silent when unrecorded.
void check_checkpoint_task(const std::string& checkpoint, const std::string& task_name);

struct TaskPrompts {
  std::unique_ptr<Task> task;
  std::vector<Example> examples;
  std::vector<Example> counterfactuals;  // empty unless pairs were asked for
  PromptSet prompts;                     // prompts only, annotations attached
};

/// Generates the examples named by the task options and `extra_task_options` (key=value, after
/// --task-option's), with counterfactual pairs when `pairs`: their corrupted prompts go into the
/// annotations "corrupt_tokens" and "corrupt_answer".
TaskPrompts generate_task_prompts(const po::variables_map& vm, bool pairs,
                                  const std::vector<std::string>& extra_task_options = {});

/// Patching inputs from generated pairs (generate_task_prompts with `pairs`): the prompts and their
/// counterfactuals (equal lengths), each answer's first token, and the last position as the answer's.
PatchingInputs task_pair_inputs(const TaskPrompts& generated);

/// Token strings for outputs: those of `task_name` when prompts come from a task (empty: none), else
/// those of the task the checkpoint's metadata records; empty when neither is known.
std::vector<std::string> known_vocab(const std::string& checkpoint, const std::string& task_name);

/// Every named span of the task (Task::span_names), at each example's positions.
std::vector<PositionSpan> task_spans(const Task& task, const std::vector<Example>& examples);

/// `--group-by NAME`: the task's data group ("group", from `data_groups`), or an annotation with one
/// value per prompt. nullopt without the option; InputError naming the annotations there are.
std::optional<PromptGroups> prompt_groups_option(const po::variables_map& vm,
                                                 const std::vector<std::pair<std::string, torch::Tensor>>& annotations,
                                                 const std::vector<std::string>& data_groups);

}  // namespace mechlens::cli
