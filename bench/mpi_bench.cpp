// Sharing a sweep and a record between MPI ranks: run under `mpirun -n K mpi_bench` (or alone for
// one rank). A GPT-2-small-shaped model (random weights) sweeps head_z over the last positions of
// a few prompt pairs with the shared plan executor, then records the residual stream of many
// prompts with the shared recorder, and times a whole patching run with its set-up shared by packs
// and by prompt groups (patching/split_patching.h). Rank 0 prints one JSON line: wall time of each phase, and
// where the sweep's time went (computing packs, saving shards, waiting for the slowest rank,
// exchanging results; the record's joining of shards). bench/run_mpi_bench.sh compares K ranks x
// T threads layouts from these lines.
#include <torch/torch.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <iostream>

#include <nlohmann/json.hpp>

#include "bench_models.h"
#include "parallel/communicator.h"
#include "patching/patching.h"
#include "patching/split_patching.h"
#include "store/recorder.h"
#include "store/shared_record.h"
#include "util/process_setup.h"

namespace {

using namespace mechlens;
using Clock = std::chrono::steady_clock;

double since(Clock::time_point start) { return std::chrono::duration<double>(Clock::now() - start).count(); }

// `n` random prompt pairs of `length` tokens that differ at position `changed`, answered at the last.
PatchingInputs random_pairs(const ModelConfig& config, int64_t n, int64_t length, int64_t changed) {
  PatchingInputs pairs;
  pairs.clean = torch::randint(config.d_vocab, {n, length}, torch::TensorOptions().dtype(torch::kLong));
  pairs.corrupted = pairs.clean.clone();
  pairs.corrupted.select(1, changed).random_(config.d_vocab);
  pairs.answer_pos = torch::full({n}, length - 1, torch::kLong);
  pairs.correct = torch::arange(n, torch::kLong);
  pairs.wrong = pairs.correct + n;
  return pairs;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string scratch = argc > 1 ? argv[1] : std::filesystem::temp_directory_path().string();
  const int64_t prompt_groups = argc > 2 ? std::stoll(argv[2]) : 2;  // the layout's rank count
  Communicator& comm = world();
  const int threads = configure_process(comm.local_size());
  if (comm.rank() > 0) ProgressBar::hide_in_this_process();
  torch::NoGradGuard no_grad;
  torch::manual_seed(0);  // every rank draws the same prompts

  // The sweep: 4 prompt pairs of 32 tokens; head_z at the last 4 positions of all 12 layers
  // (576 patched runs x 4 prompts), packs of 64 rows.
  ModelConfig config = bench::gpt2_small_shape(/*d_vocab=*/8192, /*n_ctx=*/64);
  config.seed = 1;
  HookedTransformer model(config);
  model->eval();
  const PatchingInputs inputs = random_pairs(config, 4, 32, 20);
  const auto setup_start = Clock::now();
  PatchingSession session(model, inputs, MetricKind::kLogitDiff);
  const Component component = parse_components("head_z", config).front();
  PatchOptions options;
  options.positions = {28, 29, 30, 31};
  options.max_batch = 64;
  options.sharing.comm = &comm;
  options.sharing.shard_dir = scratch + "/mpi_bench_sweep.shards";
  options.sharing.run_key = "mpi_bench";
  SharingStats stats;
  options.sharing.stats = &stats;
  session.run(component, options);  // warm-up: caches hook_z; its shards are replaced below
  const double setup_seconds = since(setup_start);
  stats = SharingStats{};
  comm.barrier();
  const auto sweep_start = Clock::now();
  const PatchResult result = session.run(component, options);
  comm.barrier();
  const double sweep_seconds = since(sweep_start);
  remove_shards(options.sharing);

  // A whole patching run, set-up included: 8 prompt pairs of 64 tokens, head_z at the last 2
  // positions. Shared by packs, every rank runs the set-up (the clean and corrupted runs of all
  // prompts); split into prompt groups (one per rank of the largest layout), each rank runs only its
  // groups' set-up.
  const PatchingInputs pairs = random_pairs(config, 8, 64, 40);
  SplitPatchRequest request;
  request.components = {component};
  request.options.positions = {62, 63};
  request.options.max_batch = 64;
  request.options.sharing.comm = &comm;
  request.groups = prompt_groups;
  comm.barrier();
  const auto by_packs_start = Clock::now();
  {
    PatchingSession whole(model, pairs, MetricKind::kLogitDiff);
    whole.run(component, request.options);
  }
  comm.barrier();
  const double by_packs_seconds = since(by_packs_start);
  const auto by_groups_start = Clock::now();
  run_split_patching(model, pairs, MetricKind::kLogitDiff, request, false);
  comm.barrier();
  const double by_groups_seconds = since(by_groups_start);

  // The record: 192 prompts of 64 tokens, every layer's residual stream at the last position.
  PromptSet prompts;
  prompts.tokens = torch::randint(config.d_vocab, {192, 64}, torch::TensorOptions().dtype(torch::kLong));
  prompts.lengths = torch::full({192}, 64, torch::kLong);
  RecordSettings settings;
  settings.hooks = model->resolve_hooks({"blocks.*.hook_resid_post"});
  settings.positions = "-1";
  settings.batch_size = 16;
  RecordProvenance provenance;
  provenance.model_config_json = config.to_json().dump();
  provenance.input_sha256 = prompt_set_sha256(prompts);
  SharedRecordOptions record_options;
  record_options.show_progress = false;
  SharedRecordStats record_stats;
  record_options.stats = &record_stats;
  const std::string record_path = scratch + "/mpi_bench_record.h5";
  comm.barrier();
  const auto record_start = Clock::now();
  record_shared(model, prompts, settings, provenance, recorded_dims(model, settings.hooks), record_path, comm,
                record_options);
  comm.barrier();
  const double record_seconds = since(record_start);

  if (comm.rank() == 0) {
    std::filesystem::remove(record_path);
    const nlohmann::json line{{"ranks", comm.size()},
                              {"threads", threads},
                              {"setup_seconds", setup_seconds},
                              {"sweep_seconds", sweep_seconds},
                              {"sweep_rows", result.rows_computed},
                              {"compute_seconds", stats.compute_seconds},
                              {"save_seconds", stats.save_seconds},
                              {"wait_seconds", stats.wait_seconds},
                              {"exchange_seconds", stats.exchange_seconds},
                              {"record_seconds", record_seconds},
                              {"setup_included_by_packs_seconds", by_packs_seconds},
                              {"setup_included_by_groups_seconds", by_groups_seconds},
                              {"prompt_groups", prompt_groups},
                              {"join_seconds", record_stats.join_seconds}};
    std::cout << line.dump() << std::endl;
  }
  return 0;
}
