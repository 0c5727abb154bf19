// mechlens's side of bench/run_probe_bench.sh: linear-probe training throughput (analyses/heads/probes.h:
// standardised features, multinomial logistic regression by full-batch L-BFGS, 100 iterations) on
// seeded synthetic activations shaped like the probes users run (2,000 prompts, 26 classes: the logic
// model's d_model 96 and a GPT-2-sized 768). Writes the features, labels and split to WORK_DIR for the
// plain-PyTorch baseline and prints one JSON line per size: median seconds and held-out accuracy.
//
// Usage: probe_bench WORK_DIR [--repeats N]
#include <fmt/format.h>
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "bench_timing.h"
#include "heads/probes.h"
#include "io/safetensors.h"
#include "util/process_setup.h"

using namespace mechlens;
using mechlens::bench::median_seconds;

int main(int argc, char** argv) {
  if (argc < 2) {
    fmt::print(stderr, "usage: probe_bench WORK_DIR [--repeats N]\n");
    return 2;
  }
  const std::string work = argv[1];
  int repeats = 5;
  if (argc >= 4 && std::strcmp(argv[2], "--repeats") == 0) repeats = std::atoi(argv[3]);
  configure_process();
  const int64_t n = 2000, classes = 26;
  for (int64_t d : {96, 768}) {
    torch::manual_seed(d);
    // Class means plus noise: separable to a degree, as residual-stream features are.
    const torch::Tensor labels = torch::randint(classes, {n}, torch::kLong);
    const torch::Tensor means = torch::randn({classes, d});
    const torch::Tensor features = means.index_select(0, labels) * 0.3 + torch::randn({n, d});
    const ProbeSplit split = probe_split(n, 0.8, 0);
    ProbeOptions options;
    ProbeFit fit;
    const double seconds = median_seconds(repeats, [&] { fit = fit_probe(features, labels, split, options); });
    write_safetensors(fmt::format("{}/probe_{}.safetensors", work, d),
                      {{"features", features}, {"labels", labels}, {"train", split.train}, {"test", split.test}});
    fmt::print(
        "{{\"d\": {}, \"n\": {}, \"classes\": {}, \"seconds\": {:.6f}, \"test_accuracy\": {:.6f}, "
        "\"threads\": {}}}\n",
        d, n, classes, seconds, fit.test_accuracy, torch::get_num_threads());
  }
  return 0;
}
