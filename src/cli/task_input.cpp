#include "cli/task_input.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdio>
#include <filesystem>

#include "cli/command.h"
#include "cli/prompts.h"
#include "io/checkpoint.h"
#include "io/tokenizer.h"
#include "tasks/example_tensors.h"
#include "tasks/task_factory.h"
#include "util/error.h"

namespace mechlens::cli {

void add_task_options(po::options_description& options) {
  // clang-format off
  options.add_options()
      ("task", po::value<std::string>(), "generate prompts with a task: matching or logic")
      ("task-option", po::value<std::vector<std::string>>()->composing(),
       "task setting key=value (matching: layout, split, orders, seq_len; logic: depth, logop_share, operator, "
       "counterfactual, proof_prefix, format)")
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

namespace {

// The task settings a checkpoint's metadata records ({"task": ..., ...}); null when it records none
// or the record is not one this version wrote.
nlohmann::json recorded_task_settings(const std::string& checkpoint) {
  const auto metadata = read_checkpoint_metadata(checkpoint);
  const auto recorded = metadata.find("task");
  if (recorded == metadata.end()) return nullptr;
  nlohmann::json settings = nlohmann::json::parse(recorded->second, nullptr, /*allow_exceptions=*/false);
  return settings.is_object() ? settings : nullptr;
}

// The task a checkpoint was trained on ("" when unrecorded).
std::string trained_task(const std::string& checkpoint) {
  const nlohmann::json settings = recorded_task_settings(checkpoint);
  return settings.is_object() && settings.value("task", nlohmann::json()).is_string()
             ? settings["task"].get<std::string>()
             : "";
}

// The prompt form the checkpoint was trained on, as task options that --task-option may override (later
// options win): the logic text's spelling (`format`: a model trained on the authors' proofs reads
// those), and the matching prompt's layout and length (a model trained with the hop count as a token
// is read in that layout; only for the matching task itself), and its node ranges when recorded (a
// model trained on 1..100 is asked about 100 too). A record without ranges keeps today's default
// rather than the older generator's, so analyses of those checkpoints draw the same prompts as before.
// Splits and hop counts stay the command's.
std::vector<std::string> recorded_prompt_options(const nlohmann::json& settings, const std::string& task) {
  if (!settings.is_object()) return {};
  std::vector<std::string> options;
  if (settings.value("format", nlohmann::json()).is_string()) {
    options.push_back("format=" + settings["format"].get<std::string>());
  }
  if (task != "matching" || settings.value("task", nlohmann::json()) != task) return options;
  if (settings.value("layout", nlohmann::json()).is_string()) {
    options.push_back("layout=" + settings["layout"].get<std::string>());
  }
  if (settings.value("seq_len", nlohmann::json()).is_number_integer()) {
    options.push_back("seq_len=" + std::to_string(settings["seq_len"].get<int64_t>()));
  }
  if (settings.value("ranges", nlohmann::json()).is_string()) {
    options.push_back("ranges=" + settings["ranges"].get<std::string>());
  }
  return options;
}

// Hop counts stay the command's (an analysis may ask a model about more hops than it learned), but
// asking only about hop counts the checkpoint never saw is worth a line: the default (2) is one of
// them for a model trained on 1 hop.
void warn_untrained_orders(const std::string& checkpoint, const nlohmann::json& trained, const Task& task) {
  const nlohmann::json asked = nlohmann::json::parse(task.settings_json(), nullptr, /*allow_exceptions=*/false);
  if (!trained.is_object() || !asked.is_object() || trained.value("task", nlohmann::json()) != task.name()) return;
  const nlohmann::json trained_orders = trained.value("orders", nlohmann::json());
  const nlohmann::json asked_orders = asked.value("orders", nlohmann::json());
  if (!trained_orders.is_array() || !asked_orders.is_array()) return;
  for (const auto& order : asked_orders) {
    if (std::find(trained_orders.begin(), trained_orders.end(), order) != trained_orders.end()) return;
  }
  fmt::print(stderr,
             "note: {} was trained on hop counts {}; these prompts ask {} (--task-option orders=... to match)\n",
             checkpoint, trained_orders.dump(), asked_orders.dump());
}

// The task settings --checkpoint records, read once per command; null without one (a missing file
// too: the command's loader says so).
nlohmann::json checkpoint_task_settings(const po::variables_map& vm) {
  if (!vm.count("checkpoint")) return nullptr;
  const std::string& checkpoint = vm["checkpoint"].as<std::string>();
  std::error_code error;
  if (!std::filesystem::exists(checkpoint, error)) return nullptr;
  return recorded_task_settings(checkpoint);
}

// A tokenizer as the text codec of tasks that write text (logic-text).
class TokenizerCodec : public TextCodec {
 public:
  explicit TokenizerCodec(std::unique_ptr<Tokenizer> tokenizer) : tokenizer_(std::move(tokenizer)) {}
  std::vector<int64_t> encode(const std::string& text) const override { return tokenizer_->encode(text); }
  std::vector<std::string> token_strings() const override { return tokenizer_->token_strings(); }
  int64_t bos_token() const override { return tokenizer_->bos_token(); }

 private:
  std::unique_ptr<Tokenizer> tokenizer_;
};

// The tokenizer a text task writes with: --task-option tokenizer=DIR, else --tokenizer, else the
// checkpoint directory's; null when there is none (the task then says what it needs).
std::shared_ptr<const TextCodec> task_codec(const po::variables_map& vm, const std::vector<std::string>& task_options) {
  if (vm["task"].as<std::string>() != "logic-text") return nullptr;
  std::string dir;
  for (const std::string& option : task_options) {
    if (option.rfind("tokenizer=", 0) == 0) dir = option.substr(std::string("tokenizer=").size());
  }
  if (dir.empty() && vm.count("tokenizer")) dir = vm["tokenizer"].as<std::string>();
  if (dir.empty() && vm.count("checkpoint") && dir_has_tokenizer(vm["checkpoint"].as<std::string>())) {
    dir = vm["checkpoint"].as<std::string>();
  }
  if (dir.empty()) return nullptr;
  return std::make_shared<TokenizerCodec>(load_tokenizer(dir));
}

}  // namespace

std::vector<std::string> known_vocab(const std::string& checkpoint, const std::string& task_name) {
  const std::string task = task_name.empty() ? trained_task(checkpoint) : task_name;
  if (task != "matching" && task != "logic") {
    // A Hugging Face directory with its tokenizer: each id's text.
    if (dir_has_tokenizer(checkpoint)) return load_tokenizer(checkpoint)->token_strings();
    return {};
  }
  return make_task(task, {})->token_strings();  // a task's vocabulary does not depend on its settings
}

void check_checkpoint_task(const std::string& checkpoint, const std::string& task_name) {
  const std::string trained = trained_task(checkpoint);
  if (!trained.empty() && trained != task_name) {
    throw UsageError{
        fmt::format("--task {}: {} was trained on the {} task (its metadata records task={}); use --task {}", task_name,
                    checkpoint, trained, trained, trained)};
  }
}

TaskPrompts generate_task_prompts(const po::variables_map& vm, bool pairs,
                                  const std::vector<std::string>& extra_task_options) {
  TaskPrompts out;
  const nlohmann::json trained = checkpoint_task_settings(vm);
  std::vector<std::string> task_options = recorded_prompt_options(trained, vm["task"].as<std::string>());
  if (vm.count("task-option")) {
    for (const std::string& option : vm["task-option"].as<std::vector<std::string>>()) task_options.push_back(option);
  }
  task_options.insert(task_options.end(), extra_task_options.begin(), extra_task_options.end());
  out.task = make_task(vm["task"].as<std::string>(), task_options, task_codec(vm, task_options));
  if (vm.count("checkpoint")) warn_untrained_orders(vm["checkpoint"].as<std::string>(), trained, *out.task);
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

PatchingInputs task_pair_inputs(const TaskPrompts& generated) {
  const PromptSet& prompts = generated.prompts;
  PatchingInputs inputs;
  inputs.clean = equal_length_tokens(prompts, "task " + generated.task->name(), "patching");
  const int64_t longest = inputs.clean.size(1);
  for (const auto& [name, tensor] : prompts.annotations) {
    if (name == "corrupt_tokens") inputs.corrupted = tensor.narrow(1, 0, longest).contiguous();
    if (name == "answer") inputs.correct = tensor.select(1, 0).contiguous();
    if (name == "corrupt_answer") inputs.wrong = tensor.select(1, 0).contiguous();
  }
  MECHLENS_CHECK(InputError, inputs.corrupted.defined() && inputs.wrong.defined(),
                 "task {}: prompts were generated without their counterfactual pairs", generated.task->name());
  inputs.answer_pos = torch::full({inputs.clean.size(0)}, longest - 1, torch::kLong);
  return inputs;
}

std::vector<PositionSpan> task_spans(const Task& task, const std::vector<Example>& examples) {
  std::vector<PositionSpan> spans;
  for (const std::string& name : task.span_names()) spans.push_back({name, {}});
  for (const Example& example : examples) {
    const auto positions = task.span_positions(example);
    for (size_t i = 0; i < spans.size(); ++i) spans[i].per_prompt.push_back(positions[i]);
  }
  return spans;
}

std::optional<PromptGroups> prompt_groups_option(const po::variables_map& vm,
                                                 const std::vector<std::pair<std::string, torch::Tensor>>& annotations,
                                                 const std::vector<std::string>& data_groups) {
  if (!vm.count("group-by")) return std::nullopt;
  const std::string by = vm["group-by"].as<std::string>();
  if (by == "group" && !data_groups.empty()) return groups_from_names(by, data_groups);
  std::vector<std::string> known;
  if (!data_groups.empty()) known.push_back("group");
  for (const auto& [name, tensor] : annotations) {
    if (name == by) return groups_from_values(by, tensor);
    if (tensor.dim() == 1 || (tensor.dim() == 2 && tensor.size(1) == 1)) known.push_back(name);
  }
  MECHLENS_CHECK(InputError, !known.empty(),
                 "--group-by {}: these prompts carry no annotations; use --task, or a record made with --task", by);
  MECHLENS_FAIL(InputError, "--group-by {}: the prompts have no annotation '{}'; one value per prompt: {}", by, by,
                fmt::join(known, ", "));
}

}  // namespace mechlens::cli
