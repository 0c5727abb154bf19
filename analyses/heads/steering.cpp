#include "heads/steering.h"

#include <fmt/format.h>
#include <torch/torch.h>

#include "engine/activations_at.h"
#include "engine/plan_executor.h"
#include "heads/probes.h"
#include "hooks/hook_names.h"
#include "util/error.h"

namespace mechlens {
namespace {

void check(HookedTransformer& model, const AnswerPrompts& prompts, const torch::Tensor& direction,
           const SteeringOptions& options) {
  const ModelConfig& config = model->config();
  validate_answer_prompts(prompts, config);
  model->check_tokens(prompts.tokens);
  MECHLENS_CHECK(InputError, direction.dim() == 1 && direction.size(0) == config.d_model,
                 "steering direction must be [d_model] = [{}], got {} values", config.d_model, direction.numel());
  MECHLENS_CHECK(InputError, options.layer >= 0 && options.layer < config.n_layers,
                 "steering layer {} is outside the model's layers 0..{}", options.layer, config.n_layers - 1);
  MECHLENS_CHECK(InputError, !options.alphas.empty(), "steering needs at least one alpha");
  MECHLENS_CHECK(InputError, int64_t(options.positions.size()) == prompts.batch(),
                 "steering: {} position ranges for {} prompts", options.positions.size(), prompts.batch());
  for (size_t b = 0; b < options.positions.size(); ++b) {
    const auto [begin, end] = options.positions[b];
    MECHLENS_CHECK(InputError, 0 <= begin && begin <= end && end <= prompts.positions(),
                   "steering: prompt {} has positions [{}, {}) outside its {} tokens", b, begin, end,
                   prompts.positions());
  }
}

SteeringResult empty_result(const SteeringOptions& options, int64_t batch) {
  const int64_t n = int64_t(options.alphas.size());
  return {options.alphas, torch::zeros({n, batch}), torch::zeros({n, batch}), torch::zeros({n, batch}),
          torch::zeros({n, batch})};
}

// Scores of answer logits [rows, V] into the result's rows (alpha index) and columns (prompts).
void store(SteeringResult& result, const AnswerPrompts& prompts, const torch::Tensor& logits,
           const torch::Tensor& prompt_of_row, const torch::Tensor& alpha_of_row) {
  const std::vector<torch::Tensor> scores = score_answers(prompts, logits, prompt_of_row);
  const torch::Tensor cols = prompt_of_row.to(torch::kCPU), rows = alpha_of_row.to(torch::kCPU);
  result.prob.index_put_({rows, cols}, scores[0]);
  result.logit_diff.index_put_({rows, cols}, scores[1]);
  result.correct.index_put_({rows, cols}, scores[2]);
  if (prompts.wrong.defined()) {
    const torch::Tensor wrong = prompts.wrong.index_select(0, prompt_of_row);
    result.to_wrong.index_put_({rows, cols}, logits.argmax(-1).eq(wrong).to(torch::kCPU, torch::kFloat32));
  }
}

}  // namespace

torch::Tensor mean_difference(const torch::Tensor& activations, const torch::Tensor& labels) {
  MECHLENS_CHECK(InputError, activations.dim() == 2 && labels.dim() == 1 && activations.size(0) == labels.size(0),
                 "mean difference: {} activations for {} labels", activations.size(0), labels.numel());
  const torch::Tensor one = labels.eq(1), zero = labels.eq(0);
  MECHLENS_CHECK(InputError, one.any().item<bool>() && zero.any().item<bool>(),
                 "mean difference needs prompts labelled 0 and 1");
  return activations.index({one}).mean(0) - activations.index({zero}).mean(0);
}

SteeringResult steer(HookedTransformer& model, const AnswerPrompts& prompts, const torch::Tensor& direction,
                     const SteeringOptions& options) {
  check(model, prompts, direction, options);
  torch::NoGradGuard no_grad;
  const ModelConfig& config = model->config();
  const int64_t batch = prompts.batch(), n_pos = prompts.positions();
  std::vector<std::string> patterns;
  for (const std::string& suffix : target_cache_hooks(config)) patterns.push_back("blocks.*." + suffix);
  auto [logits, cache] = model->run_with_cache(prompts.tokens, model->names_filter(patterns));
  const torch::Tensor all = torch::arange(batch, torch::kLong).to(prompts.tokens.device());
  const torch::Tensor base_logits = logits.index({all, prompts.answer_pos});  // [batch, V]

  // Every α starts from the unsteered scores; rows the plan skips (α = 0) keep them exactly.
  SteeringResult result = empty_result(options, batch);
  for (int64_t a = 0; a < int64_t(options.alphas.size()); ++a)
    store(result, prompts, base_logits, all, torch::full({batch}, a, torch::kLong));

  std::vector<InterventionSite> sites;
  for (int64_t a = 0; a < int64_t(options.alphas.size()); ++a) sites.push_back({a, options.layer, -1, -1, 0, 0});
  PlanShape shape;
  shape.batch = batch;
  shape.n_pos = n_pos;
  const torch::Tensor answer_cpu = prompts.answer_pos.to(torch::kCPU);
  shape.answer_pos.assign(answer_cpu.data_ptr<int64_t>(), answer_cpu.data_ptr<int64_t>() + batch);
  shape.max_batch = options.max_batch;
  shape.from_start = config.orthogonal_noise != OrthogonalNoise::kNone || !config.causal();
  shape.causal = config.causal();
  const SiteRange range = [&](const InterventionSite&, int64_t b) { return options.positions[size_t(b)]; };
  const SiteChanges changes = [&](const InterventionSite& site, int64_t, int64_t begin, int64_t end) {
    return options.alphas[size_t(site.flat)] != 0.0 && begin < end;
  };
  set_first_positions(sites, shape, range);
  const std::vector<Pack> packs = plan_layer(sites, options.layer, shape, range, changes);

  const torch::Tensor dir = direction.to(prompts.tokens.device(), torch::kFloat32);
  ProgressBar progress("steering", std::max<int64_t>(plan_work(packs, n_pos), 1), options.progress);
  const TargetRun target{prompts.tokens, &cache, prompts.answer_pos};
  const InstallInterventions add_direction = [&](const PackBatch& pass, HookScope& scope) {
    // [rows, span, 1]: α on each row's steered positions (relative to the pass's first position).
    torch::Tensor weight = torch::zeros({int64_t(pass.pack.rows.size()), pass.span, 1});
    for (size_t r = 0; r < pass.pack.rows.size(); ++r) {
      const PackRow& row = pass.pack.rows[r];
      const double alpha = options.alphas[size_t(pass.pack.sites[size_t(row.run)].flat)];
      weight[int64_t(r)].narrow(0, row.begin - pass.first, row.end - row.begin).fill_(alpha);
    }
    weight = weight.to(dir.device());
    scope.add(model->hook_point(layer_hook_name(pass.pack.layer, "hook_resid_pre")),
              [weight, dir](const torch::Tensor& resid, const HookPointImpl&) { return resid + weight * dir; });
  };
  const ReadAnswers read = [&](const PackBatch& pass, const torch::Tensor& answer_logits) {
    store(result, prompts, answer_logits, pass.prompt_of_row, torch::tensor(pass.flat_of_row, torch::kLong));
  };
  execute_plan(model, packs, target, add_direction, read, progress);
  progress.finish();
  return result;
}

SteeringResult steer_naive(HookedTransformer& model, const AnswerPrompts& prompts, const torch::Tensor& direction,
                           const SteeringOptions& options) {
  check(model, prompts, direction, options);
  torch::NoGradGuard no_grad;
  const int64_t batch = prompts.batch(), n_pos = prompts.positions();
  torch::Tensor mask = torch::zeros({batch, n_pos, 1});
  for (int64_t b = 0; b < batch; ++b) {
    const auto [begin, end] = options.positions[size_t(b)];
    mask[b].narrow(0, begin, end - begin).fill_(1.0);
  }
  const torch::Tensor dir = direction.to(torch::kFloat32);
  const torch::Tensor all = torch::arange(batch, torch::kLong);
  SteeringResult result = empty_result(options, batch);
  for (int64_t a = 0; a < int64_t(options.alphas.size()); ++a) {
    const torch::Tensor add = mask * dir * options.alphas[size_t(a)];
    HookScope scope;
    scope.add(model->hook_point(layer_hook_name(options.layer, "hook_resid_pre")),
              [add](const torch::Tensor& resid, const HookPointImpl&) { return resid + add; });
    const torch::Tensor logits = model->forward(prompts.tokens);
    store(result, prompts, logits.index({all, prompts.answer_pos}), all, torch::full({batch}, a, torch::kLong));
  }
  return result;
}

torch::Tensor probe_direction(const torch::Tensor& activations, const torch::Tensor& labels, uint64_t seed,
                              double* test_accuracy) {
  const torch::Tensor groups = labels.to(torch::kLong);
  MECHLENS_CHECK(InputError,
                 groups.numel() > 0 && groups.min().item<int64_t>() == 0 && groups.max().item<int64_t>() == 1,
                 "probe direction: labels must be 0 and 1 (two groups), both present");
  ProbeOptions options;
  options.seed = seed;
  const ProbeFit fit = fit_probe(activations, groups, probe_split(groups.numel(), options.train_share, seed), options);
  if (test_accuracy != nullptr) *test_accuracy = fit.test_accuracy;
  const torch::Tensor gradient = (fit.weight[1] - fit.weight[0]) / fit.scale;  // [d_model]
  const torch::Tensor reference = mean_difference(activations, groups);
  return gradient / gradient.norm().clamp_min(1e-12) * reference.to(torch::kFloat32).norm();
}

SteeringOptions steering_at(const torch::Tensor& positions, int64_t layer, std::vector<double> alphas,
                            int64_t max_batch) {
  SteeringOptions options;
  options.layer = layer;
  options.alphas = std::move(alphas);
  options.max_batch = max_batch;
  const torch::Tensor at = positions.to(torch::kLong).contiguous();
  for (int64_t b = 0; b < at.numel(); ++b) {
    const int64_t pos = at[b].item<int64_t>();
    options.positions.emplace_back(pos, pos + 1);
  }
  return options;
}

torch::Tensor residual_entering(HookedTransformer& model, const torch::Tensor& tokens, const torch::Tensor& positions,
                                int64_t layer, int64_t max_batch) {
  return activations_at(model, tokens, positions, {layer_hook_name(layer, "hook_resid_pre")}, max_batch, layer + 1)[0];
}

}  // namespace mechlens
