// bfloat16 against float32 for a 7B-class block on this CPU, to choose how large checkpoints run: one
// Mistral-7B block (d_model 4096, 32 heads, 8 key-value heads, d_mlp 14336, RMSNorm, rotary, gated
// SiLU) over the logic paper's prompt length (247 tokens), batch 1 and 8, timed three ways in the same
// process: float32 weights; bfloat16 weights computing in bfloat16; bfloat16 weights converted to
// float32 for the layer (what per-layer conversion costs). Also the bf16 result's max |difference| from
// float32 on the same weights. usage: dtype_bench [--quick]   (prints a Markdown table)
#include <fmt/format.h>
#include <torch/torch.h>

#include <cstring>
#include <vector>

#include "bench_timing.h"
#include "runtime/model.h"
#include "util/process_setup.h"

int main(int argc, char** argv) {
  mechlens::configure_process();
  const bool quick = argc > 1 && std::strcmp(argv[1], "--quick") == 0;
  mechlens::ModelConfig config;
  config.n_layers = 1;
  config.d_model = quick ? 1024 : 4096;
  config.n_heads = 32;
  config.n_key_value_heads = 8;
  config.d_head = config.d_model / 32;
  config.d_mlp = quick ? 3584 : 14336;
  config.n_ctx = 512;
  config.d_vocab = 1000;  // the block is what is measured; the unembedding is kept small
  config.act_fn = mechlens::ActFn::kSiLU;
  config.gated_mlp = true;
  config.normalization_type = mechlens::NormType::kRMS;
  config.positional_embedding_type = mechlens::PositionalEmbedding::kRotary;
  config.attn_bias = config.mlp_bias = config.unembed_bias = false;
  torch::NoGradGuard no_grad;
  mechlens::HookedTransformer fp32(config);
  fp32->eval();
  mechlens::HookedTransformer bf16(config);
  bf16->eval();
  for (auto& item : bf16->named_parameters())
    item.value().set_data(fp32->named_parameters()[item.key()].to(torch::kBFloat16));
  // Per-layer conversion: a float32 model whose weights are refilled from the bfloat16 copy each time.
  mechlens::HookedTransformer converted(config);
  converted->eval();

  fmt::print(
      "| batch x tokens | float32 | bfloat16 compute | bf16 -> float32 per layer | bf16 / fp32 | max abs diff (logits) "
      "|\n");
  fmt::print("|---|---|---|---|---|---|\n");
  for (int64_t batch : {int64_t(1), int64_t(8)}) {
    const int64_t tokens = 247;
    const torch::Tensor input = torch::randint(config.d_vocab, {batch, tokens}, torch::kLong);
    const int repeats = quick ? 3 : 5;
    const double t32 = mechlens::bench::median_seconds(repeats, [&] { fp32->forward(input); });
    const double t16 = mechlens::bench::median_seconds(repeats, [&] { bf16->forward(input); });
    const double tconv = mechlens::bench::median_seconds(repeats, [&] {
      for (auto& item : converted->named_parameters()) item.value().copy_(bf16->named_parameters()[item.key()]);
      converted->forward(input);
    });
    const double diff = (fp32->forward(input) - bf16->forward(input).to(torch::kFloat32)).abs().max().item<double>();
    fmt::print("| {} x {} | {:.3f} s | {:.3f} s | {:.3f} s | {:.2f} | {:.3g} |\n", batch, tokens, t32, t16, tconv,
               t16 / t32, diff);
  }
  return 0;
}
