// What activation patching can patch, and the result shapes TransformerLens gives each sweep:
// residual-stream components by [layer, pos], heads by [layer, pos, head] or over all positions
// [layer, head], attention patterns by [layer, head, dest].
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <torch/types.h>  // torch::Tensor

#include "hooks/hook_names.h"  // layer_hook_name
#include "runtime/config.h"

namespace mechlens {

enum class ActKind { kResidPre, kResidMid, kResidPost, kAttnOut, kMlpOut, kZ, kQ, kK, kV, kPattern };

struct Component {
  ActKind kind = ActKind::kResidPre;
  bool all_positions = false;  // heads only: one patch covers every position of the head

  bool is_head() const { return kind >= ActKind::kZ; }
  bool is_pattern() const { return kind == ActKind::kPattern; }
  /// "resid_pre", "head_z", "head_z_all", "head_pattern", ...
  std::string name() const;
  /// Short hook name ("hook_resid_pre", "attn.hook_z") and the full one for a layer.
  std::string hook_suffix() const;
  std::string hook_name(int64_t layer) const { return layer_hook_name(layer, hook_suffix()); }
  /// Heads the result indexes: key-value heads for k and v (GQA), query heads otherwise.
  int64_t n_heads(const ModelConfig& config) const;
  /// Result dimensions, e.g. {"layer", "pos", "head"}; k and v of a grouped-query model index key-value
  /// heads, so their axis is "kv_head".
  std::vector<std::string> dims(const ModelConfig& config) const;
};

/// Components named by `text`: a single component, or a composite that TransformerLens offers as one
/// sweep: "blocks" = resid_pre, attn_out, mlp_out by position; "heads_all" = head z, q, k, v and
/// pattern over all positions. Throws InputError listing the valid names; checks the model has the
/// hook (no resid_mid/mlp_out in attention-only models).
std::vector<Component> parse_components(const std::string& text, const ModelConfig& config);

/// For `runs` runs of `batch` prompts packed into one batch (rows run-major): act [runs*batch, ...]
/// takes `replacement` where `mask` is true. mask and replacement broadcast to [runs, batch, ...].
torch::Tensor replace_packed(const torch::Tensor& act, int64_t runs, int64_t batch, const torch::Tensor& mask,
                             const torch::Tensor& replacement);

/// Every name parse_components accepts, for help texts.
std::string component_names();

}  // namespace mechlens
