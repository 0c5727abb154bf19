// x @ W + b as one GEMM with the bias fused in (addmm), for every linear map of the runtime.
#pragma once

#include <torch/torch.h>

#include <vector>

namespace mechlens {

/// x [..., in] @ W [in, out] (+ b [out] when defined) -> [..., out]
inline torch::Tensor affine(const torch::Tensor& x, const torch::Tensor& W, const torch::Tensor& b = {}) {
  std::vector<int64_t> shape = x.sizes().vec();
  shape.back() = W.size(1);
  const torch::Tensor rows = x.reshape({-1, x.size(-1)});  // [N, in]
  return (b.defined() ? torch::addmm(b, rows, W) : torch::mm(rows, W)).view(shape);
}

}  // namespace mechlens
