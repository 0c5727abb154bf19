// `mechlens eval`: accuracy of a checkpoint on held-out task examples, per group; --greedy also
// decodes every answer token by token and counts exact matches of the generated proof; --hops
// (matching) says which node of the queried chain each prediction is.
#include <fmt/ranges.h>

#include <optional>

#include "cli/ablation_options.h"
#include "cli/command.h"
#include "cli/model_loading.h"
#include "cli/options.h"
#include "cli/task_input.h"
#include "io/checkpoint.h"
#include "tasks/example_tensors.h"
#include "train/eval_table.h"
#include "train/evaluation.h"
#include "train/hops_taken.h"
#include "util/output_file.h"

namespace mechlens::cli {

int run_eval(const std::vector<std::string>& args) {
  po::options_description options("options");
  // clang-format off
  options.add_options()
      ("checkpoint", po::value<std::string>()->required(), "checkpoint file (.safetensors); also the first argument")
      ("greedy", po::bool_switch(), "also decode answers greedily and count exact matches of the generated text")
      ("hops", po::bool_switch(), "matching task: also the share of first answer tokens that are the node d hops from the queried start along its chain, per group (which hop the model answers, whatever the problem's order), elsewhere, and the share found nowhere in the prompt; on double-chain problems also the share that is the other chain's last node")
      ("csv", po::value<std::string>(), "also write the per-group table, with --hops's columns, to this CSV file")
      ("quiet", po::bool_switch(), "no progress bar");
  // clang-format on
  add_task_options(options);
  add_ablation_options(options);
  add_weight_processing_options(options);
  po::variables_map vm;
  if (!parse_options("eval",
                     "--checkpoint CK --task NAME [--task-option key=value ...] --n N --seed S [--greedy] [--ablate "
                     "L1H2] [--csv FILE]",
                     "Evaluate a checkpoint on task examples: loss, first-answer-token accuracy and exact-match "
                     "accuracy per group.",
                     options, {}, args, vm)) {
    return 0;
  }
  if (!vm.count("task")) throw UsageError{"--task is required"};
  if (vm["hops"].as<bool>() && vm["task"].as<std::string>() != "matching") {
    throw UsageError{"--hops counts hops along the matching task's chains; use --task matching"};
  }
  if (vm.count("csv") && vm["csv"].as<std::string>() == "-") {
    throw UsageError{"--csv takes a file path (the tables go to stdout already)"};
  }
  check_checkpoint_task(vm["checkpoint"].as<std::string>(), vm["task"].as<std::string>());
  HookedTransformer model = load_model(vm["checkpoint"].as<std::string>(), vm);
  require_unembedding(model, "eval");
  const TaskPrompts generated = generate_task_prompts(vm, /*pairs=*/false);
  // Mean ablation averages over the sequences evaluated (prompt and answer, teacher-forced).
  const PromptSet sequences = to_tensors(generated.examples, /*with_answers=*/true);
  std::string ablation;
  const HookScope ablated = apply_ablation(vm, model, sequences.tokens, sequences.lengths, ablation);
  const auto metrics = evaluate(model, generated.examples);
  fmt::print("{} on {} {} examples (seed {}){}\n", vm["checkpoint"].as<std::string>(), generated.examples.size(),
             generated.task->name(), vm["seed"].as<int64_t>(), ablation.empty() ? "" : " " + ablation);
  fmt::print("{}", format_metrics(metrics));
  std::optional<HopsTaken> hops;
  if (vm["hops"].as<bool>()) {
    hops = hops_taken(model, generated.examples);
    fmt::print("\nfirst answer token = the node d hops from the start along the queried chain (share of examples):\n{}",
               format_hops_taken(*hops));
  }
  if (vm.count("csv")) {
    write_file_atomically(vm["csv"].as<std::string>(), eval_table_csv(metrics, hops ? &*hops : nullptr));
  }
  if (vm["greedy"].as<bool>()) {
    int64_t max_answer = 0;
    for (const auto& e : generated.examples)
      max_answer = std::max<int64_t>(max_answer, static_cast<int64_t>(e.answer.size()));
    const int64_t eos = generated.task->end_token();
    const auto decoded = greedy_decode(model, generated.examples, max_answer, eos, !vm["quiet"].as<bool>());
    int64_t exact = 0;
    for (size_t i = 0; i < decoded.size(); ++i) {
      exact += decoded_answer_is(decoded[i], generated.examples[i].prompt, generated.examples[i].answer, eos);
    }
    fmt::print("greedy decoding: {} of {} answers generated exactly ({:.4f})\n", exact, decoded.size(),
               static_cast<double>(exact) / static_cast<double>(decoded.size()));
  }
  return 0;
}

}  // namespace mechlens::cli
