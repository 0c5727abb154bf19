#include "patching/patching.h"

#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <random>

#include "core/activation_layout.h"
#include "core/intervention_plan.h"
#include "engine/plan_executor.h"
#include "store/record_reader.h"
#include "util/error.h"
#include "util/progress.h"
#include "util/shape_format.h"

namespace mechlens {

Ablation parse_ablation(const std::string& text) {
  if (text == "none") return Ablation::kNone;
  if (text == "zero") return Ablation::kZero;
  if (text == "mean") return Ablation::kMean;
  if (text == "resample") return Ablation::kResample;
  MECHLENS_FAIL(InputError, "unknown ablation '{}'; expected none, zero, mean or resample", text);
}

std::string ablation_name(Ablation ablation) {
  switch (ablation) {
    case Ablation::kNone:
      return "none";
    case Ablation::kZero:
      return "zero";
    case Ablation::kMean:
      return "mean";
    case Ablation::kResample:
      return "resample";
  }
  return "?";
}

struct PatchingSession::Layout {
  std::vector<std::string> dims;
  std::vector<std::vector<int64_t>> labels;
  std::vector<int64_t> shape;
  std::vector<int64_t> layers, positions, heads;
  const std::vector<PositionSpan>* spans = nullptr;  // set when sites patch named spans
  int64_t n_pos = 0;
  std::vector<InterventionSite> sites;  // one per patched run, in row-major result order

