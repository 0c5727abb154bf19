// Activation patching speed: the batched, layer-skipping sweep against mechlens's own
// one-forward-per-index loop, in the same process. Writes the prompts, answers and the fast sweep's
// results to WORK_DIR so bench/patch_baseline.py can time a TransformerLens-style plain-PyTorch loop
// on the same inputs and check it computes the same numbers (bench/run_patch_bench.sh runs both).
//
// Usage: patch_bench small|large WORK_DIR [--naive-runs N]
//   small: the shipped logic model, 8 query-flip pairs (38 tokens); every position.
//   large: a 12-layer, d_model 768 model (random weights, saved to WORK_DIR), 8 prompts of 32 tokens.
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <torch/torch.h>

#include <chrono>
#include <cstring>
#include <fstream>

#include "bench_models.h"
#include "io/checkpoint.h"
#include "patching/patching.h"
#include "tasks/example_tensors.h"
#include "tasks/task_factory.h"
#include "util/process_setup.h"

using namespace mechlens;

namespace {

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

void write_rows(const std::string& path, const torch::Tensor& rows) {
  std::ofstream out(path);
  torch::Tensor data = rows.to(torch::kLong).contiguous().view({rows.size(0), -1});
  for (int64_t i = 0; i < data.size(0); ++i) {
    for (int64_t j = 0; j < data.size(1); ++j) out << (j ? " " : "") << data[i][j].item<int64_t>();
    out << "\n";
  }
}

PatchingInputs logic_pairs(int64_t n) {
  std::unique_ptr<Task> task = make_task("logic", {});
  std::vector<Example> clean = generate_examples(*task, n, 2024);
  std::vector<Example> corrupted = generate_counterfactuals(*task, clean, 2024);
  PatchingInputs inputs;
  inputs.clean = to_tensors(clean, false).tokens;
  inputs.corrupted = to_tensors(corrupted, false).tokens;
  std::vector<int64_t> correct, wrong;
  for (int64_t i = 0; i < n; ++i) {
    correct.push_back(clean[i].answer[0]);
    wrong.push_back(corrupted[i].answer[0]);
  }
  inputs.correct = torch::tensor(correct, torch::kLong);
  inputs.wrong = torch::tensor(wrong, torch::kLong);
  inputs.answer_pos = torch::full({n}, inputs.clean.size(1) - 1, torch::kLong);
  return inputs;
}

PatchingInputs random_pairs(HookedTransformer& model, int64_t n, int64_t pos) {
  torch::manual_seed(5);
  PatchingInputs inputs;
  inputs.clean = torch::randint(model->config().d_vocab, {n, pos}, torch::kLong);
  inputs.corrupted = inputs.clean.clone();
  for (int64_t p : {pos / 4, pos / 2, pos - 3}) {
    inputs.corrupted.select(1, p).copy_(torch::randint(model->config().d_vocab, {n}, torch::kLong));
  }
  torch::NoGradGuard no_grad;
  inputs.answer_pos = torch::full({n}, pos - 1, torch::kLong);
  // Random weights: the clean run's top two tokens, so the logit difference is not trivially zero.
  torch::Tensor top2 = std::get<1>(model->forward(inputs.clean).select(1, pos - 1).topk(2));
  inputs.correct = top2.select(1, 0).contiguous();
  inputs.wrong = top2.select(1, 1).contiguous();
  return inputs;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3 || (std::strcmp(argv[1], "small") != 0 && std::strcmp(argv[1], "large") != 0)) {
    fmt::print(stderr, "usage: patch_bench small|large WORK_DIR [--naive-runs N]\n");
    return 2;
  }
  const bool large = std::strcmp(argv[1], "large") == 0;
  const std::string work = argv[2];
  int64_t naive_runs = large ? 24 : 1 << 30;  // the naive loop's cost per run is constant: sample it
  if (argc > 4 && std::strcmp(argv[3], "--naive-runs") == 0) naive_runs = std::atoll(argv[4]);
  configure_process();

