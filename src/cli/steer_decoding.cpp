#include "cli/steer_decoding.h"

#include <fmt/format.h>
#include <torch/torch.h>

#include <algorithm>

#include "hooks/hook_names.h"
#include "train/evaluation.h"
#include "util/progress.h"

namespace mechlens::cli {
namespace {

// Adds alpha · direction at each decoded row's steered position of the prompt forward.
PromptHooks steering_hooks(const SteeringOptions& options, const torch::Tensor& direction, double alpha) {
  if (alpha == 0.0) return {};
  const std::string hook = layer_hook_name(options.layer, "hook_resid_pre");
  const torch::Tensor shift = direction.to(torch::kFloat32) * alpha;  // [d_model]
  return [&options, hook, shift](const std::vector<size_t>& rows) {
    std::vector<int64_t> positions;
    for (size_t row : rows) positions.push_back(options.positions[row].first);
    const torch::Tensor row_index = torch::arange(static_cast<int64_t>(rows.size()));
    const torch::Tensor position_index = torch::tensor(positions, torch::kLong);
    HookFn add = [row_index, position_index, shift](const torch::Tensor& resid, const HookPointImpl&) {
      torch::Tensor steered = resid.clone();  // [rows, pos, d_model]
      steered.index_put_({row_index, position_index}, steered.index({row_index, position_index}) + shift);
      return steered;
    };
    return std::vector<NamedHook>{{hook, add}};
  };
}

// How many generated tokens agree with `answer` before the first difference.
int64_t agreeing_prefix(const std::vector<int64_t>& decoded, size_t prompt_size, const std::vector<int64_t>& answer) {
  int64_t n = 0;
  while (prompt_size + size_t(n) < decoded.size() && size_t(n) < answer.size() &&
         decoded[prompt_size + size_t(n)] == answer[size_t(n)]) {
    ++n;
  }
  return n;
}

}  // namespace

SteeredDecoding decode_steered(HookedTransformer& model, const TaskPrompts& generated, const torch::Tensor& direction,
                               const SteeringOptions& options) {
  const std::vector<Example>& examples = generated.examples;
  const int64_t batch = static_cast<int64_t>(examples.size()), n_alpha = static_cast<int64_t>(options.alphas.size());
  int64_t longest = 0;
  for (size_t i = 0; i < examples.size(); ++i) {
    longest = std::max<int64_t>({longest, static_cast<int64_t>(examples[i].answer.size()),
                                 static_cast<int64_t>(generated.counterfactuals[i].answer.size())});
  }
  const int64_t eos = generated.task->end_token();
  SteeredDecoding result;
  result.own_answer = torch::zeros({n_alpha, batch}, torch::kLong);
  result.counterfactual_answer = torch::zeros({n_alpha, batch}, torch::kLong);
  result.tokens = torch::full({n_alpha, batch, longest}, -1, torch::kLong);
  result.own_prefix = torch::zeros({n_alpha, batch}, torch::kLong);
  result.counterfactual_prefix = torch::zeros({n_alpha, batch}, torch::kLong);
  auto own_prefix = result.own_prefix.accessor<int64_t, 2>();
  auto counterfactual_prefix = result.counterfactual_prefix.accessor<int64_t, 2>();
  auto own = result.own_answer.accessor<int64_t, 2>();
  auto counterfactual = result.counterfactual_answer.accessor<int64_t, 2>();
  auto tokens = result.tokens.accessor<int64_t, 3>();
  ProgressBar bar("steered decoding", n_alpha, options.progress);
  for (int64_t a = 0; a < n_alpha; ++a) {
    const auto decoded = greedy_decode(model, examples, longest, eos, /*progress=*/false,
                                       steering_hooks(options, direction, options.alphas[size_t(a)]));
    for (int64_t b = 0; b < batch; ++b) {
      const std::vector<int64_t>& sequence = decoded[size_t(b)];
      const Example& example = examples[size_t(b)];
      own[a][b] = decoded_answer_is(sequence, example.prompt, example.answer, eos);
      const std::vector<int64_t>& other = generated.counterfactuals[size_t(b)].answer;
      counterfactual[a][b] = decoded_answer_is(sequence, example.prompt, other, eos);
      own_prefix[a][b] = agreeing_prefix(sequence, example.prompt.size(), example.answer);
      counterfactual_prefix[a][b] = agreeing_prefix(sequence, example.prompt.size(), other);
      const int64_t generated_length =
          std::min<int64_t>(longest, static_cast<int64_t>(sequence.size() - example.prompt.size()));
      for (int64_t j = 0; j < generated_length; ++j) tokens[a][b][j] = sequence[example.prompt.size() + size_t(j)];
    }
    bar.advance(1);
  }
  bar.finish();
  return result;
}

}  // namespace mechlens::cli
