#include "core/activation_layout.h"

#include <fmt/ranges.h>

#include "util/error.h"

namespace mechlens {

ActivationLayout ActivationLayout::from_dims(const std::vector<std::string>& dims) {
  ActivationLayout layout;
  layout.rank = int64_t(dims.size());
  layout.position_dim = -1;
  for (size_t d = 1; d < dims.size(); ++d) {
    if (layout.position_dim < 0 && (dims[d] == "pos" || dims[d] == "dest")) layout.position_dim = int64_t(d);
    if (layout.head_dim < 0 && (dims[d] == "head" || dims[d] == "kv_head")) layout.head_dim = int64_t(d);
  }
  MECHLENS_CHECK(HookError, !dims.empty() && dims[0] == "batch" && layout.position_dim > 0 && layout.rank >= 3,
                 "activation dims [{}] have no batch-first position axis; cannot intervene by position",
                 fmt::join(dims, ", "));
  return layout;
}

std::vector<int64_t> ActivationLayout::mask_shape(int64_t rows, int64_t span, int64_t n_heads) const {
  if (!has_heads()) return {rows, span, 1};
  if (head_dim < position_dim) return {rows, n_heads, span, 1};
  return {rows, span, n_heads, 1};
}

int64_t ActivationLayout::offset(const std::vector<int64_t>& strides, int64_t prompt, int64_t pos, int64_t head) const {
  int64_t at = prompt * strides[0] + pos * strides[size_t(position_dim)];
  if (has_heads()) at += head * strides[size_t(head_dim)];
  return at;
}

}  // namespace mechlens
