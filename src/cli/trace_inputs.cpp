#include "cli/trace_inputs.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <torch/torch.h>

#include "cli/command.h"
#include "cli/model_loading.h"
#include "cli/prompts.h"
#include "cli/task_input.h"
#include "io/checkpoint.h"
#include "util/error.h"
#include "util/parse.h"

namespace mechlens::cli {
namespace {

// Answers from a file: one line per prompt, "correct" or "correct wrong".
void load_answers(const std::string& path, int64_t d_vocab, AnswerPrompts& prompts) {
  const std::vector<Prompt> lines = read_answer_file(path, prompts.batch(), 1, 2, d_vocab);
  std::vector<int64_t> correct, wrong;
  const size_t width = lines[0].size();
  for (size_t i = 0; i < lines.size(); ++i) {
    correct.push_back(lines[i][0]);
    if (width == 2) wrong.push_back(lines[i][1]);
  }
  prompts.correct = torch::tensor(correct, torch::kLong);
  if (width == 2) prompts.wrong = torch::tensor(wrong, torch::kLong);
}

}  // namespace

HookedTransformer load_model_and_prompts(const po::variables_map& vm, TraceFileContents& contents,
                                         std::string& task_name) {
  const std::string checkpoint = vm["checkpoint"].as<std::string>();
  if (vm.count("task")) check_checkpoint_task(checkpoint, vm["task"].as<std::string>());
  HookedTransformer model = load_model(checkpoint, vm, DeviceUse::kCpuOnly);
  load_trace_prompts(vm, model, contents, task_name);
  // The analyses keep the prompts where the model runs (their batches are built from them there).
  contents.prompts.move_to(model->device());
  return model;
}

void load_trace_prompts(const po::variables_map& vm, HookedTransformer& model, TraceFileContents& contents,
                        std::string& task_name) {
  AnswerPrompts& prompts = contents.prompts;
  if (vm.count("task")) {
    // Counterfactual pairs give each prompt a contrast answer for the logit difference.
    TaskPrompts generated = generate_task_prompts(vm, /*pairs=*/true);
    task_name = generated.task->name();
    contents.spans = task_spans(*generated.task, generated.examples);
    prompts.tokens = equal_length_tokens(generated.prompts, "task " + task_name, "tracing");
    for (const auto& [name, tensor] : generated.prompts.annotations) {
      if (name == "answer") prompts.correct = tensor.select(1, 0).contiguous();
      if (name == "corrupt_answer") prompts.wrong = tensor.select(1, 0).contiguous();
      if (name != "corrupt_tokens" && name != "corrupt_answer") contents.annotations.emplace_back(name, tensor);
    }
    contents.annotation_dims = generated.prompts.annotation_dims;
    for (const Example& example : generated.examples) contents.prompt_groups.push_back(example.group);
    prompts.answer_pos = torch::full({prompts.batch()}, prompts.positions() - 1, torch::kLong);
    return;
  }
  const PromptSet set = prompts_from_options(vm);
  prompts.tokens =
      equal_length_tokens(set, vm.count("tokens-file") ? vm["tokens-file"].as<std::string>() : "--tokens", "tracing");
  contents.annotations = set.annotations;
  contents.annotation_dims = set.annotation_dims;
  model->check_tokens(prompts.tokens);
  const int64_t n_pos = prompts.positions();
  int64_t answer_pos = vm["answer-pos"].as<int64_t>();
  if (answer_pos < 0) answer_pos += n_pos;
  MECHLENS_CHECK(InputError, answer_pos >= 0 && answer_pos < n_pos, "--answer-pos {} is outside the {} prompt tokens",
                 vm["answer-pos"].as<int64_t>(), n_pos);
  prompts.answer_pos = torch::full({prompts.batch()}, answer_pos, torch::kLong);
  if (vm.count("answers")) {
    load_answers(vm["answers"].as<std::string>(), model->config().d_vocab, prompts);
  } else {
    // Default answer: what the model itself predicts there; its runner-up is the contrast.
    torch::NoGradGuard no_grad;
    const torch::Tensor top2 = std::get<1>(model->forward(prompts.tokens).select(1, answer_pos).topk(2, -1));
    prompts.correct = top2.select(1, 0).contiguous();
    prompts.wrong = top2.select(1, 1).contiguous();
  }
}

std::vector<PositionSpan> trace_sources(const std::string& text, const TraceFileContents& contents, bool from_task) {
  const int64_t batch = contents.prompts.batch(), n_pos = contents.prompts.positions();
  const PositionSelection selection =
      PositionSelection::parse(text, "--sources", from_task ? &contents.spans : nullptr);
  if (selection.named()) return selection.spans();
  std::vector<PositionSpan> spans;
  for (int64_t pos : selection.indices().resolve(n_pos, fmt::format("the prompts ({} tokens)", n_pos))) {
    spans.push_back(
        {fmt::format("pos {}", pos), std::vector<std::pair<int64_t, int64_t>>(size_t(batch), {pos, pos + 1})});
  }
  return spans;
}

std::vector<std::pair<int64_t, int64_t>> trace_destinations(const std::string& text, const TraceFileContents& contents,
                                                            bool from_task, std::string& name) {
  const int64_t n_pos = contents.prompts.positions();
  if (text == "answer") {
    name = "answer position";
    std::vector<std::pair<int64_t, int64_t>> rows;
    for (int64_t b = 0; b < contents.prompts.batch(); ++b) {
      const int64_t pos = contents.prompts.answer_pos[b].item<int64_t>();
      rows.emplace_back(pos, pos + 1);
    }
    return rows;
  }
  const PositionSelection selection = PositionSelection::parse(text, "--dest", from_task ? &contents.spans : nullptr);
  if (selection.named()) {
    if (selection.spans().size() != 1) {
      throw UsageError{fmt::format("--dest {}: name one span, not {}", text, selection.spans().size())};
    }
    name = selection.spans()[0].name;
    for (size_t b = 0; b < selection.spans()[0].per_prompt.size(); ++b) {
      const auto [begin, end] = selection.spans()[0].per_prompt[b];
      MECHLENS_CHECK(InputError, end > begin, "--dest {}: prompt {} has no '{}' span", text, b, name);
    }
    return selection.spans()[0].per_prompt;
  }
  const std::vector<int64_t> positions =
      selection.indices().resolve(n_pos, fmt::format("the prompts ({} tokens)", n_pos));
  if (positions.size() != 1) {
    throw UsageError{fmt::format("--dest {}: give one position (or one named span), not {}", text, positions.size())};
  }
  name = fmt::format("pos {}", positions[0]);
  return std::vector<std::pair<int64_t, int64_t>>(size_t(contents.prompts.batch()), {positions[0], positions[0] + 1});
}

torch::Tensor position_per_prompt(const std::string& text, const TraceFileContents& contents, bool from_task,
                                  std::string& name) {
  std::vector<int64_t> positions;
  for (const auto& [begin, end] : trace_destinations(text, contents, from_task, name)) positions.push_back(begin);
  return torch::tensor(positions, torch::kLong);
}

torch::Tensor prompt_variable(const std::string& text, const std::string& option, const TraceFileContents& contents,
                              std::vector<std::string>& values) {
  torch::Tensor raw;
  if (text == "group") {
    std::vector<int64_t> codes;
    for (const std::string& g : contents.prompt_groups) {
      const auto it = std::find(values.begin(), values.end(), g);
      codes.push_back(it - values.begin());
      if (it == values.end()) values.push_back(g);
    }
    return torch::tensor(codes, torch::kLong);
  }
  std::string name = text;
  int64_t column = 0;
  if (const size_t bracket = text.find('['); bracket != std::string::npos && text.back() == ']') {
    name = text.substr(0, bracket);
    const auto parsed = parse_int(text.substr(bracket + 1, text.size() - bracket - 2));
    if (!parsed || *parsed < 0) throw UsageError{fmt::format("{} {}: the column must be a number >= 0", option, text)};
    column = *parsed;
  }
  std::vector<std::string> names;
  for (const auto& [annotation, tensor] : contents.annotations) {
    names.push_back(annotation);
    if (annotation != name) continue;
    const torch::Tensor values_2d = tensor.dim() == 1 ? tensor.unsqueeze(1) : tensor;
    if (column >= values_2d.size(1))
      throw UsageError{fmt::format("{} {}: {} has {} columns", option, text, name, values_2d.size(1))};
    raw = values_2d.select(1, column);
  }
  if (!raw.defined())
    throw UsageError{fmt::format("{} {}: the task annotates {} (or use group)", option, text, fmt::join(names, ", "))};
  const auto [unique, codes] = at::_unique(raw.to(torch::kLong).contiguous(), true, true);
  if (unique.numel() < 2) throw UsageError{fmt::format("{} {}: every prompt has the same value", option, text)};
  for (int64_t i = 0; i < unique.numel(); ++i) values.push_back(std::to_string(unique[i].item<int64_t>()));
  return codes;
}

std::optional<PromptGroups> trace_groups(const po::variables_map& vm, const TraceFileContents& contents) {
  return prompt_groups_option(vm, contents.annotations, contents.prompt_groups);
}

}  // namespace mechlens::cli