  // Positions [begin, end) that a site patches in prompt b.
  std::pair<int64_t, int64_t> range(const InterventionSite& site, int64_t b) const {
    if (site.span >= 0) return (*spans)[size_t(site.span)].per_prompt[size_t(b)];
    if (site.pos >= 0) return {site.pos, site.pos + 1};
    return {0, n_pos};
  }
};

namespace {

std::vector<int64_t> range(int64_t n) {
  std::vector<int64_t> out(n);
  for (int64_t i = 0; i < n; ++i) out[i] = i;
  return out;
}

torch::Tensor long_tensor(const std::vector<int64_t>& values) {
  return torch::tensor(values, torch::TensorOptions().dtype(torch::kLong));
}

// Every layer's activation of the given hook suffixes, as caches of the clean and corrupted runs.
std::pair<torch::Tensor, ActivationCache> cached_run(HookedTransformer& model, const torch::Tensor& tokens,
                                                     const std::vector<std::string>& suffixes) {
  std::vector<std::string> patterns;
  for (const auto& suffix : suffixes) patterns.push_back("blocks.*." + suffix);
  return model->run_with_cache(tokens, model->names_filter(patterns));
}

// A seeded permutation of 0..n-1 without fixed points: each prompt takes another prompt's value.
torch::Tensor derangement(int64_t n, uint64_t seed) {
  std::vector<int64_t> order = range(n);
  std::mt19937_64 rng(seed);
  std::shuffle(order.begin(), order.end(), rng);
  for (int64_t i = 0; i < n; ++i) {
    if (order[i] == i) std::swap(order[i], order[(i + 1) % n]);
  }
  return long_tensor(order);
}

}  // namespace

PatchingSession::PatchingSession(HookedTransformer model, PatchingInputs inputs, MetricKind metric, bool progress)
    : model_(std::move(model)), inputs_(std::move(inputs)) {
  // Every per-prompt input lives where the model runs (a GPU's); results come back per batch.
  const torch::Device device = model_->device();
  inputs_.move_to(device);
  validate_inputs(inputs_, model_->config());
  model_->check_tokens(inputs_.clean);
  model_->check_tokens(inputs_.corrupted);
  model_->eval();
  torch::NoGradGuard no_grad;
  const std::vector<std::string> base = target_cache_hooks(model_->config());
  ProgressBar setup("patch set-up: clean and corrupted runs", 2, progress);
  auto [clean_logits, clean_cache] = cached_run(model_, inputs_.clean, base);
  setup.advance(1, "clean cached");
  auto [corrupted_logits, corrupted_cache] = cached_run(model_, inputs_.corrupted, base);
  setup.advance(1, "corrupted cached");
  setup.finish();
  clean_cache_ = std::move(clean_cache);
  corrupted_cache_ = std::move(corrupted_cache);
  clean_logits_ = answer_logits(clean_logits);
  corrupted_logits_ = answer_logits(corrupted_logits);
  if (!inputs_.correct.defined()) {
    // Default answers: what each run itself predicts; an encoder without a head has none (cosine).
    if (model_->config().has_unembed) {
      inputs_.correct = clean_logits_.argmax(-1).to(device);
      inputs_.wrong = corrupted_logits_.argmax(-1).to(device);
    } else {
      inputs_.correct = inputs_.wrong = torch::zeros({inputs_.batch()}, torch::dtype(torch::kLong).device(device));
    }
  }
  metric_ = Metric(metric, inputs_, clean_logits_);
  clean_metric_ = metric_.mean(clean_logits_).item<double>();
  corrupted_metric_ = metric_.mean(corrupted_logits_).item<double>();
  clean_per_prompt_ = metric_.per_prompt(clean_logits_).to(torch::kCPU, torch::kFloat32);
  corrupted_per_prompt_ = metric_.per_prompt(corrupted_logits_).to(torch::kCPU, torch::kFloat32);
}

torch::Tensor PatchingSession::answer_logits(const torch::Tensor& logits) const {
  // logits [batch, pos, V] -> [batch, V] at each prompt's answer position
  return logits.index({torch::arange(logits.size(0), inputs_.answer_pos.options()), inputs_.answer_pos});
}

void PatchingSession::ensure_cached(const std::string& hook_suffix) {
  torch::NoGradGuard no_grad;
  for (auto [tokens, cache] :
       {std::pair{&inputs_.clean, &clean_cache_}, std::pair{&inputs_.corrupted, &corrupted_cache_}}) {
    bool complete = true;
    for (int64_t layer = 0; layer < model_->config().n_layers; ++layer) {
      complete = complete && cache->contains(layer_hook_name(layer, hook_suffix));
    }
    if (complete) continue;
    ActivationCache extra = cached_run(model_, *tokens, {hook_suffix}).second;
    for (const auto& name : extra.names()) {
      if (cache->contains(name)) continue;  // e.g. taken from a record
      cache->insert(name, extra.at(name));
      cache->set_dims(name, extra.dims(name));
    }
  }
}

std::vector<std::string> PatchingSession::use_clean_record(const std::string& path,
                                                           const std::string& checkpoint_sha256) {
  RecordReader reader(path);
  if (!checkpoint_sha256.empty()) {
    const std::string recorded = reader.attribute("checkpoint_sha256");
    MECHLENS_CHECK(InputError, recorded == checkpoint_sha256,
                   "{}: the record was made by checkpoint {} (sha256 {}), not by the one patched here (sha256 {}); "
                   "its activations would score the wrong model",
                   path, reader.attribute("checkpoint"), recorded, checkpoint_sha256);
  }
  const torch::Tensor tokens = reader.read_tokens();
  const torch::Tensor& clean = inputs_.clean;
  MECHLENS_CHECK(InputError,
                 tokens.size(0) == clean.size(0) && tokens.size(1) >= clean.size(1) &&
                     torch::equal(tokens.narrow(1, 0, clean.size(1)), clean.to(torch::kCPU, torch::kLong)),
                 "{}: /tokens do not hold the clean prompts ({} prompts of {} tokens expected, found {})", path,
                 clean.size(0), clean.size(1), format_shape(tokens.sizes()));
  std::vector<std::string> taken;
  for (const std::string& hook : reader.hooks()) {
    if (hook.rfind("blocks.", 0) != 0) continue;  // embeddings: not patchable components
    const std::vector<int64_t> expected = model_->hook_shape(hook, clean.size(0), clean.size(1));
    torch::Tensor values = reader.read_hook(hook);
    MECHLENS_CHECK(InputError, values.sizes().vec() == expected,
                   "{}: /acts/{} has shape {}, but patching needs every position and head: {} (record it with "
                   "--positions all --heads all)",
                   path, hook, format_shape(values.sizes()), format_shape(expected));
    clean_cache_.insert(hook, values.to(clean.device(), torch::kFloat32));
    taken.push_back(hook);
  }
  return taken;
}

const torch::Tensor& PatchingSession::activation(bool clean, const std::string& hook_name) {
  const auto dot = hook_name.find('.', std::string("blocks.").size());
  MECHLENS_CHECK(HookError, hook_name.rfind("blocks.", 0) == 0 && dot != std::string::npos,
                 "'{}' is not a per-layer hook name (blocks.L.NAME)", hook_name);
  ensure_cached(hook_name.substr(dot + 1));
  return (clean ? clean_cache_ : corrupted_cache_).at(hook_name);
}

PatchingSession::Layout PatchingSession::layout(const Component& component, const PatchOptions& options) const {
  const ModelConfig& config = model_->config();
  const int64_t n_pos = inputs_.positions();
  Layout out;
  out.n_pos = n_pos;
  out.layers = options.layers.empty() ? range(config.n_layers) : options.layers;
  for (int64_t layer : out.layers) {
    MECHLENS_CHECK(InputError, layer >= 0 && layer < config.n_layers,
                   "layer {} is out of range: the model has {} layers (0..{})", layer, config.n_layers,
                   config.n_layers - 1);
  }
  const bool by_span = !options.spans.empty() && !component.all_positions;
  if (by_span) {
    validate_spans(options.spans, inputs_.batch(), n_pos);
    out.spans = &options.spans;
    out.positions = range(int64_t(options.spans.size()));
  } else {
    out.positions = options.positions.empty() ? range(n_pos) : options.positions;
  }
  for (int64_t pos : out.positions) {
    MECHLENS_CHECK(InputError, by_span || (pos >= 0 && pos < n_pos),
                   "position {} is out of range: the prompts have {} tokens (0..{})", pos, n_pos, n_pos - 1);
  }
  out.heads = range(component.n_heads(config));
  out.dims = component.dims(config);
  for (auto& dim : out.dims) {
    if (dim == "layer") out.labels.push_back(out.layers);
    else if (dim == "head" || dim == "kv_head") out.labels.push_back(out.heads);
    else out.labels.push_back(out.positions);  // pos or dest: a position, or a span's index
    if (by_span && (dim == "pos" || dim == "dest")) dim = "span";
    out.shape.push_back(int64_t(out.labels.back().size()));
  }
  auto site = [&](int64_t flat, int64_t layer, int64_t pos, int64_t head) {
    return InterventionSite{flat, layer, by_span ? -1 : pos, head, by_span && pos >= 0 ? pos : -1, 0};
  };
  int64_t flat = 0;
  for (int64_t layer : out.layers) {
    if (!component.is_head()) {
      for (int64_t pos : out.positions) out.sites.push_back(site(flat++, layer, pos, -1));
    } else if (component.all_positions) {
      for (int64_t head : out.heads) out.sites.push_back(site(flat++, layer, -1, head));
    } else if (component.is_pattern()) {
      for (int64_t head : out.heads)
        for (int64_t pos : out.positions) out.sites.push_back(site(flat++, layer, pos, head));
    } else {
      for (int64_t pos : out.positions)
        for (int64_t head : out.heads) out.sites.push_back(site(flat++, layer, pos, head));
    }
  }
  PlanShape shape;
  shape.batch = inputs_.batch();
  shape.n_pos = n_pos;
  set_first_positions(out.sites, shape, [&out](const InterventionSite& s, int64_t b) { return out.range(s, b); });
  return out;
}

torch::Tensor PatchingSession::source_activation(const Component& component, int64_t layer,
                                                 const PatchOptions& options) {
  const std::string name = component.hook_name(layer);
  if (options.ablation == Ablation::kNone) return activation(options.direction == Direction::kDenoising, name);
  const torch::Tensor& clean = activation(true, name);  // [batch, ...]
  switch (options.ablation) {
    case Ablation::kZero:
      return torch::zeros_like(clean);
    case Ablation::kMean:
      return clean.mean(0, /*keepdim=*/true).expand_as(clean);
    case Ablation::kResample:
      MECHLENS_CHECK(InputError, clean.size(0) >= 2, "resample ablation needs at least 2 prompts, got {}",
                     clean.size(0));
      return clean.index_select(0, derangement(clean.size(0), options.seed).to(clean.device()));
    case Ablation::kNone:
      break;
  }
  return {};
}

PatchResult PatchingSession::empty_result(const Component& component, const PatchOptions& options,
                                          const Layout& layout) const {
  PatchResult result;
  result.component = component;
  result.dims = layout.dims;
  result.labels = layout.labels;
  result.metric = torch::zeros(layout.shape);
  result.clean_metric = clean_metric_;
  result.corrupted_metric = corrupted_metric_;
  // An ablation replaces activations of the clean run, so it reads like noising.
  result.direction = options.ablation == Ablation::kNone ? options.direction : Direction::kNoising;
  result.metric_kind = metric_.kind();
  result.ablation = options.ablation;
  if (layout.spans != nullptr) {
    for (const PositionSpan& span : *layout.spans) result.span_names.push_back(span.name);
  }
  return result;
}

namespace {

// Where a patch can change a run: false where the source value equals the target run's value
// bitwise. Source and target [batch, ...] -> bool [batch, ...] without the last (feature) axis, on
// the host and contiguous.
torch::Tensor differs(const torch::Tensor& source, const torch::Tensor& target) {
  return source.ne(target).any(-1).to(torch::kCPU).contiguous();  // drop d_model / d_head / src
}

// Whether differs() holds anywhere in positions [begin, end) of prompt b at `head` (-1: no head axis).
bool changed_in(const bool* changed, const std::vector<int64_t>& strides, const ActivationLayout& layout, int64_t b,
                int64_t head, int64_t begin, int64_t end) {
  for (int64_t p = begin; p < end; ++p) {
    if (changed[layout.offset(strides, b, p, std::max<int64_t>(head, 0))]) return true;
  }
  return false;
}

// Which entries of a pack's activation take the source value: bool, broadcastable to the activation
// [rows, ...] over the recomputed positions pack.first..n_pos-1.
torch::Tensor patch_mask(const ActivationLayout& layout, const Pack& pack, int64_t span, int64_t n_heads) {
  const int64_t n_rows = int64_t(pack.rows.size());
  const std::vector<int64_t> shape = layout.mask_shape(n_rows, span, layout.has_heads() ? n_heads : 1);
  torch::Tensor mask = torch::zeros(shape, torch::kBool);
  const std::vector<int64_t> strides = mask.strides().vec();
  bool* data = mask.data_ptr<bool>();
  for (int64_t r = 0; r < n_rows; ++r) {
    const PackRow& row = pack.rows[size_t(r)];
    const int64_t h = std::max<int64_t>(pack.sites[size_t(row.run)].head, 0);
    for (int64_t p = row.begin - pack.first; p < row.end - pack.first; ++p)
      data[layout.offset(strides, r, p, h)] = true;
  }
  return mask;
}

}  // namespace

PatchResult PatchingSession::run(const Component& component, const PatchOptions& options) {
  torch::NoGradGuard no_grad;
  const Layout plan = layout(component, options);
  PatchResult result = empty_result(component, options, plan);
  const bool into_clean = result.direction == Direction::kNoising;
  const torch::Tensor& target_tokens = into_clean ? inputs_.clean : inputs_.corrupted;
  const ActivationCache& target = into_clean ? clean_cache_ : corrupted_cache_;
  const torch::Tensor& target_logits = into_clean ? clean_logits_ : corrupted_logits_;
  const ModelConfig& config = model_->config();
  const int64_t batch = inputs_.batch(), n_pos = inputs_.positions();
  const torch::Device device = inputs_.clean.device();
  const std::vector<int64_t> answer_pos = [&] {
    torch::Tensor cpu = inputs_.answer_pos.to(torch::kCPU, torch::kLong).contiguous();
    return std::vector<int64_t>(cpu.data_ptr<int64_t>(), cpu.data_ptr<int64_t>() + batch);
  }();

  // Per patched run and prompt: the metric, starting from the unpatched target run's. A patch leaves
  // a prompt unchanged when its source equals the target value, or when the prompt's answer precedes
  // the patched position (causal attention); only the other (run, prompt) rows are recomputed.
  torch::Tensor per_prompt = metric_.per_prompt(target_logits).to(torch::kCPU, torch::kFloat64);  // [batch]
  torch::Tensor site_prompt = per_prompt.unsqueeze(0).repeat({int64_t(plan.sites.size()), 1});    // [sites, batch]

  // The plan (analyses/core/intervention_plan.h): which (run, prompt) rows are recomputed, packed
  // into which forward passes. Orthogonal noise reads the attention input of every source position,
  // which is not cached, so its passes start at position 0.
  const ActivationLayout act_layout =
      ActivationLayout::from_dims(model_->hook_point(component.hook_name(plan.layers.front()))->dims());
  PlanShape shape;
  shape.batch = batch;
  shape.n_pos = n_pos;
  shape.answer_pos = answer_pos;
  shape.max_batch = options.max_batch;
  shape.from_start = config.orthogonal_noise != OrthogonalNoise::kNone || !config.causal();
  shape.causal = config.causal();
  const SiteRange range = [&plan](const InterventionSite& site, int64_t b) { return plan.range(site, b); };
  std::vector<Pack> packs;
  std::map<int64_t, torch::Tensor> sources;  // layer -> [batch, ...]
  // Planning caches the component's activations (a forward of each run the first time) and
  // compares sources with targets: shown, as it can take a while on large inputs.
  ProgressBar planning("planning " + component.name(), int64_t(plan.layers.size()), options.progress);
  for (int64_t layer : plan.layers) {
    sources[layer] = source_activation(component, layer, options);
    torch::Tensor changed;
    if (options.skip_unchanged) changed = differs(sources[layer], activation(into_clean, component.hook_name(layer)));
    SiteChanges changes;
    std::vector<int64_t> strides;
    if (changed.defined()) {
      strides = changed.strides().vec();
      changes = [&](const InterventionSite& site, int64_t b, int64_t begin, int64_t end) {
        return changed_in(changed.data_ptr<bool>(), strides, act_layout, b, site.head, begin, end);
      };
    }
    std::vector<Pack> layer_packs = plan_layer(plan.sites, layer, shape, range, changes);
    packs.insert(packs.end(), std::make_move_iterator(layer_packs.begin()), std::make_move_iterator(layer_packs.end()));
    planning.advance();
  }

  planning.finish();
  // Progress counts work (rows x recomputed positions), not runs: early-position runs cost more.
  ProgressBar progress("patching " + component.name(), std::max<int64_t>(plan_work(packs, n_pos), 1), options.progress);
  const TargetRun target_run{target_tokens, &target, inputs_.answer_pos};
  const InstallInterventions patch = [&](const PackBatch& pass, HookScope& scope) {
    // [rows, ...] over the recomputed positions
    torch::Tensor source = sources[pass.pack.layer]
                               .narrow(act_layout.position_dim, pass.first, pass.span)
                               .index_select(0, pass.prompt_of_row);
    torch::Tensor mask = patch_mask(act_layout, pass.pack, pass.span, component.n_heads(config)).to(device);
    scope.add(
        model_->hook_point(component.hook_name(pass.pack.layer)),
        [source, mask](const torch::Tensor& act, const HookPointImpl&) { return torch::where(mask, source, act); });
  };
  const ScoreRows score = [&](const PackBatch& pass, const torch::Tensor& logits) {
    return metric_.per_prompt(logits, pass.prompt_of_row);
  };
  execute_plan_shared(model_, packs, target_run, patch, score, {site_prompt}, component.name(), options.sharing,
                      progress);
  const ExecutionCost cost = plan_cost(config, packs, n_pos);
  result.rows_computed = cost.rows;
  result.flops = cost.flops;
  progress.finish();
  result.metric = site_prompt.mean(1).to(torch::kFloat32).view(plan.shape);
  std::vector<int64_t> per_prompt_shape = plan.shape;
  per_prompt_shape.push_back(batch);
  result.per_prompt = site_prompt.to(torch::kFloat32).view(per_prompt_shape);
  result.normalised = normalise(result.metric, result.direction, clean_metric_, corrupted_metric_);
  return result;
}

PatchResult PatchingSession::run_naive(const Component& component, const PatchOptions& options) {
  torch::NoGradGuard no_grad;
  const Layout plan = layout(component, options);
  PatchResult result = empty_result(component, options, plan);
  result.method = "naive";
  const bool into_clean = result.direction == Direction::kNoising;
  const torch::Tensor& target_tokens = into_clean ? inputs_.clean : inputs_.corrupted;
  torch::Tensor flat_metric = result.metric.view({-1});
  torch::Tensor site_prompt = torch::zeros({int64_t(plan.sites.size()), inputs_.batch()});  // [sites, batch]
  const torch::Tensor all_prompts = torch::arange(inputs_.batch(), torch::kLong).to(inputs_.clean.device());
  std::map<int64_t, torch::Tensor> sources;  // layer -> [batch, ...]
  for (const InterventionSite& site : plan.sites) {
    if (!sources.count(site.layer)) sources[site.layer] = source_activation(component, site.layer, options);
    const torch::Tensor& source = sources[site.layer];
    auto patch = [&](const torch::Tensor& act, const HookPointImpl&) {
      torch::Tensor out = act.clone();
      for (int64_t b = 0; b < inputs_.batch(); ++b) {
        const auto [begin, end] = plan.range(site, b);
        torch::Tensor to = out[b], from = source[b];
        if (component.is_pattern()) {  // [head, dest, src]
          to = to[site.head].narrow(0, begin, end - begin), from = from[site.head].narrow(0, begin, end - begin);
        } else {  // [pos, ...]
          to = to.narrow(0, begin, end - begin), from = from.narrow(0, begin, end - begin);
          if (site.head >= 0) to = to.select(1, site.head), from = from.select(1, site.head);
        }
        to.copy_(from);
      }
      return out;
    };
    torch::Tensor logits = model_->run_with_hooks(target_tokens, {{component.hook_name(site.layer), patch}});
    const torch::Tensor per_prompt = metric_.per_prompt(answer_logits(logits), all_prompts).to(torch::kCPU);
    site_prompt[site.flat] = per_prompt;
    flat_metric[site.flat] = per_prompt.to(torch::kFloat64).mean().item<double>();
  }
  std::vector<int64_t> per_prompt_shape = plan.shape;
  per_prompt_shape.push_back(inputs_.batch());
  result.per_prompt = site_prompt.view(per_prompt_shape);
  result.normalised = normalise(result.metric, result.direction, clean_metric_, corrupted_metric_);
  return result;
}

PatchResult PatchingSession::attribution(const Component& component, const PatchOptions& options) {
  const Layout plan = layout(component, options);
  PatchResult result = empty_result(component, options, plan);
  result.method = "attribution";
  const bool into_clean = result.direction == Direction::kNoising;
  const torch::Tensor& target_tokens = into_clean ? inputs_.clean : inputs_.corrupted;

  torch::AutoGradMode grad_mode(true);
  std::vector<torch::Tensor> acts(plan.layers.size());
  HookScope scope;
  for (size_t i = 0; i < plan.layers.size(); ++i) {
    scope.add(model_->hook_point(component.hook_name(plan.layers[i])),
              [&acts, i](const torch::Tensor& act, const HookPointImpl&) {
                acts[i] = act;
                return torch::Tensor();
              });
  }
  torch::Tensor value = metric_.mean(answer_logits(model_->forward(target_tokens)));
  scope.release();
  std::vector<torch::Tensor> grads =
      torch::autograd::grad({value}, acts, /*grad_outputs=*/{}, /*retain_graph=*/false, /*create_graph=*/false,
                            /*allow_unused=*/true);

  torch::NoGradGuard no_grad;
  torch::Tensor positions = long_tensor(plan.positions).to(inputs_.clean.device());
  // Named spans: a [span, batch, pos] weight that sums each prompt's span positions.
  torch::Tensor span_weights;
  if (plan.spans != nullptr) {
    span_weights = torch::zeros({int64_t(plan.spans->size()), inputs_.batch(), inputs_.positions()});
    for (size_t i = 0; i < plan.spans->size(); ++i) {
      for (int64_t b = 0; b < inputs_.batch(); ++b) {
        const auto [begin, end] = (*plan.spans)[i].per_prompt[size_t(b)];
        span_weights[int64_t(i)][b].narrow(0, begin, end - begin).fill_(1.0);
      }
    }
    span_weights = span_weights.to(inputs_.clean.device());
  }
  std::vector<torch::Tensor> per_layer;
  for (size_t i = 0; i < plan.layers.size(); ++i) {
    const torch::Tensor act = acts[i].detach();
    if (!grads[i].defined()) {  // the metric does not depend on this activation
      per_layer.push_back(torch::zeros(std::vector<int64_t>(plan.shape.begin() + 1, plan.shape.end())));
      continue;
    }
    // First-order change of the batch-mean metric, summed over what one patch replaces.
    torch::Tensor change = (source_activation(component, plan.layers[i], options) - act) * grads[i];
    torch::Tensor scores;
    if (span_weights.defined()) {
      if (!component.is_head()) scores = torch::einsum("sbp,bp->s", {span_weights, change.sum(-1)});  // [span]
      else if (component.is_pattern())
        scores = torch::einsum("sbp,bhp->hs", {span_weights, change.sum(-1)});     // [head, span]
      else scores = torch::einsum("sbp,bph->sh", {span_weights, change.sum(-1)});  // [span, head]
    } else if (!component.is_head()) {
      scores = change.sum(-1).sum(0).index_select(0, positions);  // [pos]
    } else if (component.is_pattern()) {
      scores = change.sum(-1).sum(0);  // [head, dest]
      scores = component.all_positions ? scores.sum(-1) : scores.index_select(1, positions);
    } else {
      scores = change.sum(-1).sum(0);  // [pos, head]
      scores = component.all_positions ? scores.sum(0) : scores.index_select(0, positions);
    }
    per_layer.push_back(scores.to(torch::kCPU, torch::kFloat32));
  }
  const double target_metric = into_clean ? clean_metric_ : corrupted_metric_;
  result.metric = (torch::stack(per_layer) + target_metric).view(plan.shape);
  result.normalised = normalise(result.metric, result.direction, clean_metric_, corrupted_metric_);
  return result;
}

double correlation(const torch::Tensor& a, const torch::Tensor& b) {
  torch::Tensor x = a.flatten().to(torch::kFloat64), y = b.flatten().to(torch::kFloat64);
  x = x - x.mean();
  y = y - y.mean();
  const double denominator = std::sqrt((x * x).sum().item<double>() * (y * y).sum().item<double>());
  return denominator > 0 ? (x * y).sum().item<double>() / denominator : std::nan("");
}

}  // namespace mechlens
