#include "tracing/knockout.h"

#include <torch/torch.h>

#include <algorithm>
#include <limits>
#include <random>

#include "core/intervention_plan.h"
#include "engine/plan_executor.h"
#include "hooks/hook_names.h"
#include "util/error.h"
#include "util/progress.h"
#include "util/shape_format.h"

namespace mechlens {
namespace {

std::vector<int64_t> iota(int64_t begin, int64_t end) {
  std::vector<int64_t> out;
  for (int64_t i = begin; i < end; ++i) out.push_back(i);
  return out;
}

std::vector<int64_t> host_longs(const torch::Tensor& t) {
  torch::Tensor cpu = t.to(torch::kCPU, torch::kLong).contiguous();
  return std::vector<int64_t>(cpu.data_ptr<int64_t>(), cpu.data_ptr<int64_t>() + cpu.numel());
}

// The knock-out of recomputed rows: true at (row, head, dest, src) where the row's run blocks
// source src for destination first + dest. blocked [rows, pos] (bool), dest ranges per row,
// heads per row (-1: every head). Returns bool [rows, n_heads or 1, span, pos] and whether some
// destination has every visible source blocked (its softmax row is then all -inf).
std::pair<torch::Tensor, bool> knockout_mask(const torch::Tensor& blocked,
                                             const std::vector<std::pair<int64_t, int64_t>>& dest,
                                             const std::vector<int64_t>& heads, int64_t first, int64_t n_heads) {
  const int64_t rows = blocked.size(0), n_pos = blocked.size(1);
  const torch::Tensor is_dest = span_mask(dest, n_pos).narrow(1, first, n_pos - first);  // [rows, span]
  // visible[d, s]: source s is at or before destination first + d (causal attention)
  torch::Tensor dest_pos = torch::arange(first, n_pos, torch::kLong).unsqueeze(1);
  torch::Tensor visible = torch::arange(n_pos, torch::kLong).unsqueeze(0).le(dest_pos);    // [span, pos]
  torch::Tensor blocked_visible = blocked.unsqueeze(1).logical_and(visible.unsqueeze(0));  // [rows, span, pos]
  torch::Tensor mask = blocked_visible.logical_and(is_dest.unsqueeze(2));
  const bool every_source =
      blocked_visible.sum(-1).eq(visible.sum(-1).unsqueeze(0)).logical_and(is_dest).any().item<bool>();
  const bool per_head = std::any_of(heads.begin(), heads.end(), [](int64_t h) { return h >= 0; });
  if (!per_head) return {mask.unsqueeze(1), every_source};
  const torch::Tensor head_of_row =
      torch::one_hot(torch::tensor(heads, torch::kLong).clamp_min(0), n_heads).to(torch::kBool);  // [rows, head]
  return {head_of_row.view({rows, n_heads, 1, 1}).logical_and(mask.unsqueeze(1)), every_source};
}

// Hooks that knock out `mask` in layers [layer, layer + window) clipped to the model.
void add_knockout_hooks(HookedTransformer& model, HookScope& scope, int64_t layer, int64_t window,
                        const torch::Tensor& mask, bool every_source) {
  const int64_t last = std::min(layer + window, model->config().n_layers);
  const double minus_inf = -std::numeric_limits<double>::infinity();
  for (int64_t l = layer; l < last; ++l) {
    scope.add(model->hook_point(layer_hook_name(l, "attn.hook_attn_scores")),
              [mask, minus_inf](const torch::Tensor& scores, const HookPointImpl&) {
                return scores.masked_fill(mask, minus_inf);  // [rows, head, dest, src]
              });
    // A fully blocked row has softmax NaN: the head then attends nowhere.
    if (every_source) {
      scope.add(model->hook_point(layer_hook_name(l, "attn.hook_pattern")),
                [](const torch::Tensor& pattern, const HookPointImpl&) { return torch::nan_to_num(pattern, 0.0); });
    }
  }
}

}  // namespace

void validate_answer_prompts(const AnswerPrompts& prompts, const ModelConfig& config) {
  MECHLENS_CHECK(InputError, prompts.tokens.defined() && prompts.tokens.dim() == 2 && prompts.tokens.size(0) > 0,
                 "tokens must be [batch, pos] with at least one prompt, got {}",
                 prompts.tokens.defined() ? format_shape(prompts.tokens.sizes()) : std::string("nothing"));
  const int64_t batch = prompts.batch(), n_pos = prompts.positions();
  for (const auto& [name, tensor] :
       {std::pair{"answer_pos", &prompts.answer_pos}, std::pair{"correct", &prompts.correct}}) {
    MECHLENS_CHECK(InputError, tensor->defined() && tensor->dim() == 1 && tensor->size(0) == batch,
                   "{} must be [{}] (one per prompt), got {}", name, batch,
                   tensor->defined() ? format_shape(tensor->sizes()) : std::string("nothing"));
  }
  MECHLENS_CHECK(InputError, !prompts.wrong.defined() || (prompts.wrong.dim() == 1 && prompts.wrong.size(0) == batch),
                 "wrong must be [{}] (one per prompt), got {}", batch, format_shape(prompts.wrong.sizes()));
  const std::vector<int64_t> answer_pos = host_longs(prompts.answer_pos);
  for (int64_t b = 0; b < batch; ++b) {
    MECHLENS_CHECK(InputError, answer_pos[size_t(b)] >= 0 && answer_pos[size_t(b)] < n_pos,
                   "answer_pos[{}] = {} is outside the prompt's {} positions", b, answer_pos[size_t(b)], n_pos);
  }
  for (const auto& [name, tensor] : {std::pair{"correct", &prompts.correct}, std::pair{"wrong", &prompts.wrong}}) {
    if (!tensor->defined()) continue;
    const std::vector<int64_t> ids = host_longs(*tensor);
    for (size_t b = 0; b < ids.size(); ++b) {
      MECHLENS_CHECK(InputError, ids[b] >= 0 && ids[b] < config.d_vocab,
                     "{}[{}] = {} is not a token id of the model (0..{})", name, b, ids[b], config.d_vocab - 1);
    }
  }
}

SourceSet source_at_position(int64_t pos, int64_t batch, int64_t n_pos) {
  MECHLENS_CHECK(InputError, pos >= 0 && pos < n_pos, "source position {} is outside the prompts' {} positions", pos,
                 n_pos);
  SourceSet set{"pos " + std::to_string(pos), torch::zeros({batch, n_pos}, torch::kBool), {}};
  set.blocked.select(1, pos).fill_(true);
  return set;
}

SourceSet source_from_span(const PositionSpan& span, int64_t n_pos, bool all_but) {
  validate_spans({span}, int64_t(span.per_prompt.size()), n_pos);
  const torch::Tensor inside = span_mask(span.per_prompt, n_pos);  // [batch, pos]
  SourceSet set{all_but ? "all but " + span.name : span.name, all_but ? inside.logical_not() : inside, {}};
  return set;
}

SourceSet random_control_source(std::string name, const std::vector<std::pair<int64_t, int64_t>>& destinations,
                                const torch::Tensor& excluded, uint64_t seed) {
  const int64_t batch = excluded.size(0), n_pos = excluded.size(1);
  MECHLENS_CHECK(InputError, int64_t(destinations.size()) == batch, "{}: {} destinations for {} prompts", name,
                 destinations.size(), batch);
  const torch::Tensor skip = excluded.to(torch::kCPU, torch::kBool).contiguous();
  const bool* skip_data = skip.data_ptr<bool>();
  SourceSet control{std::move(name), torch::zeros({batch, n_pos}, torch::kBool), destinations};
  std::mt19937_64 rng(seed);
  for (int64_t b = 0; b < batch; ++b) {
    // Sources a destination sees, before it (the destinations themselves are not candidates).
    const auto [begin, end] = destinations[size_t(b)];
    std::vector<int64_t> candidates;
    for (int64_t p = 0; end > begin && p < begin; ++p) {
      if (!skip_data[b * n_pos + p]) candidates.push_back(p);
    }
    if (candidates.empty()) continue;
    control.blocked[b][candidates[std::uniform_int_distribution<size_t>(0, candidates.size() - 1)(rng)]] = true;
  }
  return control;
}

struct KnockoutSession::Grid {
  std::vector<std::string> dims;
  std::vector<std::vector<int64_t>> labels;
  std::vector<int64_t> shape;
  std::vector<std::pair<int64_t, int64_t>> dest;                      // [batch]
  std::vector<std::vector<std::pair<int64_t, int64_t>>> dest_of_set;  // per source set: [batch]
  std::vector<InterventionSite> sites;                                // row-major over dims; span = source-set index
  std::vector<torch::Tensor> blocked;                                 // per source set: bool [batch, pos]
  std::vector<std::vector<int64_t>> first_blocked;  // per source set and prompt: earliest blocked position
};

std::vector<torch::Tensor> score_answers(const AnswerPrompts& prompts, const torch::Tensor& logits,
                                         const torch::Tensor& prompt_of_row) {
  // logits [rows, V]
  torch::Tensor correct = prompts.correct.index_select(0, prompt_of_row).unsqueeze(1);
  torch::Tensor log_probs = torch::log_softmax(logits.to(torch::kFloat64), -1);
  torch::Tensor prob = log_probs.gather(1, correct).squeeze(1).exp();
  torch::Tensor logit_diff;
  if (prompts.wrong.defined()) {
    torch::Tensor wrong = prompts.wrong.index_select(0, prompt_of_row).unsqueeze(1);
    logit_diff = (logits.gather(1, correct) - logits.gather(1, wrong)).squeeze(1);
  } else {
    logit_diff = torch::zeros_like(prob);
  }
  torch::Tensor top = logits.argmax(-1).eq(correct.squeeze(1));
  return {prob.to(torch::kCPU, torch::kFloat32), logit_diff.to(torch::kCPU, torch::kFloat32),
          top.to(torch::kCPU, torch::kFloat32)};
}

KnockoutSession::KnockoutSession(HookedTransformer model, AnswerPrompts prompts)
    : model_(std::move(model)), prompts_(std::move(prompts)) {
  // The prompts live where the model runs; scores come back to the host per batch.
  prompts_.move_to(model_->device());
  validate_answer_prompts(prompts_, model_->config());
  model_->check_tokens(prompts_.tokens);
  model_->eval();
  torch::NoGradGuard no_grad;
  std::vector<std::string> patterns;
  for (const std::string& suffix : target_cache_hooks(model_->config())) patterns.push_back("blocks.*." + suffix);
  auto [logits, cache] = model_->run_with_cache(prompts_.tokens, model_->names_filter(patterns));
  cache_ = std::move(cache);
  torch::Tensor all = torch::arange(prompts_.batch(), torch::kLong).to(prompts_.tokens.device());
  base_ = score(logits.index({all, prompts_.answer_pos}), all);
}

std::vector<torch::Tensor> KnockoutSession::score(const torch::Tensor& logits,
                                                  const torch::Tensor& prompt_of_row) const {
  return score_answers(prompts_, logits, prompt_of_row);
}

KnockoutSession::Grid KnockoutSession::grid(const KnockoutOptions& options) const {
  const ModelConfig& config = model_->config();
  const int64_t batch = prompts_.batch(), n_pos = prompts_.positions();
  MECHLENS_CHECK(InputError, options.window >= 1 && options.window <= config.n_layers,
                 "the knock-out window must hold 1..{} layers (the model's), got {}", config.n_layers, options.window);
  MECHLENS_CHECK(InputError, !options.sources.empty(), "a knock-out needs at least one source set");
  Grid grid;
  const std::vector<int64_t> layers =
      options.layers.empty() ? iota(0, config.n_layers - options.window + 1) : options.layers;
  for (int64_t layer : layers) {
    MECHLENS_CHECK(InputError, layer >= 0 && layer < config.n_layers,
                   "layer {} is out of range: the model has {} layers (0..{})", layer, config.n_layers,
                   config.n_layers - 1);
  }
  std::vector<int64_t> heads{-1};
  if (options.per_head) {
    heads = options.heads.empty() ? iota(0, config.n_heads) : options.heads;
    for (int64_t head : heads) {
      MECHLENS_CHECK(InputError, head >= 0 && head < config.n_heads,
                     "head {} is out of range: the model has {} heads per layer (0..{})", head, config.n_heads,
                     config.n_heads - 1);
    }
  }
  for (const SourceSet& set : options.sources) {
    MECHLENS_CHECK(InputError,
                   set.blocked.defined() && set.blocked.sizes() == torch::IntArrayRef({batch, n_pos}) &&
                       set.blocked.scalar_type() == torch::kBool,
                   "source set '{}' must be bool [{}, {}] (prompts, positions), got {}", set.name, batch, n_pos,
                   set.blocked.defined() ? format_shape(set.blocked.sizes()) : std::string("nothing"));
    grid.blocked.push_back(set.blocked.to(torch::kCPU).contiguous());
    // the first blocked position, n_pos where none is
    torch::Tensor position = torch::arange(n_pos, torch::kLong).expand({batch, n_pos});
    grid.first_blocked.push_back(host_longs(std::get<0>(torch::where(grid.blocked.back(), position, n_pos).min(1))));
  }
  if (options.destinations.empty()) {
    for (int64_t pos : host_longs(prompts_.answer_pos)) grid.dest.emplace_back(pos, pos + 1);
  } else {
    validate_spans({PositionSpan{"destinations", options.destinations}}, batch, n_pos);
    grid.dest = options.destinations;
  }
  for (const SourceSet& set : options.sources) {
    if (!set.destinations.empty())
      validate_spans({PositionSpan{"destinations of " + set.name, set.destinations}}, batch, n_pos);
    grid.dest_of_set.push_back(set.destinations.empty() ? grid.dest : set.destinations);
  }
  std::vector<int64_t> source_index = iota(0, int64_t(options.sources.size()));
  grid.dims = options.per_head ? std::vector<std::string>{"layer", "head", "source"}
                               : std::vector<std::string>{"layer", "source"};
  grid.labels = options.per_head ? std::vector<std::vector<int64_t>>{layers, heads, source_index}
                                 : std::vector<std::vector<int64_t>>{layers, source_index};
  for (const auto& labels : grid.labels) grid.shape.push_back(int64_t(labels.size()));
  int64_t flat = 0;
  for (int64_t layer : layers)
    for (int64_t head : heads)
      for (int64_t s : source_index) grid.sites.push_back(InterventionSite{flat++, layer, -1, head, s, 0});
  PlanShape shape;
  shape.batch = batch;
  shape.n_pos = n_pos;
  set_first_positions(grid.sites, shape, [&grid](const InterventionSite& site, int64_t b) {
    return grid.dest_of_set[size_t(site.span)][size_t(b)];
  });
  return grid;
}

KnockoutResult KnockoutSession::run(const KnockoutOptions& options) {
  torch::NoGradGuard no_grad;
  const Grid plan = grid(options);
  const ModelConfig& config = model_->config();
  const int64_t batch = prompts_.batch(), n_pos = prompts_.positions();
  const int64_t n_sites = int64_t(plan.sites.size());
  // [sites, batch], from the run without knock-out: skipped rows keep it exactly.
  std::vector<torch::Tensor> site_prompt;
  for (const torch::Tensor& base : base_) site_prompt.push_back(base.unsqueeze(0).repeat({n_sites, 1}));

  PlanShape shape;
  shape.batch = batch;
  shape.n_pos = n_pos;
  shape.answer_pos = host_longs(prompts_.answer_pos);
  shape.max_batch = options.max_batch;
  shape.from_start = config.orthogonal_noise != OrthogonalNoise::kNone || !config.causal();
  shape.causal = config.causal();
  const SiteRange range = [&plan](const InterventionSite& site, int64_t b) {
    return plan.dest_of_set[size_t(site.span)][size_t(b)];
  };
  // A row changes only where a blocked source is visible to one of its destinations (s <= end - 1).
  const SiteChanges changes = [&plan](const InterventionSite& site, int64_t b, int64_t, int64_t end) {
    return plan.first_blocked[size_t(site.span)][size_t(b)] < end;
  };
  std::vector<Pack> packs;
  for (int64_t layer : plan.labels.front()) {
    std::vector<Pack> layer_packs =
        plan_layer(plan.sites, layer, shape, range, options.skip_unchanged ? changes : nullptr);
    packs.insert(packs.end(), std::make_move_iterator(layer_packs.begin()), std::make_move_iterator(layer_packs.end()));
  }

  ProgressBar progress("knock-out", std::max<int64_t>(plan_work(packs, n_pos), 1), options.progress);
  const torch::Tensor all_blocked = torch::cat(plan.blocked);  // [sets * batch, pos]
  const TargetRun target{prompts_.tokens, &cache_, prompts_.answer_pos};
  const InstallInterventions knock_out = [&](const PackBatch& pass, HookScope& scope) {
    std::vector<int64_t> blocked_row;  // row of all_blocked: set * batch + prompt
    std::vector<std::pair<int64_t, int64_t>> dest;
    std::vector<int64_t> heads;
    for (const PackRow& row : pass.pack.rows) {
      const InterventionSite& site = pass.pack.sites[size_t(row.run)];
      blocked_row.push_back(site.span * batch + row.prompt);
      dest.emplace_back(row.begin, row.end);
      heads.push_back(site.head);
    }
    const torch::Tensor blocked = all_blocked.index_select(0, torch::tensor(blocked_row, torch::kLong));
    auto [mask, every_source] = knockout_mask(blocked, dest, heads, pass.first, config.n_heads);
    add_knockout_hooks(model_, scope, pass.pack.layer, options.window, mask.to(prompts_.tokens.device()), every_source);
  };
  // [rows, 3]: probability, logit difference and top-1 hit of each row
  const ScoreRows read = [&](const PackBatch& pass, const torch::Tensor& logits) {
    return torch::stack(score(logits, pass.prompt_of_row), 1);
  };
  execute_plan_shared(model_, packs, target, knock_out, read, site_prompt, "knockout", options.sharing, progress);
  const ExecutionCost cost = plan_cost(config, packs, n_pos);
  progress.finish();
  KnockoutResult result = finish(plan, options, site_prompt[0], site_prompt[1], site_prompt[2]);
  result.rows_computed = cost.rows;
  result.flops = cost.flops;
  return result;
}

KnockoutResult KnockoutSession::run_naive(const KnockoutOptions& options) {
  torch::NoGradGuard no_grad;
  const Grid plan = grid(options);
  const int64_t batch = prompts_.batch(), n_sites = int64_t(plan.sites.size());
  std::vector<torch::Tensor> site_prompt(3);
  for (auto& t : site_prompt) t = torch::zeros({n_sites, batch});
  const torch::Tensor all = torch::arange(batch, torch::kLong).to(prompts_.tokens.device());
  for (const InterventionSite& site : plan.sites) {
    auto [mask, every_source] =
        knockout_mask(plan.blocked[size_t(site.span)], plan.dest_of_set[size_t(site.span)],
                      std::vector<int64_t>(size_t(batch), site.head), 0, model_->config().n_heads);
    HookScope scope;
    add_knockout_hooks(model_, scope, site.layer, options.window, mask.to(prompts_.tokens.device()), every_source);
    torch::Tensor logits = model_->forward(prompts_.tokens);
    scope.release();
    const std::vector<torch::Tensor> scores = score(logits.index({all, prompts_.answer_pos}), all);
    for (size_t i = 0; i < scores.size(); ++i) site_prompt[i][site.flat] = scores[i];
  }
  KnockoutResult result = finish(plan, options, site_prompt[0], site_prompt[1], site_prompt[2]);
  result.method = "naive";
  return result;
}

KnockoutResult KnockoutSession::finish(const Grid& grid, const KnockoutOptions& options, torch::Tensor prob,
                                       torch::Tensor logit_diff, torch::Tensor correct) const {
  KnockoutResult result;
  result.dims = grid.dims;
  result.labels = grid.labels;
  for (const SourceSet& set : options.sources) result.source_names.push_back(set.name);
  result.window = options.window;
  std::vector<int64_t> per_prompt_shape = grid.shape;
  per_prompt_shape.push_back(prompts_.batch());
  result.base_prob = base_[0];
  result.base_logit_diff = base_[1];
  result.base_correct = base_[2];
  result.base_accuracy = base_[2].mean().item<double>();
  // Relative change (p - p0) / p0; p0 floored so that a prompt the model already fails stays finite.
  const torch::Tensor p0 = base_[0].clamp_min(1e-12);
  result.relative_prob_change = ((prob - p0) / p0).mean(-1).view(grid.shape);
  if (prompts_.wrong.defined()) result.logit_diff_change = (logit_diff - base_[1]).mean(-1).view(grid.shape);
  result.accuracy = correct.mean(-1).view(grid.shape);
  result.prob = prob.view(per_prompt_shape);
  if (prompts_.wrong.defined()) result.logit_diff = logit_diff.view(per_prompt_shape);
  else result.base_logit_diff = torch::Tensor();
  result.correct = correct.view(per_prompt_shape);
  return result;
}

}  // namespace mechlens
