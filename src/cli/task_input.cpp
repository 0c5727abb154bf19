#include "cli/task_input.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "cli/command.h"
#include "io/safetensors.h"
#include "tasks/example_tensors.h"
#include "tasks/task_factory.h"

namespace mechlens::cli {

void add_task_options(po::options_description& options) {
  // clang-format off
  options.add_options()
      ("task", po::value<std::string>(), "generate prompts with a task: matching or logic")
      ("task-option", po::value<std::vector<std::string>>()->composing(),
       "task setting key=value (matching: layout, split, orders, seq_len; logic: depth, logop_share, operator)")
      ("n", po::value<int64_t>()->default_value(1000), "number of task examples")
      ("seed", po::value<int64_t>()->default_value(0), "task generation seed");
  // clang-format on
}

void refuse_task_options_without_task(const po::variables_map& vm, bool seed_used_elsewhere) {
  if (vm.count("task")) return;
  for (const char* option : {"n", "seed", "task-option", "pairs"}) {
    if (seed_used_elsewhere && std::string(option) == "seed") continue;
    if (vm.count(option) && !vm[option].defaulted()) {
      throw UsageError{fmt::format("--{} applies to task prompts only; add --task NAME or drop --{}", option, option)};
    }
  }
}

void check_checkpoint_task(const std::string& checkpoint, const std::string& task_name) {
  const auto metadata = read_safetensors_metadata(checkpoint);
  const auto recorded = metadata.find("task");
  if (recorded == metadata.end()) return;
  std::string trained;
  try {
    trained = nlohmann::json::parse(recorded->second).value("task", "");
  } catch (const nlohmann::json::exception&) {
    return;  // not a task record this version wrote
  }
  if (!trained.empty() && trained != task_name) {
    throw UsageError{
        fmt::format("--task {}: {} was trained on the {} task (its metadata records task={}); use --task {}", task_name,
                    checkpoint, trained, trained, trained)};
  }
}

TaskPrompts generate_task_prompts(const po::variables_map& vm, bool pairs) {
  TaskPrompts out;
  std::vector<std::string> task_options;
  if (vm.count("task-option")) task_options = vm["task-option"].as<std::vector<std::string>>();
  out.task = make_task(vm["task"].as<std::string>(), task_options);
  const int64_t n = vm["n"].as<int64_t>();
  const int64_t seed = vm["seed"].as<int64_t>();
  // Bounded before anything is allocated: every example holds a sequence and its annotations.
  constexpr int64_t kMaxExamples = 10'000'000;
  if (n < 1 || n > kMaxExamples) throw UsageError{fmt::format("--n is {}, expected 1..{}", n, kMaxExamples)};
  if (seed < 0) throw UsageError{"--seed must be >= 0"};
  out.examples = generate_examples(*out.task, n, static_cast<uint64_t>(seed));
  out.prompts = to_tensors(out.examples, /*with_answers=*/false);
  out.prompts.annotation_dims = out.task->annotation_dims();
  if (pairs) {
    out.counterfactuals = generate_counterfactuals(*out.task, out.examples, static_cast<uint64_t>(seed));
    PromptSet corrupt = to_tensors(out.counterfactuals, false);
    out.prompts.annotations.emplace_back("corrupt_tokens", corrupt.tokens);
    out.prompts.annotation_dims["corrupt_tokens"] = {"batch", "pos"};
    for (const auto& [name, tensor] : corrupt.annotations) {
      if (name != "answer") continue;
      out.prompts.annotations.emplace_back("corrupt_answer", tensor);
      out.prompts.annotation_dims["corrupt_answer"] = out.prompts.annotation_dims.at("answer");
    }
  }
  return out;
}

}  // namespace mechlens::cli
