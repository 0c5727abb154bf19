// Human-readable formatting of tensor shapes for error messages: "[8, 128, 16]".
#pragma once

#include <ATen/core/Tensor.h>

#include <string>
#include <vector>

namespace mechlens {

std::string format_shape(c10::IntArrayRef shape);
std::string format_shape(const std::vector<int64_t>& shape);

/// Index of the first dimension where two shapes differ, or -1 when equal.
int64_t first_shape_mismatch(c10::IntArrayRef a, c10::IntArrayRef b);

}  // namespace mechlens
