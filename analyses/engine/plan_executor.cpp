#include "engine/plan_executor.h"

#include <torch/torch.h>

#include "hooks/hook_names.h"
#include "util/error.h"

namespace mechlens {
namespace {

const char* key_hook(const ModelConfig& config) {
  return config.positional_embedding_type == PositionalEmbedding::kRotary ? "attn.hook_rot_k" : "attn.hook_k";
}

}  // namespace

std::vector<std::string> target_cache_hooks(const ModelConfig& config) {
  return {"hook_resid_pre", key_hook(config), "attn.hook_v"};
}

int64_t execute_pack(HookedTransformer& model, const Pack& pack, const TargetRun& target,
                     const InstallInterventions& install, const ReadAnswers& read) {
  torch::NoGradGuard no_grad;
  MECHLENS_CHECK(InputError, target.cache != nullptr, "execute_pack needs the target run's cache");
  const ModelConfig& config = model->config();
  const int64_t n_pos = target.tokens.size(1);
  const torch::Device device = target.tokens.device();
  const ActivationCache& cache = *target.cache;
  const int64_t layer = pack.layer, first = pack.first;
  const int64_t span = n_pos - first, rows = int64_t(pack.rows.size());
  std::vector<int64_t> prompts, flat_of_row;
  prompts.reserve(pack.rows.size());
  flat_of_row.reserve(pack.rows.size());
  for (const PackRow& row : pack.rows) {
    prompts.push_back(row.prompt);
    flat_of_row.push_back(pack.sites[size_t(row.run)].flat);
  }
  const torch::Tensor prompt_of_row = torch::tensor(prompts, torch::kLong).to(device);  // [rows]

  ForwardOptions forward;
  forward.start_at_layer = layer;
  forward.stop_at_layer = config.n_layers;
  torch::Tensor input = layer == 0 ? target.tokens.narrow(1, first, span).index_select(0, prompt_of_row)
                                   : cache.at(layer_hook_name(layer, "hook_resid_pre"))
                                         .narrow(1, first, span)
                                         .index_select(0, prompt_of_row);  // [rows, span(, d_model)]
  if (first > 0) {
    for (int64_t l = layer; l < config.n_layers; ++l) {
      const torch::Tensor& k = cache.at(layer_hook_name(l, key_hook(config)));  // [batch, pos, kv_head, d_head]
      const torch::Tensor& v = cache.at(layer_hook_name(l, "attn.hook_v"));
      forward.past_key_values.push_back(
          {k.narrow(1, 0, first).index_select(0, prompt_of_row), v.narrow(1, 0, first).index_select(0, prompt_of_row)});
    }
  }
  const PackBatch batch{pack, std::move(prompts), std::move(flat_of_row), prompt_of_row, first, span};
  HookScope scope;
  install(batch, scope);
  torch::Tensor resid = model->forward(input, forward);  // [rows, span, d_model]
  scope.release();

  // Only the answer positions are unembedded; the plan puts every row's answer at or after `first`.
  torch::Tensor row_answer = target.answer_pos.index_select(0, prompt_of_row) - first;
  torch::Tensor at_answer = resid.index({torch::arange(rows, row_answer.options()), row_answer});
  read(batch, model->logits_from_resid(at_answer));  // [rows, V]
  return rows * span;
}

ExecutionCost pack_cost(const ModelConfig& config, const Pack& pack, int64_t n_pos) {
  const double rows = double(pack.rows.size()), span = double(n_pos - pack.first);
  return {int64_t(pack.rows.size()),
          rows * (span * double(config.n_layers - pack.layer) * config.block_flops_per_token(n_pos) +
                  2.0 * double(config.d_model) * double(config.d_vocab))};
}

ExecutionCost execute_plan(HookedTransformer& model, const std::vector<Pack>& packs, const TargetRun& target,
                           const InstallInterventions& install, const ReadAnswers& read, ProgressBar& progress) {
  const int64_t n_pos = target.tokens.size(1);
  ExecutionCost cost;
  for (const Pack& pack : packs) {
    progress.advance(execute_pack(model, pack, target, install, read));
    const ExecutionCost one = pack_cost(model->config(), pack, n_pos);
    cost.rows += one.rows;
    cost.flops += one.flops;
  }
  return cost;
}

}  // namespace mechlens
