// Where an activation keeps its positions and heads, read from its hook's dimension names, so that
// an intervention indexes [batch, pos, head, d_head], [batch, head, dest, src] and
// [batch, pos, d_model] alike without branching on what the hook is.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace mechlens {

struct ActivationLayout {
  int64_t position_dim = 1;  // "pos", or a pattern's "dest"
  int64_t head_dim = -1;     // "head" or "kv_head"; -1: the activation has no head axis
  int64_t rank = 3;

  bool has_heads() const { return head_dim >= 0; }
  /// From a hook's dims, e.g. {"batch", "pos", "head", "d_head"}. Throws HookError naming the dims
  /// when there is no batch-first position axis.
  static ActivationLayout from_dims(const std::vector<std::string>& dims);
  /// Shape of a per-row mask over `span` positions and `n_heads` heads that broadcasts against the
  /// activation's [rows, ...] (the trailing feature axis has size 1): e.g. [rows, span, heads, 1].
  std::vector<int64_t> mask_shape(int64_t rows, int64_t span, int64_t n_heads) const;
  /// Offset of (prompt, position, head) in a contiguous tensor with the activation's leading axes
  /// (the last axis dropped), given its strides.
  int64_t offset(const std::vector<int64_t>& strides, int64_t prompt, int64_t pos, int64_t head) const;
};

}  // namespace mechlens
