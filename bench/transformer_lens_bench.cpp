// mechlens's side of bench/run_transformer_lens_bench.sh: times run_with_cache and patching sweeps
// on a checkpoint (a TransformerLens model saved by bench/transformer_lens_bench.py) and prints one
// JSON object: seconds (median of repeats), each sweep's metric (for the value check against
// TransformerLens), the FLOPs the sweep computed by the model's cost model, and a plain 1024^3 GEMM's
// rate measured in the same process, so that each sweep is also reported against the time the
// machine needs for the work it does.
//
// Usage: transformer_lens_bench CHECKPOINT CLEAN.txt CORRUPTED.txt ANSWERS.txt [--repeats N]
//                               [--sweeps resid_pre,head_z,head_z_all]
#include <fmt/format.h>
#include <torch/torch.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <fstream>
#include <functional>
#include <sstream>

#include "bench_timing.h"
#include "io/checkpoint.h"
#include "patching/patching.h"
#include "util/process_setup.h"

using namespace mechlens;
using mechlens::bench::median_seconds;

namespace {

torch::Tensor read_rows(const std::string& path) {
  std::ifstream in(path);
  std::vector<std::vector<int64_t>> rows;
  for (std::string line; std::getline(in, line);) {
    std::istringstream words(line);
    rows.emplace_back();
    for (int64_t id; words >> id;) rows.back().push_back(id);
  }
  torch::Tensor out = torch::empty({int64_t(rows.size()), int64_t(rows.at(0).size())}, torch::kLong);
  for (size_t i = 0; i < rows.size(); ++i) {
    for (size_t j = 0; j < rows[i].size(); ++j) out[int64_t(i)][int64_t(j)] = rows[i][j];
  }
  return out;
}

double gemm_flops_per_second() {
  torch::NoGradGuard no_grad;
  const torch::Tensor a = torch::randn({1024, 1024}), b = torch::randn({1024, 1024});
  const double seconds = median_seconds(5, [&] { torch::mm(a, b); });
  return 2.0 * 1024 * 1024 * 1024 / seconds;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 5) {
    fmt::print(stderr, "usage: transformer_lens_bench CHECKPOINT CLEAN.txt CORRUPTED.txt ANSWERS.txt [--repeats N]\n");
    return 2;
  }
  int repeats = 3;
  std::vector<std::string> sweeps{"resid_pre", "head_z", "head_z_all"};
  for (int i = 5; i + 1 < argc; i += 2) {
    if (std::strcmp(argv[i], "--repeats") == 0) repeats = std::atoi(argv[i + 1]);
    if (std::strcmp(argv[i], "--sweeps") == 0) {
      sweeps.clear();
      std::istringstream names(argv[i + 1]);
      for (std::string name; std::getline(names, name, ',');) sweeps.push_back(name);
    }
  }
  configure_process();
  HookedTransformer model = load_checkpoint(argv[1]);
  model->eval();
  PatchingInputs inputs;
  inputs.clean = read_rows(argv[2]);
  inputs.corrupted = read_rows(argv[3]);
  const torch::Tensor answers = read_rows(argv[4]);
  inputs.correct = answers.select(1, 0).contiguous();
  inputs.wrong = answers.select(1, 1).contiguous();
  inputs.answer_pos = torch::full({inputs.clean.size(0)}, inputs.clean.size(1) - 1, torch::kLong);

  nlohmann::json out;
  out["threads"] = torch::get_num_threads();
  out["gemm_flops_per_second"] = gemm_flops_per_second();
  {
    torch::NoGradGuard no_grad;
    out["run_with_cache_seconds"] = median_seconds(repeats, [&] {
      // The hooks TransformerLens caches by default: every one but attn.hook_result (use_attn_result).
      auto result = model->run_with_cache(
          inputs.clean, [](const std::string& name) { return name.find("attn.hook_result") == std::string::npos; });
    });
  }
  PatchingSession session(model, inputs, MetricKind::kLogitDiff);
  for (const std::string& name : sweeps) {
    const Component component = parse_components(name, model->config()).front();
    for (bool dense : {false, true}) {
      PatchOptions options;
      options.skip_unchanged = !dense;
      PatchResult result;
      const double seconds = median_seconds(repeats, [&] { result = session.run(component, options); });
      nlohmann::json entry{{"seconds", seconds}, {"flops", result.flops}, {"rows", result.rows_computed}};
      if (!dense) {
        torch::Tensor flat = result.metric.to(torch::kFloat64).contiguous().flatten();
        entry["metric"] = std::vector<double>(flat.data_ptr<double>(), flat.data_ptr<double>() + flat.numel());
        entry["shape"] = result.metric.sizes().vec();
      }
      out["sweeps"][name + (dense ? "_dense" : "")] = entry;
    }
  }
  fmt::print("{}\n", out.dump());
  return 0;
}