  HookedTransformer model{nullptr};
  PatchingInputs inputs;
  std::string checkpoint;
  if (large) {
    model = HookedTransformer(bench::gpt2_small_shape(/*d_vocab=*/2048, /*n_ctx=*/64));
    checkpoint = work + "/large.safetensors";
    save_checkpoint(model, checkpoint);
    inputs = random_pairs(model, 8, 32);
  } else {
    checkpoint = std::string(MECHLENS_SOURCE_DIR) + "/data/checkpoints/logic_3l3h.safetensors";
    model = load_checkpoint(checkpoint);
    inputs = logic_pairs(8);
  }
  write_rows(work + "/clean.txt", inputs.clean);
  write_rows(work + "/corrupted.txt", inputs.corrupted);
  write_rows(work + "/answers.txt", torch::stack({inputs.correct, inputs.wrong}, 1));
  std::ofstream(work + "/checkpoint.txt") << checkpoint << "\n";

  PatchingSession session(model, inputs, MetricKind::kLogitDiff);
  const int64_t n_pos = inputs.positions();
  fmt::print("{}: {} layers, d_model {}, {} prompts x {} tokens, threads {}\n", large ? "large" : "small",
             model->config().n_layers, model->config().d_model, inputs.batch(), n_pos, torch::get_num_threads());
  std::ofstream results(work + "/mechlens.txt");
  for (const char* name : {"resid_pre", "head_z"}) {
    const Component component = parse_components(name, model->config()).front();
    PatchOptions options;
    if (large && component.is_head()) options.positions = {n_pos - 4, n_pos - 3, n_pos - 2, n_pos - 1};
    // Skipping unchanged rows is exact but depends on the prompts (here: pairs that differ at a few
    // positions); the dense sweep recomputes every (run, prompt) row, as if every position differed.
    session.run(component, options);  // warm-up
    auto start = std::chrono::steady_clock::now();
    const PatchResult fast = session.run(component, options);
    const double fast_s = seconds_since(start);
    PatchOptions dense_options = options;
    dense_options.skip_unchanged = false;
    start = std::chrono::steady_clock::now();
    const PatchResult dense = session.run(component, dense_options);
    const double dense_s = seconds_since(start);
    const int64_t runs = fast.metric.numel();

    // The naive loop over the first `naive_runs` indices (all, for the small model), scaled.
    PatchOptions sample = options;
    int64_t sampled = runs;
    if (naive_runs < runs) {
      const int64_t per_layer = runs / int64_t(fast.labels[0].size());
      const int64_t layers = std::max<int64_t>(1, naive_runs / per_layer);
      sample.layers = {};
      for (int64_t l = 0; l < layers; ++l) sample.layers.push_back(l);
      sampled = layers * per_layer;
    }
    start = std::chrono::steady_clock::now();
    const PatchResult naive = session.run_naive(component, sample);
    const double naive_s = seconds_since(start) * double(runs) / double(sampled);
    const double max_diff =
        (naive.metric.flatten() - fast.metric.flatten().narrow(0, 0, naive.metric.numel())).abs().max().item<double>();
    const double dense_diff = (dense.metric - fast.metric).abs().max().item<double>();
    fmt::print(
        "{:<10} {:>5} patched runs: naive loop {:.3f} s{}; batched {:.3f} s -> {:.1f}x; dense batched {:.3f} s "
        "-> {:.1f}x (max |diff| {:.1e}, dense {:.1e})\n",
        name, runs, naive_s, sampled < runs ? fmt::format(" (from {} runs)", sampled) : "", fast_s, naive_s / fast_s,
        dense_s, naive_s / dense_s, max_diff, dense_diff);
    torch::Tensor flat = fast.metric.flatten().to(torch::kFloat64).contiguous();
    results << name << " " << runs << " " << fast_s << " " << dense_s << " "
            << fmt::format(
                   "{}",
                   fmt::join(std::vector<double>(flat.data_ptr<double>(), flat.data_ptr<double>() + flat.numel()), ","))
            << "\n";
  }
  return 0;
}
