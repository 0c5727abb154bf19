// HookedTransformer: a decoder-only transformer whose every intermediate passes a named HookPoint
// (TransformerLens names and shapes). Hooks read or replace activations; run_with_cache records them.
#pragma once

#include <torch/nn/module.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/pimpl.h>

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "hooks/activation_cache.h"
#include "hooks/hook_point.h"
#include "runtime/block.h"
#include "runtime/config.h"
#include "runtime/embed.h"
#include "runtime/norm.h"

namespace mechlens {

struct ForwardOptions {
  /// [batch, pos]: 1 for tokens, 0 for padding (left or right). Positions count real tokens only,
  /// so a padded batch gives each prompt the result it gets alone. Undefined: no padding.
  torch::Tensor attention_mask;
  /// When > 0 the input is the residual stream [batch, pos, d_model] entering this layer.
  int64_t start_at_layer = 0;
  /// When set, run layers [start_at_layer, stop_at_layer) and return the residual stream.
  std::optional<int64_t> stop_at_layer;
  /// Keys and values of the first past_pos positions for layers start_at_layer.. (one entry per
  /// layer run): the input then holds positions past_pos.. only, which attend to the earlier ones
  /// as in a full forward. Used to recompute only what a change at a later position can affect.
  std::vector<KeyValues> past_key_values;
  /// [batch, n] positions: compute the last layer and the logits there only, returning logits
  /// [batch, n, d_vocab] equal to the full forward's at those positions. Every earlier layer still
  /// runs at every position (later layers' keys need them). For training, where the loss reads a few
  /// positions: hook points of the last block, ln_final and unembed must have no hooks.
  torch::Tensor logits_at;
};

/// How a model is built: random weights (training, `mechlens init`), or left for a loader that
/// replaces every parameter (io/checkpoint.h), in the dtype the weights will have.
struct ModelBuild {
  bool initialise = true;                     // false: parameters are reserved, not filled
  torch::ScalarType dtype = torch::kFloat32;  // the weights' dtype (the memory check counts its bytes)
};

struct CacheOptions {
  /// Where cached activations are kept; unset = where they were computed.
  std::optional<torch::Device> device;
  /// Keep the autograd graph (for gradients through cached values); off by default.
  bool keep_graph = false;
};

/// Selects hook names. Default (empty) selects every hook except attn.hook_result, which
/// TransformerLens also computes only on request because it is [batch,pos,head,d_model].
using NameFilter = std::function<bool(const std::string& name)>;
using NamedHook = std::pair<std::string, HookFn>;

class HookedTransformerImpl : public torch::nn::Module {
 public:
  explicit HookedTransformerImpl(ModelConfig config, ModelBuild build = {});

  /// tokens [batch, pos] (or [pos]) -> logits [batch, pos, d_vocab] (d_model for a model without
  /// an unembedding: its last residual stream); see ForwardOptions.
  torch::Tensor forward(const torch::Tensor& input, const ForwardOptions& options = {});

  /// Forward with temporary hooks, removed again when the call returns (or throws).
  torch::Tensor run_with_hooks(const torch::Tensor& input, const std::vector<NamedHook>& hooks,
                               const ForwardOptions& options = {});
  /// Forward that records the activations of the selected hooks.
  std::pair<torch::Tensor, ActivationCache> run_with_cache(const torch::Tensor& input, const NameFilter& filter = {},
                                                           const ForwardOptions& options = {},
                                                           const CacheOptions& cache_options = {});
  /// Attaches hooks until the returned scope is destroyed.
  HookScope with_hooks(const std::vector<NamedHook>& hooks);
  /// Removes every hook from every hook point.
  void reset_hooks();

  /// Hook names in forward order.
  const std::vector<std::string>& hook_names() const { return hook_names_; }
  /// Throws HookError with the closest names when `name` is not a hook of this model.
  HookPoint hook_point(const std::string& name) const;
  /// Names matching exact names, globs ("blocks.*.attn.hook_pattern") or TransformerLens
  /// shorthand ("pattern" = every layer's pattern). A pattern that matches nothing throws.
  std::vector<std::string> resolve_hooks(const std::vector<std::string>& patterns) const;
  /// A NameFilter selecting exactly resolve_hooks(patterns).
  NameFilter names_filter(const std::vector<std::string>& patterns) const;
  /// Shape the hook's activation has for a batch of `batch` prompts of `pos` tokens.
  std::vector<int64_t> hook_shape(const std::string& name, int64_t batch, int64_t pos) const;

  /// Final norm (pre-norm models) and unembedding: resid [..., d_model] -> logits [..., d_vocab]
  /// (without an unembedding: the normalised residual [..., d_model]).
  torch::Tensor logits_from_resid(const torch::Tensor& resid);

  /// Throws InputError unless `tokens` [batch, pos] are integer ids in 0..d_vocab-1 and pos <= n_ctx;
  /// the message names the first offending [batch, pos].
  void check_tokens(const torch::Tensor& tokens) const;

  const ModelConfig& config() const { return config_; }
  /// Where the weights are (model->to(device) moves them). forward() moves its inputs there, as
  /// TransformerLens does, so callers may pass tokens from the CPU.
  torch::Device device() const;
  int64_t n_params() const;

  Embed embed{nullptr};
  HookPoint hook_embed{nullptr};
  PosEmbed pos_embed{nullptr};  // absent unless positional_embedding_type == standard
  HookPoint hook_pos_embed{nullptr};
  TokenTypeEmbed token_type_embed{nullptr};  // encoders with d_vocab_token_type > 0
  HookPoint hook_token_type_embed{nullptr};
  Norm ln_embed{nullptr};  // encoders: norm of the embedding sum
  torch::nn::ModuleList blocks{nullptr};
  Norm ln_final{nullptr};    // pre-norm models with normalisation only
  Unembed unembed{nullptr};  // absent when has_unembed is false

 private:
  torch::Tensor embed_tokens(const torch::Tensor& tokens, const torch::Tensor& positions);

  ModelConfig config_;
  std::vector<std::string> hook_names_;
  // InputError / HookError unless ForwardOptions::logits_at can run on this input as documented.
  void check_logits_at(const torch::Tensor& logits_at, const ForwardOptions& options, int64_t batch, int64_t pos) const;
  std::map<std::string, HookPoint> hook_points_;
};
TORCH_MODULE(HookedTransformer);

}  // namespace mechlens
