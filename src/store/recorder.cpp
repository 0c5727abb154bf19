#include "store/recorder.h"

#include <torch/torch.h>

#include <algorithm>

#include "hooks/hook_names.h"
#include "util/error.h"
#include "util/index_spec.h"
#include "util/progress.h"
#include "util/sha256.h"

namespace mechlens {
namespace {

// Highest block index a hook lives in (-1 for embeddings, n_layers for ln_final).
int64_t hook_layer(const std::string& name, int64_t n_layers) {
  if (name.rfind("blocks.", 0) == 0) return std::stoll(name.substr(7, name.find('.', 7) - 7));
  return name.rfind("hook_", 0) == 0 ? -1 : n_layers;
}

// Keeps the selected heads and, per example, the selected positions of one activation.
torch::Tensor select(const torch::Tensor& act, const std::vector<std::string>& dims, const torch::Tensor& heads,
                     const torch::Tensor& positions) {
  // Selected on the activation's device (a GPU's): only the kept values travel to the host.
  torch::Tensor out = act;
  const auto head_dim = std::find(dims.begin(), dims.end(), "head");
  if (heads.defined() && head_dim != dims.end())
    out = out.index_select(head_dim - dims.begin(), heads.to(act.device()));
  const int64_t d = position_dim(dims);
  if (positions.defined() && d >= 0) {
    const auto index_options = torch::TensorOptions().dtype(torch::kLong).device(act.device());
    torch::Tensor rows = torch::arange(out.size(0), index_options).unsqueeze(1);      // [batch, 1]
    out = out.movedim(d, 1).index({rows, positions.to(act.device())}).movedim(1, d);  // pos -> kept positions
  }
  return out;
}

}  // namespace

PromptSet make_prompt_set(const std::vector<std::vector<int64_t>>& prompts) {
  MECHLENS_CHECK(InputError, !prompts.empty(), "no prompts to record");
  size_t max_len = 0;
  for (const auto& prompt : prompts) max_len = std::max(max_len, prompt.size());
  PromptSet set;
  set.tokens = torch::zeros({static_cast<int64_t>(prompts.size()), static_cast<int64_t>(max_len)}, torch::kLong);
  set.lengths = torch::empty({static_cast<int64_t>(prompts.size())}, torch::kLong);
  auto tokens = set.tokens.accessor<int64_t, 2>();
  auto lengths = set.lengths.accessor<int64_t, 1>();
  for (size_t i = 0; i < prompts.size(); ++i) {
    lengths[i] = static_cast<int64_t>(prompts[i].size());
    for (size_t j = 0; j < prompts[i].size(); ++j) tokens[i][j] = prompts[i][j];
  }
  return set;
}

std::string prompt_set_sha256(const PromptSet& prompts) {
  auto bytes = [](const torch::Tensor& t) {
    const torch::Tensor c = t.to(torch::kLong).contiguous();
    return std::string(static_cast<const char*>(c.data_ptr()), c.numel() * c.element_size());
  };
  std::string all = bytes(prompts.tokens) + bytes(prompts.lengths);
  for (const auto& [name, tensor] : prompts.annotations) all += name + bytes(tensor);
  return sha256_hex(all);
}

torch::Tensor resolve_positions(const std::string& spec_text, const torch::Tensor& lengths) {
  const IndexSpec spec = IndexSpec::parse(spec_text, "--positions");
  if (spec.is_all()) return torch::Tensor();
  const torch::Tensor cpu = lengths.to(torch::kCPU, torch::kLong).contiguous();
  return positions_tensor(
      spec.resolve_per_prompt(std::vector<int64_t>(cpu.data_ptr<int64_t>(), cpu.data_ptr<int64_t>() + cpu.numel())));
}

torch::Tensor positions_tensor(const std::vector<std::vector<int64_t>>& per_prompt) {
  const int64_t count = per_prompt.empty() ? 0 : int64_t(per_prompt.front().size());
  std::vector<int64_t> flat;
  flat.reserve(per_prompt.size() * size_t(count));
  for (const auto& kept : per_prompt) flat.insert(flat.end(), kept.begin(), kept.end());
  return torch::tensor(flat, torch::kLong).view({int64_t(per_prompt.size()), count});
}

std::map<std::string, std::vector<std::string>> recorded_dims(const HookedTransformer& model,
                                                              const std::vector<std::string>& hooks) {
  std::map<std::string, std::vector<std::string>> dims;
  for (const auto& name : hooks) dims[name] = model->hook_point(name)->dims();
  return dims;
}

void record_activations(HookedTransformer& model, const PromptSet& prompts, const RecordSettings& settings,
                        RecordWriter& writer, bool show_progress) {
  ProgressBar progress("record", prompts.size() - writer.n_written(), show_progress);
  record_activations(model, prompts, settings, writer, [&progress](int64_t rows) { progress.advance(rows); });
  progress.finish();
}

void record_activations(HookedTransformer& model, const PromptSet& prompts, const RecordSettings& settings,
                        RecordWriter& writer, const std::function<void(int64_t rows)>& rows_done) {
  torch::NoGradGuard no_grad;
  model->eval();
  const int64_t n = prompts.size();
  const auto dims = recorded_dims(model, settings.hooks);
  const IndexSpec head_spec = IndexSpec::parse(settings.heads, "--heads");
  torch::Tensor heads;
  if (!head_spec.is_all()) {
    heads = torch::tensor(head_spec.resolve(model->config().n_heads, fmt::format("{} heads", model->config().n_heads)),
                          torch::kLong);
  }
  const torch::Tensor positions = settings.kept_positions.defined()
                                      ? settings.kept_positions
                                      : resolve_positions(settings.positions, prompts.lengths);

  // Run only as deep as the deepest recorded hook.
  int64_t deepest = -1;
  for (const auto& name : settings.hooks) deepest = std::max(deepest, hook_layer(name, model->config().n_layers));
  ForwardOptions options;
  if (deepest < model->config().n_layers) options.stop_at_layer = deepest + 1;
  const NameFilter filter = model->names_filter(settings.hooks);

  for (int64_t start = writer.n_written(); start < n; start += settings.batch_size) {
    const int64_t count = std::min(settings.batch_size, n - start);
    RecordBatch batch;
    batch.lengths = prompts.lengths.narrow(0, start, count);
    const int64_t width = batch.lengths.max().item<int64_t>();
    // Padding only as wide as this batch needs; the stored tokens keep the set's full width.
    torch::Tensor tokens = prompts.tokens.narrow(0, start, count).narrow(1, 0, width);
    batch.tokens = prompts.tokens.narrow(0, start, count);
    torch::Tensor mask = torch::arange(width).unsqueeze(0).lt(batch.lengths.unsqueeze(1));
    options.attention_mask = mask.all().item<bool>() ? torch::Tensor() : mask.to(torch::kLong);
    auto [out, cache] = model->run_with_cache(tokens, filter, options);
    if (positions.defined()) batch.positions = positions.narrow(0, start, count);
    for (const auto& name : settings.hooks) {
      torch::Tensor act = select(cache.at(name), dims.at(name), heads, batch.positions);
      // Activations of a narrower batch are padded out to the set's width along pos/src dims.
      const auto& hook_dims = dims.at(name);
      for (size_t d = 1; d < hook_dims.size(); ++d) {
        const bool pos_like =
            hook_dims[d] == "src" || (static_cast<int64_t>(d) == position_dim(hook_dims) && !positions.defined());
        if (pos_like && act.size(d) < prompts.tokens.size(1)) {
          std::vector<int64_t> pad_shape = act.sizes().vec();
          pad_shape[d] = prompts.tokens.size(1) - act.size(d);
          act = torch::cat({act, torch::zeros(pad_shape, act.options())}, d);
        }
      }
      batch.acts.emplace_back(name, act);
    }
    for (const auto& [name, tensor] : prompts.annotations)
      batch.annotations.emplace_back(name, tensor.narrow(0, start, count));
    writer.append(batch);
    rows_done(count);
  }
}

}  // namespace mechlens
