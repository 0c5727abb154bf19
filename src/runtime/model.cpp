#include "runtime/model.h"

#include <fmt/ranges.h>
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <set>

#include "hooks/hook_names.h"
#include "runtime/init.h"
#include "util/error.h"
#include "util/glob.h"
#include "util/shape_format.h"

namespace mechlens {
namespace {

// Shared by every layer: causal (decoders) + padding mask, and rotary angles from real-token positions.
AttentionContext make_attention_context(const ModelConfig& config, const torch::Tensor& positions,
                                        const torch::Tensor& attention_mask, int64_t pos, int64_t past_pos,
                                        const torch::Device& device) {
  AttentionContext context;
  auto bool_options = torch::TensorOptions().dtype(torch::kBool).device(device);
  // Query i sits at absolute position past_pos + i and sees keys 0..past_pos + i.
  const int64_t keys = past_pos + pos;
  torch::Tensor blocked = config.causal() ? torch::ones({pos, keys}, bool_options).triu(1 + past_pos)
                                          : torch::zeros({pos, keys}, bool_options);
  blocked = blocked.view({1, 1, pos, keys});
  if (attention_mask.defined()) {
    torch::Tensor is_pad = attention_mask.eq(0);  // [batch, pos]
    blocked = blocked.logical_or(is_pad.view({is_pad.size(0), 1, 1, pos}));
    context.query_is_pad = is_pad.view({is_pad.size(0), 1, pos, 1});
  }
  // Additive form, built once here rather than in every layer: 0 where visible, -inf where blocked.
  context.score_mask = torch::zeros(blocked.sizes(), torch::TensorOptions().dtype(torch::kFloat32).device(device))
                           .masked_fill_(blocked, -std::numeric_limits<float>::infinity());
  if (config.positional_embedding_type == PositionalEmbedding::kRotary) {
    const int64_t dim = config.effective_rotary_dim();
    auto float_options = torch::TensorOptions().dtype(torch::kFloat32).device(device);
    torch::Tensor inv_freq = torch::pow(config.rotary_base, -torch::arange(0, dim, 2, float_options) / double(dim));
    torch::Tensor angles = positions.to(torch::kFloat32).unsqueeze(-1) * inv_freq;  // [b, pos, dim/2]
    angles = torch::cat({angles, angles}, -1).unsqueeze(2);                         // [b, pos, 1, dim]
    context.rotary_cos = angles.cos();
    context.rotary_sin = angles.sin();
  }
  return context;
}

}  // namespace

HookedTransformerImpl::HookedTransformerImpl(ModelConfig config, ModelBuild build) : config_(std::move(config)) {
  config_.validate();
  config_.check_fits_in_memory(/*available_bytes=*/0, double(c10::elementSize(build.dtype)));
  const std::vector<std::string> resid_dims{"batch", "pos", "d_model"};
  embed = register_module("embed", Embed(config_));
  hook_embed = register_module("hook_embed", HookPoint(resid_dims));
  if (config_.positional_embedding_type == PositionalEmbedding::kStandard) {
    pos_embed = register_module("pos_embed", PosEmbed(config_));
    hook_pos_embed = register_module("hook_pos_embed", HookPoint(resid_dims));
  }
  if (config_.d_vocab_token_type > 0) {
    token_type_embed = register_module("token_type_embed", TokenTypeEmbed(config_));
    hook_token_type_embed = register_module("hook_token_type_embed", HookPoint(resid_dims));
  }
  if (config_.ln_embed) {
    ln_embed = register_module("ln_embed", Norm(config_.d_model, config_.normalization_type, config_.eps));
  }
  blocks = register_module("blocks", torch::nn::ModuleList());
  for (int64_t layer = 0; layer < config_.n_layers; ++layer) {
    blocks->push_back(TransformerBlock(config_));
  }
  if (config_.has_norm() && config_.norm_placement == NormPlacement::kPre) {
    ln_final = register_module("ln_final", Norm(config_.d_model, config_.normalization_type, config_.eps));
  }
  if (config_.has_unembed) unembed = register_module("unembed", Unembed(config_, embed->W_E));

  // Hook points are named by their module path, so no separate setup step can be forgotten.
  for (const auto& item : named_modules(/*name_prefix=*/"", /*include_self=*/false)) {
    if (auto point = std::dynamic_pointer_cast<HookPointImpl>(item.value())) {
      point->set_name(item.key());
      hook_names_.push_back(item.key());
      hook_points_.emplace(item.key(), HookPoint(point));
    }
  }
  // Unfilled float32 parameters are only reserved address space (pages are never touched) until the
  // loader swaps in its tensors, so a bfloat16 model larger than half the memory still loads.
  if (build.initialise) {
    init_weights(*this, config_);
    if (build.dtype != torch::kFloat32) to(build.dtype);
  }
}

void HookedTransformerImpl::check_tokens(const torch::Tensor& tokens) const {
  MECHLENS_CHECK(InputError, !at::isFloatingType(tokens.scalar_type()) && tokens.scalar_type() != torch::kBool,
                 "tokens must be integer ids, got dtype {}", c10::toString(tokens.scalar_type()));
  MECHLENS_CHECK(InputError, tokens.dim() == 2, "tokens must be [batch, pos], got shape {}",
                 format_shape(tokens.sizes()));
  MECHLENS_CHECK(InputError, tokens.size(1) >= 1, "tokens are empty (shape {})", format_shape(tokens.sizes()));
  MECHLENS_CHECK(InputError, tokens.size(1) <= config_.n_ctx, "prompt has {} tokens, more than the model's n_ctx={}",
                 tokens.size(1), config_.n_ctx);
  torch::Tensor out_of_range = tokens.lt(0).logical_or(tokens.ge(config_.d_vocab));
  if (out_of_range.any().item<bool>()) {
    torch::Tensor first = out_of_range.nonzero()[0];
    const int64_t b = first[0].item<int64_t>(), p = first[1].item<int64_t>();
    MECHLENS_FAIL(InputError, "token id {} at [batch {}, pos {}] is out of range: d_vocab={} (ids 0..{})",
                  tokens[b][p].item<int64_t>(), b, p, config_.d_vocab, config_.d_vocab - 1);
  }
}

torch::Tensor HookedTransformerImpl::embed_tokens(const torch::Tensor& tokens, const torch::Tensor& positions) {
  torch::Tensor resid = hook_embed(embed(tokens));  // [batch, pos, d_model]
  if (pos_embed) {
    // [batch or 1, pos, d_model] expanded to the batch as a view, not a copy.
    resid = resid + hook_pos_embed(pos_embed(positions).expand_as(resid));
  }
  if (token_type_embed) resid = resid + hook_token_type_embed(token_type_embed(resid));
  return ln_embed ? ln_embed(resid) : resid;
}

torch::Tensor HookedTransformerImpl::forward(const torch::Tensor& input, const ForwardOptions& options) {
  const int64_t start = options.start_at_layer;
  const int64_t stop = options.stop_at_layer.value_or(config_.n_layers);
  MECHLENS_CHECK(InputError, start >= 0 && start <= config_.n_layers, "start_at_layer={} is outside 0..n_layers={}",
                 start, config_.n_layers);
  MECHLENS_CHECK(InputError, stop >= start && stop <= config_.n_layers,
                 "stop_at_layer={} is outside start_at_layer={}..n_layers={}", stop, start, config_.n_layers);

  // Inputs move to the weights' device after their checks, which read values where the caller has them.
  const torch::Device device = this->device();
  torch::Tensor x = input.dim() == 1 && start == 0 ? input.unsqueeze(0) : input;
  if (start == 0) {
    check_tokens(x);
  } else {
    MECHLENS_CHECK(InputError, x.dim() == 3 && x.size(2) == config_.d_model,
                   "start_at_layer={} needs a residual stream [batch, pos, d_model={}], got shape {}", start,
                   config_.d_model, format_shape(x.sizes()));
  }
  x = x.to(device);
  const int64_t batch = x.size(0), pos = x.size(1);
  const torch::Tensor mask = options.attention_mask.defined() ? options.attention_mask.to(device) : torch::Tensor();
  const auto& past = options.past_key_values;
  int64_t past_pos = 0;
  if (!past.empty()) {
    MECHLENS_CHECK(InputError, int64_t(past.size()) == stop - start,
                   "past_key_values has {} layers, expected one per layer run ({}..{})", past.size(), start, stop - 1);
    MECHLENS_CHECK(InputError, !mask.defined(), "past_key_values cannot be combined with an attention_mask");
    MECHLENS_CHECK(InputError, config_.causal(),
                   "past_key_values need causal attention; this model's attention_dir is bidirectional (an encoder)");
    past_pos = past.front().k.size(1);
    for (const auto& layer_past : past) {
      MECHLENS_CHECK(InputError,
                     layer_past.k.dim() == 4 && layer_past.k.size(0) == batch && layer_past.k.size(1) == past_pos &&
                         layer_past.v.sizes() == layer_past.k.sizes(),
                     "past keys/values have shapes {} / {}, expected [batch={}, past_pos={}, kv_head, d_head]",
                     format_shape(layer_past.k.sizes()), format_shape(layer_past.v.sizes()), batch, past_pos);
    }
    MECHLENS_CHECK(InputError, past_pos + pos <= config_.n_ctx, "{} past + {} new positions exceed n_ctx={}", past_pos,
                   pos, config_.n_ctx);
  }
  torch::Tensor positions;  // [batch or 1, pos]
  if (mask.defined()) {
    MECHLENS_CHECK(InputError, mask.dim() == 2 && mask.size(0) == batch && mask.size(1) == pos,
                   "attention_mask has shape {}, expected [batch={}, pos={}]", format_shape(mask.sizes()), batch, pos);
    positions = (mask.to(torch::kLong).cumsum(-1) - 1).clamp_min(0);
  } else {
    positions = torch::arange(past_pos, past_pos + pos, torch::TensorOptions().dtype(torch::kLong).device(x.device()))
                    .unsqueeze(0);
  }
  const AttentionContext context = make_attention_context(config_, positions, mask, pos, past_pos, x.device());

  if (options.logits_at.defined()) check_logits_at(options.logits_at, options, batch, pos);
  const torch::Tensor logits_at = options.logits_at.defined() ? options.logits_at.to(device) : torch::Tensor();
  // With logits_at, the last layer runs at the chosen positions only (below).
  const int64_t full_stop = logits_at.defined() ? stop - 1 : stop;

  torch::Tensor resid = start == 0 ? embed_tokens(x, positions) : x;  // [batch, pos, d_model]
  for (int64_t layer = start; layer < full_stop; ++layer) {
    const KeyValues* layer_past = past.empty() ? nullptr : &past[layer - start];
    resid = blocks[layer]->as<TransformerBlock>()->forward(resid, context, layer_past);
  }
  if (logits_at.defined()) {
    // [batch, n, d_model] -> logits [batch, n, d_vocab]
    return logits_from_resid(blocks[stop - 1]->as<TransformerBlock>()->forward_at(resid, logits_at, context));
  }
  if (options.stop_at_layer.has_value()) return resid;
  return logits_from_resid(resid);  // [batch, pos, d_vocab]
}

void HookedTransformerImpl::check_logits_at(const torch::Tensor& logits_at, const ForwardOptions& options,
                                            int64_t batch, int64_t pos) const {
  MECHLENS_CHECK(InputError, !options.stop_at_layer.has_value() && options.past_key_values.empty(),
                 "logits_at cannot be combined with stop_at_layer or past_key_values");
  MECHLENS_CHECK(InputError, options.start_at_layer < config_.n_layers,
                 "logits_at needs at least one layer to run (start_at_layer={}, n_layers={})", options.start_at_layer,
                 config_.n_layers);
  MECHLENS_CHECK(InputError,
                 logits_at.dim() == 2 && logits_at.size(0) == batch && logits_at.scalar_type() == torch::kLong,
                 "logits_at must be int64 positions [batch={}, n], got {} {}", batch,
                 c10::toString(logits_at.scalar_type()), format_shape(logits_at.sizes()));
  if (logits_at.numel() > 0) {
    const int64_t low = logits_at.min().item<int64_t>(), high = logits_at.max().item<int64_t>();
    MECHLENS_CHECK(InputError, low >= 0 && high < pos, "logits_at holds positions {}..{}, outside 0..{}", low, high,
                   pos - 1);
  }
  // Those hook points would see only the chosen positions, so hooks there are refused, not misled.
  const std::string last_block = fmt::format("blocks.{}.", config_.n_layers - 1);
  for (const auto& [name, point] : hook_points_) {
    if (!point->has_hooks()) continue;
    MECHLENS_CHECK(HookError,
                   name.rfind(last_block, 0) != 0 && name.rfind("ln_final.", 0) != 0 && name.rfind("unembed", 0) != 0,
                   "hook on {} cannot run with logits_at (the last block runs at the chosen positions only); "
                   "run without logits_at to hook it",
                   name);
  }
}

torch::Device HookedTransformerImpl::device() const { return embed->W_E.device(); }

torch::Tensor HookedTransformerImpl::logits_from_resid(const torch::Tensor& resid) {
  torch::Tensor normalised = ln_final ? ln_final(resid) : resid;
  return unembed ? unembed(normalised) : normalised;
}

torch::Tensor HookedTransformerImpl::run_with_hooks(const torch::Tensor& input, const std::vector<NamedHook>& hooks,
                                                    const ForwardOptions& options) {
  HookScope scope = with_hooks(hooks);
  return forward(input, options);
}

std::pair<torch::Tensor, ActivationCache> HookedTransformerImpl::run_with_cache(const torch::Tensor& input,
                                                                                const NameFilter& filter,
                                                                                const ForwardOptions& options,
                                                                                const CacheOptions& cache_options) {
  ActivationCache cache;
  HookScope scope;
  for (const auto& name : hook_names_) {
    const bool selected = filter ? filter(name) : name.find("hook_result") == std::string::npos;
    if (!selected) continue;
    scope.add(hook_points_.at(name), [&cache, &cache_options](const torch::Tensor& act, const HookPointImpl& hook) {
      torch::Tensor kept = cache_options.keep_graph ? act : act.detach();
      if (cache_options.device.has_value()) kept = kept.to(*cache_options.device);
      cache.insert(hook.name(), kept);
      cache.set_dims(hook.name(), hook.dims());
      return torch::Tensor();
    });
  }
  torch::Tensor logits = forward(input, options);
  return {logits, std::move(cache)};
}

HookScope HookedTransformerImpl::with_hooks(const std::vector<NamedHook>& hooks) {
  HookScope scope;
  for (const auto& [name, fn] : hooks) {
    for (const auto& resolved : resolve_hooks({name})) scope.add(hook_point(resolved), fn);
  }
  return scope;
}

void HookedTransformerImpl::reset_hooks() {
  for (auto& [name, point] : hook_points_) point->clear_hooks();
}

HookPoint HookedTransformerImpl::hook_point(const std::string& name) const {
  const auto it = hook_points_.find(name);
  if (it == hook_points_.end()) {
    MECHLENS_FAIL(HookError, "unknown hook '{}' (model has {} layers, {} hooks); closest: {}", name, config_.n_layers,
                  hook_names_.size(), fmt::join(closest_names(name, hook_names_), ", "));
  }
  return it->second;
}

std::vector<std::string> HookedTransformerImpl::resolve_hooks(const std::vector<std::string>& patterns) const {
  std::vector<std::string> result;
  auto add_unique = [&result](const std::string& name) {
    if (std::find(result.begin(), result.end(), name) == result.end()) result.push_back(name);
  };
  for (const auto& pattern : patterns) {
    if (hook_points_.count(pattern)) {
      add_unique(pattern);
      continue;
    }
    std::string glob = pattern;
    if (!is_glob(pattern)) {
      // TransformerLens shorthand without a layer ("pattern") means that hook in every layer.
      const bool short_form = pattern.find('.') == std::string::npos && pattern.rfind("hook_", 0) != 0;
      if (!short_form) hook_point(pattern);  // throws with suggestions
      glob = act_name(pattern, 0);
      if (glob.rfind("blocks.0.", 0) == 0) glob = "blocks.*." + glob.substr(9);
    }
    size_t matched = 0;
    for (const auto& name : hook_names_) {
      if (glob_match(glob, name)) {
        add_unique(name);
        ++matched;
      }
    }
    MECHLENS_CHECK(HookError, matched > 0, "hook pattern '{}' matches none of the model's {} hooks; closest: {}",
                   pattern, hook_names_.size(), fmt::join(closest_names(glob, hook_names_), ", "));
  }
  // Forward order, whatever order the patterns came in.
  std::vector<std::string> ordered;
  for (const auto& name : hook_names_) {
    if (std::find(result.begin(), result.end(), name) != result.end()) ordered.push_back(name);
  }
  return ordered;
}

NameFilter HookedTransformerImpl::names_filter(const std::vector<std::string>& patterns) const {
  const std::vector<std::string> names = resolve_hooks(patterns);
  return [selected = std::set<std::string>(names.begin(), names.end())](const std::string& name) {
    return selected.count(name) > 0;
  };
}

std::vector<int64_t> HookedTransformerImpl::hook_shape(const std::string& name, int64_t batch, int64_t pos) const {
  std::vector<int64_t> shape;
  for (const auto& dim : hook_point(name)->dims()) {
    if (dim == "batch") shape.push_back(batch);
    else if (dim == "pos" || dim == "dest" || dim == "src") shape.push_back(pos);
    else if (dim == "head") shape.push_back(config_.n_heads);
    else if (dim == "kv_head") shape.push_back(config_.kv_heads());
    else if (dim == "d_head") shape.push_back(config_.d_head);
    else if (dim == "d_model") shape.push_back(config_.d_model);
    else if (dim == "d_mlp") shape.push_back(config_.d_mlp);
    else if (dim == "d_vocab") shape.push_back(config_.d_vocab);
    else shape.push_back(std::stoll(dim));
  }
  return shape;
}

int64_t HookedTransformerImpl::n_params() const {
  int64_t total = 0;
  for (const auto& param : parameters()) total += param.numel();
  return total;
}

}  // namespace mechlens
