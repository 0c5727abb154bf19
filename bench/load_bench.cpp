// Loading a large checkpoint and running it, in one dtype per process (so the peak resident memory
// is this load's): wall time of load_checkpoint, peak RSS (getrusage) against the checkpoint's size
// on disk, then forward tokens/s over one prompt (best of --repeats). Prints one JSON line.
// usage: load_bench CHECKPOINT bf16|f32 [--tokens N] [--repeats R]
#include <fmt/format.h>
#include <sys/resource.h>
#include <torch/torch.h>

#include <chrono>
#include <cstring>
#include <fstream>
#include <string>
#include <utility>

#include "io/checkpoint.h"
#include "util/process_setup.h"

namespace {

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// Resident memory now, from /proc/self/status: anonymous (copies) and file-backed (mapped weights).
std::pair<double, double> rss_now_bytes() {
  std::ifstream status("/proc/self/status");
  double anon = 0, file = 0;
  for (std::string line; std::getline(status, line);) {
    if (line.rfind("RssAnon:", 0) == 0) anon = std::stod(line.substr(8)) * 1024.0;
    if (line.rfind("RssFile:", 0) == 0) file = std::stod(line.substr(8)) * 1024.0;
  }
  return {anon, file};
}

double peak_rss_bytes() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return double(usage.ru_maxrss) * 1024.0;  // Linux reports kilobytes
}

}  // namespace

int main(int argc, char** argv) {
  mechlens::configure_process();
  if (argc < 3) {
    fmt::print(stderr, "usage: load_bench CHECKPOINT bf16|f32 [--tokens N] [--repeats R]\n");
    return 2;
  }
  const std::string checkpoint = argv[1], dtype_name = argv[2];
  int64_t n_tokens = 128, repeats = 3;
  for (int i = 3; i + 1 < argc; i += 2) {
    if (std::strcmp(argv[i], "--tokens") == 0) n_tokens = std::stoll(argv[i + 1]);
    if (std::strcmp(argv[i], "--repeats") == 0) repeats = std::stoll(argv[i + 1]);
  }
  mechlens::LoadOptions options;
  options.dtype = dtype_name == "bf16" ? torch::kBFloat16 : torch::kFloat32;
  const double rss_before = peak_rss_bytes();
  const auto start = std::chrono::steady_clock::now();
  mechlens::HookedTransformer model = mechlens::load_checkpoint(checkpoint, options);
  model->eval();
  const double load_s = seconds_since(start);
  const double load_rss = peak_rss_bytes();
  const auto [anon_after_load, file_after_load] = rss_now_bytes();

  torch::NoGradGuard no_grad;
  at::Generator generator = at::detail::createCPUGenerator(0);
  const torch::Tensor tokens = torch::randint(model->config().d_vocab, {1, n_tokens}, generator, torch::kLong);
  model->forward(tokens.narrow(1, 0, std::min<int64_t>(8, n_tokens)));  // warm-up
  double best = 1e30;
  for (int64_t r = 0; r < repeats; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    model->forward(tokens);
    best = std::min(best, seconds_since(t0));
  }
  fmt::print(
      "{{\"tool\": \"mechlens\", \"dtype\": \"{}\", \"file_gb\": {:.3f}, \"load_s\": {:.2f}, \"rss_before_gb\": "
      "{:.3f}, "
      "\"load_peak_rss_gb\": {:.3f}, \"rss_anon_after_load_gb\": {:.3f}, \"rss_file_after_load_gb\": {:.3f}, "
      "\"peak_rss_gb\": {:.3f}, \"tokens\": {}, \"forward_s\": {:.3f}, \"tokens_per_s\": {:.1f}}}\n",
      dtype_name, double(mechlens::checkpoint_bytes(checkpoint)) / 1e9, load_s, rss_before / 1e9, load_rss / 1e9,
      anon_after_load / 1e9, file_after_load / 1e9, peak_rss_bytes() / 1e9, n_tokens, best, double(n_tokens) / best);
  return 0;
}
