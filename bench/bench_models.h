// Model shapes the benchmarks share.
#pragma once

#include <cstdint>

#include "runtime/config.h"

namespace mechlens::bench {

/// GPT-2 small's shape: 12 layers, d_model 768, 12 heads of 64, d_mlp 3072, exact GELU; the
/// vocabulary and context as the benchmark needs them (GPT-2's own: 50257, 1024).
inline ModelConfig gpt2_small_shape(int64_t d_vocab, int64_t n_ctx) {
  ModelConfig config;
  config.n_layers = 12;
  config.d_model = 768;
  config.n_heads = 12;
  config.d_head = 64;
  config.d_mlp = 3072;
  config.d_vocab = d_vocab;
  config.n_ctx = n_ctx;
  config.act_fn = ActFn::kGELU;
  return config;
}

}  // namespace mechlens::bench
