// Forward throughput of the hookable runtime: tokens/s without hooks, with a full activation cache,
// and (large config) achieved GFLOP/s next to a plain BLAS GEMM measured in the same process.
// usage: forward_bench [--quick]   (prints a Markdown table)
#include <fmt/format.h>
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "runtime/model.h"
#include "util/process_setup.h"

namespace {

using mechlens::HookedTransformer;
using mechlens::ModelConfig;

double time_call(const std::function<void()>& fn) {
  const auto start = std::chrono::steady_clock::now();
  fn();
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

double median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  return values[values.size() / 2];
}

// Median seconds per call of `a` and of `b`, run alternately so that drift of a noisy machine
// affects both alike.
std::pair<double, double> interleaved_medians(const std::function<void()>& a, const std::function<void()>& b,
                                              int repeats) {
  a();  // warm-up: allocator and thread pool
  b();
  std::vector<double> times_a, times_b;
  for (int i = 0; i < repeats; ++i) {
    times_a.push_back(time_call(a));
    times_b.push_back(time_call(b));
  }
  return {median(times_a), median(times_b)};
}

// Multiply-adds x2 of one forward pass, counting full (unmasked) attention as computed.
double forward_flops(const ModelConfig& c, int64_t batch, int64_t pos) {
  const double tokens = double(batch) * double(pos);
  const double qkv = 2.0 * tokens * c.d_model * double(c.n_heads + 2 * c.kv_heads()) * c.d_head;
  const double attention = 2.0 * 2.0 * double(batch) * c.n_heads * double(pos) * double(pos) * c.d_head;
  const double out = 2.0 * tokens * double(c.n_heads) * c.d_head * c.d_model;
  const double mlp = 2.0 * tokens * c.d_model * double(c.d_mlp) * (c.gated_mlp ? 3.0 : 2.0);
  const double unembed = 2.0 * tokens * c.d_model * double(c.d_vocab);
  return double(c.n_layers) * (qkv + attention + out + mlp) + unembed;
}

struct Case {
  const char* name;
  ModelConfig config;
  int64_t batch, pos;
  int repeats;
};

ModelConfig make_config(int64_t layers, int64_t d_model, int64_t heads, int64_t d_vocab, int64_t n_ctx) {
  ModelConfig c;
  c.n_layers = layers;
  c.d_model = d_model;
  c.n_heads = heads;
  c.d_head = d_model / heads;
  c.d_mlp = 4 * d_model;
  c.d_vocab = d_vocab;
  c.n_ctx = n_ctx;
  return c;
}

}  // namespace

int main(int argc, char** argv) {
  const bool quick = argc > 1 && std::strcmp(argv[1], "--quick") == 0;
  mechlens::configure_process();
  torch::NoGradGuard no_grad;
  const Case cases[] = {
      {"small (3L, d_model 128)", make_config(3, 128, 4, 512, 128), 32, 64, quick ? 5 : 41},
      {"large (12L, d_model 768)", make_config(12, 768, 12, 8192, 256), 4, 128, quick ? 1 : 7},
  };

  fmt::print("threads: {} (LibTorch intra-op; OpenBLAS shares the OpenMP pool)\n\n", torch::get_num_threads());
  fmt::print("| config | batch x pos | tokens/s (no hooks) | tokens/s (full cache) | cache / plain | GFLOP/s |\n");
  fmt::print("|---|---|---|---|---|---|\n");
  double large_gflops = 0.0;
  for (const auto& c : cases) {
    HookedTransformer model(c.config);
    model->eval();
    const torch::Tensor tokens = torch::randint(c.config.d_vocab, {c.batch, c.pos}, torch::kLong);
    const auto [plain, cached] =
        interleaved_medians([&] { model->forward(tokens); }, [&] { model->run_with_cache(tokens); }, c.repeats);
    const double tokens_count = double(c.batch * c.pos);
    const double gflops = forward_flops(c.config, c.batch, c.pos) / plain / 1e9;
    large_gflops = gflops;
    fmt::print("| {} | {} x {} | {:.0f} | {:.0f} | {:.2f} | {:.1f} |\n", c.name, c.batch, c.pos, tokens_count / plain,
               tokens_count / cached, plain / cached, gflops);
  }

  const int64_t n = 1024;
  const torch::Tensor a = torch::randn({n, n}), b = torch::randn({n, n});
  const double gemm = interleaved_medians([&] { torch::mm(a, b); }, [] {}, quick ? 3 : 11).first;
  const double gemm_gflops = 2.0 * double(n) * n * n / gemm / 1e9;
  fmt::print("\nplain GEMM {}^3 float32: {:.1f} GFLOP/s; large forward reaches {:.1f} GFLOP/s = {:.0f}% of it\n", n,
             gemm_gflops, large_gflops, 100.0 * large_gflops / gemm_gflops);
  return 0;
}
