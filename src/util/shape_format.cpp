#include "util/shape_format.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>

namespace mechlens {

std::string format_shape(c10::IntArrayRef shape) {
  return fmt::format("[{}]", fmt::join(shape.begin(), shape.end(), ", "));
}

std::string format_shape(const std::vector<int64_t>& shape) { return format_shape(c10::IntArrayRef(shape)); }

int64_t first_shape_mismatch(c10::IntArrayRef a, c10::IntArrayRef b) {
  const size_t common = std::min(a.size(), b.size());
  for (size_t i = 0; i < common; ++i) {
    if (a[i] != b[i]) return static_cast<int64_t>(i);
  }
  return a.size() == b.size() ? -1 : static_cast<int64_t>(common);
}

}  // namespace mechlens
