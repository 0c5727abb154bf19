// A batch of prompts as tensors, with per-prompt annotations: what task generators produce, what the
// recorder and the analyses read, and what a record stores.
#pragma once

#include <torch/types.h>  // torch::Tensor

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace mechlens {

struct PromptSet {
  torch::Tensor tokens;                                             // [N, T] int64, right-padded with 0
  torch::Tensor lengths;                                            // [N] int64
  std::vector<std::pair<std::string, torch::Tensor>> annotations;   // name -> [N, ...] integers
  std::map<std::string, std::vector<std::string>> annotation_dims;  // name -> dimension names

  int64_t size() const { return tokens.defined() ? tokens.size(0) : 0; }
};

}  // namespace mechlens
