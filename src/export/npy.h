// NumPy's .npy format (version 1.0): what np.load reads without pickles. int64 and float32, C order.
#pragma once

#include <torch/types.h>  // torch::Tensor

#include <string>

namespace mechlens {

/// Writes `tensor` (int64 or float32 after conversion) to `path` atomically. Throws StoreError.
void write_npy(const std::string& path, const torch::Tensor& tensor);

}  // namespace mechlens
