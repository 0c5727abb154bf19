// Recording benchmarks.
//   record_bench throughput [--examples N]: HDF5 write rate of attention maps (uncompressed and
//     gzip) against a plain sequential write of the same bytes to the same directory, same process.
//   record_bench memory N: records N prompts end to end and prints the peak resident memory, which
//     must not grow with N (bench/run_record_bench.sh compares N = 1,000 and 20,000).
#include <fmt/format.h>
#include <sys/resource.h>
#include <torch/torch.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <utility>
#include <vector>

#include "runtime/model.h"
#include "store/recorder.h"
#include "util/process_setup.h"

namespace {

using namespace mechlens;
namespace fs = std::filesystem;

ModelConfig bench_config() {
  ModelConfig c;
  c.n_layers = 3;
  c.d_model = 128;
  c.n_heads = 4;
  c.d_head = 32;
  c.d_mlp = 512;
  c.n_ctx = 64;
  c.d_vocab = 64;
  return c;
}

PromptSet random_prompts(int64_t n, int64_t len, int64_t vocab) {
  at::Generator generator = at::detail::createCPUGenerator(1);
  PromptSet set;
  set.tokens = torch::randint(vocab, {n, len}, generator, torch::kLong);
  set.lengths = torch::full({n}, len, torch::kLong);
  return set;
}

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

int throughput(int64_t n_examples, const fs::path& dir) {
  HookedTransformer model(bench_config());
  const int64_t batch = 50, len = 64;
  const PromptSet prompts = random_prompts(batch, len, model->config().d_vocab);
  RecordSettings settings;
  settings.hooks = model->resolve_hooks({"blocks.*.attn.hook_pattern"});
  settings.batch_size = batch;
  // One real batch of attention maps, appended repeatedly: the benchmark times writing, not forwards.
  torch::NoGradGuard no_grad;
  auto [logits, cache] = model->run_with_cache(prompts.tokens, model->names_filter(settings.hooks));
  RecordBatch rows{prompts.tokens, prompts.lengths, {}, {}, {}};
  int64_t batch_bytes = 0;
  for (const auto& name : settings.hooks) {
    rows.acts.emplace_back(name, cache.at(name));
    batch_bytes += cache.at(name).numel() * 4;
  }
  const int64_t n_batches = n_examples / batch;
  const double total_mb = double(batch_bytes) * double(n_batches) / 1e6;

  // Baseline: the same bytes written sequentially with std::ofstream. Timed before and after the
  // HDF5 runs; the faster of the two is the reference (the page cache warms up on the first).
  const fs::path plain_path = dir / "plain.bin";
  auto plain_write = [&] {
    const auto begin = std::chrono::steady_clock::now();
    {
      std::ofstream out(plain_path, std::ios::binary);
      for (int64_t b = 0; b < n_batches; ++b) {
        for (const auto& [name, tensor] : rows.acts)
          out.write(static_cast<const char*>(tensor.data_ptr()), tensor.numel() * 4);
      }
    }
    const double seconds = seconds_since(begin);
    fs::remove(plain_path);
    return seconds;
  };
  double plain_seconds = plain_write();
  fmt::print("attention maps: {} examples x {} layers x [4, 64, 64] float32 = {:.0f} MB\n\n", n_examples,
             settings.hooks.size(), total_mb);
  struct Result {
    std::string writer;
    double seconds, file_mb;
  };
  std::vector<Result> results;
  for (int level : {0, 1, 4}) {
    settings.gzip_level = level;
    const std::string path = (dir / fmt::format("bench_{}.h5", level)).string();
    const auto start = std::chrono::steady_clock::now();
    RecordWriter writer =
        RecordWriter::create(path, settings, {}, recorded_dims(model, settings.hooks), {}, n_examples);
    for (int64_t b = 0; b < n_batches; ++b) writer.append(rows);
    writer.finish();
    results.push_back({level ? fmt::format("gzip:{} + shuffle", level) : "uncompressed", seconds_since(start),
                       double(fs::file_size(path)) / 1e6});
    fs::remove(path);
  }
  plain_seconds = std::min(plain_seconds, plain_write());
  fmt::print("| writer | MB/s | vs plain write | file MB |\n|---|---|---|---|\n");
  fmt::print("| plain std::ofstream (faster of 2) | {:.0f} | 1.00 | {:.0f} |\n", total_mb / plain_seconds, total_mb);
  for (const auto& r : results) {
    fmt::print("| mechlens record {} | {:.0f} | {:.2f} | {:.0f} |\n", r.writer, total_mb / r.seconds,
               plain_seconds / r.seconds, r.file_mb);
  }
  return 0;
}

int memory(int64_t n_examples, const fs::path& dir) {
  HookedTransformer model(bench_config());
  const PromptSet prompts = random_prompts(n_examples, 32, model->config().d_vocab);
  RecordSettings settings;
  settings.hooks = {"blocks.1.attn.hook_pattern", "blocks.1.hook_resid_post"};
  settings.batch_size = 64;
  const std::string path = (dir / fmt::format("memory_{}.h5", n_examples)).string();
  const auto start = std::chrono::steady_clock::now();
  RecordWriter writer = RecordWriter::create(path, settings, {}, recorded_dims(model, settings.hooks), {}, n_examples);
  record_activations(model, prompts, settings, writer, /*show_progress=*/false);
  writer.finish();
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  // The prompt ids themselves (N x 32 int64) are the only input held whole.
  fmt::print("N={} peak_rss_mb={:.1f} file_mb={:.1f} seconds={:.1f}\n", n_examples, usage.ru_maxrss / 1024.0,
             double(fs::file_size(path)) / 1e6, seconds_since(start));
  fs::remove(path);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  mechlens::configure_process();
  const fs::path dir = fs::temp_directory_path() / "mechlens_record_bench";
  fs::create_directories(dir);
  if (argc >= 2 && std::strcmp(argv[1], "throughput") == 0) {
    const int64_t n = argc >= 4 && std::strcmp(argv[2], "--examples") == 0 ? std::atoll(argv[3]) : 2000;
    return throughput(n, dir);
  }
  if (argc >= 3 && std::strcmp(argv[1], "memory") == 0) return memory(std::atoll(argv[2]), dir);
  std::fprintf(stderr, "usage: record_bench throughput [--examples N] | record_bench memory N\n");
  return 2;
}
