// What `mechlens trace` reads: prompts with their answers (a task's, or token files), the task's
// named spans and annotations, and the source sets and destination the options select.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "cli/options.h"
#include "core/grouping.h"
#include "core/selection.h"
#include "runtime/model.h"
#include "tracing/knockout.h"
#include "tracing/trace_file.h"

namespace mechlens::cli {

/// The prompts (from --task or --tokens/--tokens-file), their answers, spans, annotations and
/// data groups, filled into `contents`; the task's name in `task_name` ("" for token files).
void load_trace_prompts(const po::variables_map& vm, HookedTransformer& model, TraceFileContents& contents,
                        std::string& task_name);

/// The checkpoint (checked against --task when one is given, in eval mode) and its prompts, read as
/// load_trace_prompts reads them.
HookedTransformer load_model_and_prompts(const po::variables_map& vm, TraceFileContents& contents,
                                         std::string& task_name);

/// --sources: a task's named spans, or positions (each a one-position span "pos P" in every prompt).
std::vector<PositionSpan> trace_sources(const std::string& text, const TraceFileContents& contents, bool from_task);

/// --dest: "answer" (each prompt's answer position), one named span, or one position. Returns the
/// destinations per prompt; `name` says which.
std::vector<std::pair<int64_t, int64_t>> trace_destinations(const std::string& text, const TraceFileContents& contents,
                                                            bool from_task, std::string& name);

/// One position per prompt (--at): "answer" (its answer position), a named span's first position, or a
/// position. long [batch]; `name` says which.
torch::Tensor position_per_prompt(const std::string& text, const TraceFileContents& contents, bool from_task,
                                  std::string& name);

/// A per-prompt variable as class codes 0..k-1 (long [batch]), `values` receiving what each code
/// stands for: an annotation with one value per prompt (NAME), one column of one (NAME[c]), or the
/// data group ("group"). Throws UsageError starting with `option` for unknown names, columns out of
/// range and variables with one value.
torch::Tensor prompt_variable(const std::string& text, const std::string& option, const TraceFileContents& contents,
                              std::vector<std::string>& values);

/// --group-by NAME: "group" (the task's data group) or an annotation with one value per prompt.
std::optional<PromptGroups> trace_groups(const po::variables_map& vm, const TraceFileContents& contents);

}  // namespace mechlens::cli
