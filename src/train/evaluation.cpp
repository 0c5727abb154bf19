#include "train/evaluation.h"

#include <fmt/format.h>
#include <torch/torch.h>

#include <algorithm>

#include "train/sequences.h"
#include "util/progress.h"

namespace mechlens {

std::vector<std::string> example_groups(const Example& example) {
  std::vector<std::string> groups{"all", example.group};
  const auto order = example.annotations.find("order");
  if (order != example.annotations.end()) groups.push_back(fmt::format("{}/order{}", example.group, order->second[0]));
  return groups;
}

std::map<std::string, GroupMetrics> evaluate(HookedTransformer& model, const std::vector<Example>& examples,
                                             int64_t batch_size) {
  torch::NoGradGuard no_grad;
  const bool was_training = model->is_training();
  model->eval();
  std::map<std::string, GroupMetrics> sums;
  for (size_t start = 0; start < examples.size(); start += static_cast<size_t>(batch_size)) {
    const std::vector<Example> chunk(
        examples.begin() + start,
        examples.begin() + std::min(examples.size(), start + static_cast<size_t>(batch_size)));
    const TrainingBatch batch = make_training_batch(chunk);
    const torch::Tensor logits = model->forward(batch.tokens);  // [batch, T, d_vocab], on the model's device
    const torch::Tensor targets = batch.targets.to(logits.device());
    const torch::Tensor answer_mask = targets.ne(kIgnoreTarget);
    const torch::Tensor safe_targets = targets.clamp_min(0);
    // Per-token loss and correctness on answer positions only.
    const torch::Tensor token_loss =
        -torch::log_softmax(logits, -1).gather(-1, safe_targets.unsqueeze(-1)).squeeze(-1) * answer_mask;
    const torch::Tensor correct = logits.argmax(-1).eq(safe_targets).logical_or(answer_mask.logical_not());
    const torch::Tensor example_loss = token_loss.sum(1) / answer_mask.sum(1);
    const torch::Tensor exact = correct.all(1);
    const torch::Tensor rows = torch::arange(static_cast<int64_t>(chunk.size()), safe_targets.options());
    // Per-example values come to the host once per batch, for the group sums.
    const torch::Tensor first_correct = correct.index({rows, batch.first_answer.to(logits.device())}).to(torch::kCPU);
    const torch::Tensor example_loss_host = example_loss.to(torch::kCPU, torch::kFloat32);
    const torch::Tensor exact_host = exact.to(torch::kCPU);
    const auto loss_a = example_loss_host.accessor<float, 1>();
    const auto exact_a = exact_host.accessor<bool, 1>();
    const auto first_a = first_correct.accessor<bool, 1>();
    for (size_t i = 0; i < chunk.size(); ++i) {
      for (const auto& group : example_groups(chunk[i])) {
        GroupMetrics& m = sums[group];
        ++m.n;
        m.loss += loss_a[i];
        m.first_token_accuracy += first_a[i];
        m.exact_match += exact_a[i];
      }
    }
  }
  for (auto& [group, m] : sums) {
    m.loss /= static_cast<double>(m.n);
    m.first_token_accuracy /= static_cast<double>(m.n);
    m.exact_match /= static_cast<double>(m.n);
  }
  if (was_training) model->train();
  return sums;
}

std::string format_metrics(const std::map<std::string, GroupMetrics>& metrics) {
  std::string out =
      fmt::format("{:<16} {:>6} {:>9} {:>12} {:>12}\n", "group", "n", "loss", "first token", "exact match");
  for (const auto& [group, m] : metrics) {
    out += fmt::format("{:<16} {:>6} {:>9.4f} {:>12.4f} {:>12.4f}\n", group, m.n, m.loss, m.first_token_accuracy,
                       m.exact_match);
  }
  return out;
}

namespace {

// One greedy step for every row: the next token [rows, 1] after `input`, given the keys and values
// of the positions before it (`past`, extended in place with those of `input`).
torch::Tensor decode_step(HookedTransformer& model, const torch::Tensor& input, std::vector<KeyValues>& past) {
  const ModelConfig& config = model->config();
  const char* key_hook =
      config.positional_embedding_type == PositionalEmbedding::kRotary ? "attn.hook_rot_k" : "attn.hook_k";
  std::vector<std::string> names;
  for (int64_t layer = 0; layer < config.n_layers; ++layer) {
    names.push_back(fmt::format("blocks.{}.{}", layer, key_hook));
    names.push_back(fmt::format("blocks.{}.attn.hook_v", layer));
  }
  ForwardOptions options;
  options.past_key_values = past;
  auto [logits, cache] = model->run_with_cache(input, model->names_filter(names), options);
  past.resize(size_t(config.n_layers));
  for (int64_t layer = 0; layer < config.n_layers; ++layer) {
    const torch::Tensor& k = cache.at(names[size_t(2 * layer)]);  // [rows, pos, kv_head, d_head]
    const torch::Tensor& v = cache.at(names[size_t(2 * layer + 1)]);
    KeyValues& kv = past[size_t(layer)];
    kv.k = kv.k.defined() ? torch::cat({kv.k, k}, 1) : k;
    kv.v = kv.v.defined() ? torch::cat({kv.v, v}, 1) : v;
  }
  return logits.select(1, -1).argmax(-1, /*keepdim=*/true);
}

}  // namespace

bool decoded_answer_is(const std::vector<int64_t>& decoded, const std::vector<int64_t>& prompt,
                       const std::vector<int64_t>& answer, int64_t eos) {
  const size_t expected_size = prompt.size() + answer.size();
  if (decoded.size() < expected_size || (eos >= 0 && decoded.size() != expected_size)) return false;
  return std::equal(prompt.begin(), prompt.end(), decoded.begin()) &&
         std::equal(answer.begin(), answer.end(), decoded.begin() + static_cast<std::ptrdiff_t>(prompt.size()));
}

std::vector<std::vector<int64_t>> greedy_decode(HookedTransformer& model, const std::vector<Example>& examples,
                                                int64_t max_new, int64_t eos, bool progress,
                                                const PromptHooks& prompt_hooks) {
  torch::NoGradGuard no_grad;
  model->eval();
  std::vector<std::vector<int64_t>> sequences(examples.size());
  ProgressBar bar("greedy decoding", int64_t(examples.size()), progress);
  // Prompts of equal length decode together. The prompt runs once; each generated token then runs
  // alone against the cached keys and values of everything before it (models with orthogonal noise,
  // whose attention reads uncached inputs, run the whole sequence every step).
  const bool cached = model->config().orthogonal_noise == OrthogonalNoise::kNone;
  std::map<size_t, std::vector<size_t>> by_length;
  for (size_t i = 0; i < examples.size(); ++i) by_length[examples[i].prompt.size()].push_back(i);
  for (const auto& [length, rows] : by_length) {
    std::vector<int64_t> flat;
    for (size_t row : rows) flat.insert(flat.end(), examples[row].prompt.begin(), examples[row].prompt.end());
    torch::Tensor tokens = torch::tensor(flat, torch::kLong)
                               .view({static_cast<int64_t>(rows.size()), static_cast<int64_t>(length)})
                               .to(model->device());
    const int64_t steps = std::min<int64_t>(max_new, model->config().n_ctx - static_cast<int64_t>(length));
    const std::vector<NamedHook> hooks = prompt_hooks ? prompt_hooks(rows) : std::vector<NamedHook>{};
    std::vector<KeyValues> past;
    for (int64_t step = 0; step < steps; ++step) {
      // Cached steps after the first compute new positions only, which prompt hooks do not touch.
      HookScope scope = (!cached || step == 0) ? model->with_hooks(hooks) : HookScope();
      const torch::Tensor next = cached ? decode_step(model, step == 0 ? tokens : tokens.narrow(1, -1, 1), past)
                                        : model->forward(tokens).select(1, -1).argmax(-1, /*keepdim=*/true);
      tokens = torch::cat({tokens, next}, 1);  // [rows, length + step + 1]
      if (eos >= 0 && tokens.narrow(1, static_cast<int64_t>(length), step + 1).eq(eos).any(1).all().item<bool>()) break;
    }
    const torch::Tensor tokens_host = tokens.to(torch::kCPU);
    const auto values = tokens_host.accessor<int64_t, 2>();
    for (size_t r = 0; r < rows.size(); ++r) {
      std::vector<int64_t>& sequence = sequences[rows[r]];
      for (int64_t j = 0; j < tokens.size(1); ++j) {
        sequence.push_back(values[static_cast<int64_t>(r)][j]);
        if (j >= static_cast<int64_t>(length) && values[static_cast<int64_t>(r)][j] == eos) break;  // stop at EOS
      }
    }
    bar.advance(int64_t(rows.size()));
  }
  bar.finish();
  return sequences;
}

}  // namespace mechlens
