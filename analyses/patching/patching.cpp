#include "patching/patching.h"

#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <random>

#include "store/record_reader.h"
#include "util/error.h"
#include "util/shape_format.h"
#include "util/progress.h"

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
    case Ablation::kNone: return "none";
    case Ablation::kZero: return "zero";
    case Ablation::kMean: return "mean";
    case Ablation::kResample: return "resample";
  }
  return "?";
}

// One patched run: result index `flat`, patching `head` (-1: none) at `pos` (-1: every position).
struct PatchingSession::Site {
  int64_t flat;
  int64_t layer;
  int64_t pos;
  int64_t head;
  int64_t first_changed() const { return std::max<int64_t>(pos, 0); }
};

struct PatchingSession::Layout {
  std::vector<std::string> dims;
  std::vector<std::vector<int64_t>> labels;
  std::vector<int64_t> shape;
  std::vector<int64_t> layers, positions, heads;
  std::vector<Site> sites;  // in row-major result order
};

namespace {

const char* kKeyCache = "attn.hook_k";
const char* kRotaryKeyCache = "attn.hook_rot_k";
const char* kValueCache = "attn.hook_v";

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

PatchingSession::PatchingSession(HookedTransformer model, PatchingInputs inputs, MetricKind metric)
    : model_(std::move(model)), inputs_(std::move(inputs)) {
  validate_inputs(inputs_, model_->config());
  model_->check_tokens(inputs_.clean);
  model_->check_tokens(inputs_.corrupted);
  model_->eval();
  torch::NoGradGuard no_grad;
  const bool rotary = model_->config().positional_embedding_type == PositionalEmbedding::kRotary;
  const std::vector<std::string> base{"hook_resid_pre", rotary ? kRotaryKeyCache : kKeyCache, kValueCache};
  auto [clean_logits, clean_cache] = cached_run(model_, inputs_.clean, base);
  auto [corrupted_logits, corrupted_cache] = cached_run(model_, inputs_.corrupted, base);
  clean_cache_ = std::move(clean_cache);
  corrupted_cache_ = std::move(corrupted_cache);
  clean_logits_ = answer_logits(clean_logits);
  corrupted_logits_ = answer_logits(corrupted_logits);
  metric_ = Metric(metric, inputs_, clean_logits_);
  clean_metric_ = metric_.mean(clean_logits_).item<double>();
  corrupted_metric_ = metric_.mean(corrupted_logits_).item<double>();
}

torch::Tensor PatchingSession::answer_logits(const torch::Tensor& logits) const {
  // logits [batch, pos, V] -> [batch, V] at each prompt's answer position
  return logits.index({torch::arange(logits.size(0)), inputs_.answer_pos});
}

void PatchingSession::ensure_cached(const std::string& hook_suffix) {
  torch::NoGradGuard no_grad;
  for (auto [tokens, cache] : {std::pair{&inputs_.clean, &clean_cache_}, std::pair{&inputs_.corrupted, &corrupted_cache_}}) {
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

std::vector<std::string> PatchingSession::use_clean_record(const std::string& path) {
  RecordReader reader(path);
  const torch::Tensor tokens = reader.read_tokens();
  const torch::Tensor& clean = inputs_.clean;
  MECHLENS_CHECK(InputError,
                 tokens.size(0) == clean.size(0) && tokens.size(1) >= clean.size(1) &&
                     torch::equal(tokens.narrow(1, 0, clean.size(1)), clean.to(torch::kLong)),
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
  out.layers = options.layers.empty() ? range(config.n_layers) : options.layers;
  for (int64_t layer : out.layers) {
    MECHLENS_CHECK(InputError, layer >= 0 && layer < config.n_layers, "layer {} is out of range: the model has {} layers (0..{})",
                   layer, config.n_layers, config.n_layers - 1);
  }
  out.positions = options.positions.empty() ? range(n_pos) : options.positions;
  for (int64_t pos : out.positions) {
    MECHLENS_CHECK(InputError, pos >= 0 && pos < n_pos, "position {} is out of range: the prompts have {} tokens (0..{})", pos,
                   n_pos, n_pos - 1);
  }
  out.heads = range(component.n_heads(config));
  out.dims = component.dims();
  for (const auto& dim : out.dims) {
    if (dim == "layer") out.labels.push_back(out.layers);
    else if (dim == "head") out.labels.push_back(out.heads);
    else out.labels.push_back(out.positions);  // pos or dest
    out.shape.push_back(int64_t(out.labels.back().size()));
  }
  int64_t flat = 0;
  for (int64_t layer : out.layers) {
    if (!component.is_head()) {
      for (int64_t pos : out.positions) out.sites.push_back({flat++, layer, pos, -1});
    } else if (component.all_positions) {
      for (int64_t head : out.heads) out.sites.push_back({flat++, layer, -1, head});
    } else if (component.is_pattern()) {
      for (int64_t head : out.heads)
        for (int64_t pos : out.positions) out.sites.push_back({flat++, layer, pos, head});
    } else {
      for (int64_t pos : out.positions)
        for (int64_t head : out.heads) out.sites.push_back({flat++, layer, pos, head});
    }
  }
  return out;
}

torch::Tensor PatchingSession::source_activation(const Component& component, int64_t layer,
                                                 const PatchOptions& options) {
  const std::string name = component.hook_name(layer);
  if (options.ablation == Ablation::kNone) return activation(options.direction == Direction::kDenoising, name);
  const torch::Tensor& clean = activation(true, name);  // [batch, ...]
  switch (options.ablation) {
    case Ablation::kZero: return torch::zeros_like(clean);
    case Ablation::kMean: return clean.mean(0, /*keepdim=*/true).expand_as(clean);
    case Ablation::kResample:
      MECHLENS_CHECK(InputError, clean.size(0) >= 2, "resample ablation needs at least 2 prompts, got {}", clean.size(0));
      return clean.index_select(0, derangement(clean.size(0), options.seed).to(clean.device()));
    case Ablation::kNone: break;
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
  return result;
}

namespace {

// Where a component's activation keeps its position axis: [batch, pos, ...] or the pattern's
// [batch, head, dest, src].
int64_t activation_position_dim(const Component& component) { return component.is_pattern() ? 2 : 1; }

// Which entries of a pack's activation take the source value: bool, broadcastable to the
// activation viewed as [runs, batch, ...] over the recomputed positions first..first+span-1.
torch::Tensor patch_mask(const Component& component, const std::vector<std::pair<int64_t, int64_t>>& pos_head,
                         int64_t first, int64_t span, int64_t n_heads) {
  const int64_t runs = int64_t(pos_head.size());
  torch::Tensor mask;
  if (!component.is_head()) mask = torch::zeros({runs, 1, span, 1}, torch::kBool);
  else if (component.is_pattern()) mask = torch::zeros({runs, 1, n_heads, span, 1}, torch::kBool);
  else mask = torch::zeros({runs, 1, span, n_heads, 1}, torch::kBool);
  for (int64_t r = 0; r < runs; ++r) {
    const auto [pos, head] = pos_head[r];
    using torch::indexing::Slice;
    auto where = pos < 0 ? Slice() : Slice(pos - first, pos - first + 1);
    if (!component.is_head()) mask.index_put_({r, 0, where}, true);
    else if (component.is_pattern()) mask.index_put_({r, 0, head, where}, true);
    else mask.index_put_({r, 0, where, head}, true);
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
  const bool rotary = config.positional_embedding_type == PositionalEmbedding::kRotary;
  const int64_t batch = inputs_.batch(), n_pos = inputs_.positions();
  const torch::Device device = inputs_.clean.device();

  // Packs: runs of one layer, recomputed from the earliest position any of them changes. Runs are
  // taken latest-first, and a pack closes when sharing its start would waste more than a quarter
  // of the work (unless the pack is still too small to use the machine well) or the batch is full.
  constexpr double kWasteAllowed = 1.25;
  constexpr int64_t kSmallPackTokens = 1024;  // measured best of 1024..16384 on the shipped logic model
  std::vector<std::vector<Site>> packs;
  for (int64_t layer : plan.layers) {
    std::vector<Site> sites;
    for (const Site& site : plan.sites) {
      if (site.layer == layer) sites.push_back(site);
    }
    std::stable_sort(sites.begin(), sites.end(),
                     [](const Site& a, const Site& b) { return a.first_changed() > b.first_changed(); });
    std::vector<Site> pack;
    int64_t useful = 0;
    for (const Site& site : sites) {
      const int64_t span = n_pos - site.first_changed();
      const int64_t runs = int64_t(pack.size()) + 1;
      const int64_t work = runs * span;
      const bool fits = runs * batch <= options.max_batch &&
                        (work <= kWasteAllowed * double(useful + span) || work * batch <= kSmallPackTokens);
      if (!pack.empty() && !fits) {
        packs.push_back(std::move(pack));
        pack.clear();
        useful = 0;
      }
      pack.push_back(site);
      useful += span;
    }
    if (!pack.empty()) packs.push_back(std::move(pack));
  }

  std::map<int64_t, torch::Tensor> sources;  // layer -> [batch, ...]
  torch::Tensor flat_metric = result.metric.view({-1});
  ProgressBar progress("patching " + component.name(), int64_t(plan.sites.size()), options.progress);
  for (const auto& pack : packs) {
    const int64_t layer = pack.front().layer;
    const int64_t first = pack.back().first_changed();  // latest-first order: the last starts earliest
    const int64_t span = n_pos - first, runs = int64_t(pack.size()), rows = runs * batch;
    if (!sources.count(layer)) sources[layer] = source_activation(component, layer, options);
    // [1, batch, ...] over the recomputed positions
    torch::Tensor source = sources[layer].narrow(activation_position_dim(component), first, span).unsqueeze(0);
    std::vector<std::pair<int64_t, int64_t>> pos_head;
    std::vector<int64_t> flat;
    for (const Site& site : pack) {
      pos_head.emplace_back(site.pos, site.head);
      flat.push_back(site.flat);
    }
    torch::Tensor mask = patch_mask(component, pos_head, first, span, component.n_heads(config)).to(device);

    ForwardOptions forward;
    forward.start_at_layer = layer;
    forward.stop_at_layer = config.n_layers;
    torch::Tensor input = layer == 0
                              ? target_tokens.narrow(1, first, span).repeat({runs, 1})  // [rows, span]
                              : target.at(layer_hook_name(layer, "hook_resid_pre")).narrow(1, first, span).repeat({runs, 1, 1});
    if (first > 0) {
      for (int64_t l = layer; l < config.n_layers; ++l) {
        const torch::Tensor& k = target.at(layer_hook_name(l, rotary ? kRotaryKeyCache : kKeyCache));  // [batch, pos, kv_head, d_head]
        const torch::Tensor& v = target.at(layer_hook_name(l, kValueCache));
        forward.past_key_values.push_back(
            {k.narrow(1, 0, first).repeat({runs, 1, 1, 1}), v.narrow(1, 0, first).repeat({runs, 1, 1, 1})});
      }
    }
    HookScope scope;
    scope.add(model_->hook_point(component.hook_name(layer)),
              [&](const torch::Tensor& act, const HookPointImpl&) {
                return replace_packed(act, runs, batch, mask, source);
              });
    torch::Tensor resid = model_->forward(input, forward);  // [rows, span, d_model]
    scope.release();

    // Only the answer positions are unembedded; a prompt whose answer precedes the pack's first
    // recomputed position keeps the unpatched logits.
    torch::Tensor answer_pos = inputs_.answer_pos.repeat({runs});
    torch::Tensor at_answer = resid.index({torch::arange(rows, answer_pos.options()), (answer_pos - first).clamp_min(0)});
    torch::Tensor logits = model_->logits_from_resid(at_answer);  // [rows, V]
    torch::Tensor before = answer_pos.lt(first);
    if (before.any().item<bool>()) {
      logits = torch::where(before.unsqueeze(1), target_logits.repeat({runs, 1}), logits);
    }
    flat_metric.index_put_({long_tensor(flat)}, metric_.per_run(logits).to(torch::kCPU));
    progress.advance(runs);
  }
  progress.finish();
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
  std::map<int64_t, torch::Tensor> sources;  // layer -> [batch, ...]
  for (const Site& site : plan.sites) {
    if (!sources.count(site.layer)) sources[site.layer] = source_activation(component, site.layer, options);
    const torch::Tensor& source = sources[site.layer];
    auto patch = [&](const torch::Tensor& act, const HookPointImpl&) {
      torch::Tensor out = act.clone();
      torch::Tensor to = out, from = source;
      if (component.is_pattern()) {  // [batch, head, dest, src]
        to = to.select(1, site.head);
        from = from.select(1, site.head);
        if (site.pos >= 0) to = to.select(1, site.pos), from = from.select(1, site.pos);
      } else {  // [batch, pos, ...]
        if (site.pos >= 0) to = to.select(1, site.pos), from = from.select(1, site.pos);
        if (site.head >= 0) to = to.select(site.pos >= 0 ? 1 : 2, site.head), from = from.select(site.pos >= 0 ? 1 : 2, site.head);
      }
      to.copy_(from);
      return out;
    };
    torch::Tensor logits = model_->run_with_hooks(target_tokens, {{component.hook_name(site.layer), patch}});
    flat_metric[site.flat] = metric_.mean(answer_logits(logits)).item<double>();
  }
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
    if (!component.is_head()) {
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
