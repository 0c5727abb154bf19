// Matching scores of every hop layer and head of a 12-layer, 12-head, d_model 768 model (random
// weights, saved to WORK_DIR/model.safetensors) over 1,000 tokens, timed against the same computation
// in plain PyTorch (bench/match_baseline.py, run by bench/run_match_bench.sh on the saved weights,
// which also checks that both give the same scores). Writes the scores to WORK_DIR/mechlens_scores.txt.
// Usage: match_bench WORK_DIR
#include <fmt/format.h>
#include <torch/torch.h>

#include <chrono>
#include <fstream>

#include "bench_models.h"
#include "io/checkpoint.h"
#include "matching/matching_score.h"
#include "util/process_setup.h"

using namespace mechlens;

int main(int argc, char** argv) {
  if (argc < 2) {
    fmt::print(stderr, "usage: match_bench WORK_DIR\n");
    return 2;
  }
  const std::string work = argv[1];
  const int threads = configure_process();
  ModelConfig config = bench::gpt2_small_shape(/*d_vocab=*/1024, /*n_ctx=*/64);
  config.seed = 4;
  HookedTransformer model(config);
  model->eval();
  save_checkpoint(model, work + "/model.safetensors", {});
  MatchingOptions options;
  for (int64_t t = 0; t < 1000; ++t) options.tokens.push_back(t);
  matching_scores(model, options);  // warm-up
  std::vector<double> times;
  MatchingScores scores;
  for (int i = 0; i < 3; ++i) {
    const auto start = std::chrono::steady_clock::now();
    scores = matching_scores(model, options);
    times.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  }
  std::sort(times.begin(), times.end());
  fmt::print(
      "matching scores, 11 hop layers x 12 heads, d_model 768, 1,000 tokens ({} threads): mechlens {:.3f} s (median of "
      "3)\n",
      threads, times[1]);
  std::ofstream out(work + "/mechlens_scores.txt");
  const torch::Tensor flat = scores.score.flatten().to(torch::kFloat64).contiguous();
  for (int64_t i = 0; i < flat.numel(); ++i) out << fmt::format("{:.9g}\n", flat.data_ptr<double>()[i]);
  std::ofstream time_file(work + "/mechlens_seconds.txt");
  time_file << times[1] << "\n";
  return 0;
}
