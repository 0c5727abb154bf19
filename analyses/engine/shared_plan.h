// A sweep's plan shared between the ranks of a run (parallel/communicator.h). The packs are cut into
// shards of about equal work (core/work_shards.h); each rank carries out its shards with the one
// pack executor, saves each finished shard (when a shard folder is given) so that a run killed
// part-way can be resumed, and every rank ends with the values of all rows. Each pack runs exactly
// as in one process, so the table equals the single-process run's bit for bit. One process is the
// case of one rank: the same code path.
#pragma once

#include <torch/types.h>  // torch::Tensor

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "engine/plan_executor.h"
#include "parallel/communicator.h"

namespace mechlens {

/// Where a shared sweep's time went on this rank (accumulated over its plans).
struct SharingStats {
  double compute_seconds = 0;   // running this rank's packs
  double save_seconds = 0;      // writing finished shards
  double wait_seconds = 0;      // waiting for the other ranks to finish theirs (imbalance)
  double exchange_seconds = 0;  // exchanging every rank's rows and filling the table
  int64_t shards_computed = 0, shards_reused = 0;
};

struct PlanSharing {
  Communicator* comm = nullptr;  // null: this process alone, nothing saved
  /// Folder for finished shards (created if missing); "" keeps none. Every rank must see it
  /// (the output's folder on a shared file system).
  std::string shard_dir;
  /// Identifies the run (checkpoint, inputs, options): saved shards of another run are refused.
  std::string run_key;
  bool resume = false;            // reuse the finished shards in shard_dir (else they are replaced)
  int64_t shards_per_rank = 4;    // granularity: more shards balance better and lose less to a kill
  SharingStats* stats = nullptr;  // if set, receives this rank's timings
};

/// A pack's values: [rows] (one table) or [rows, tables] (one value per table), any device.
using ScoreRows = std::function<torch::Tensor(const PackBatch& batch, const torch::Tensor& answer_logits)>;

/// What execute_plan() would report for `packs`, from the plan alone (the same on every rank).
ExecutionCost plan_cost(const ModelConfig& config, const std::vector<Pack>& packs, int64_t n_pos);

/// Carries out this rank's shards of `packs` and writes every row's values, from whichever rank or
/// saved shard computed them, into `tables` (each a contiguous float32 or float64 [sites, batch] on
/// the CPU) at (site.flat, prompt). Values travel and are saved as float64, so float32 tables
/// receive exactly what was computed. `plan_name` names the plan's shard files ("head_z"); a run
/// may share several plans. Rank 0's `progress` covers every rank's work.
void execute_plan_shared(HookedTransformer& model, const std::vector<Pack>& packs, const TargetRun& target,
                         const InstallInterventions& install, const ScoreRows& score,
                         const std::vector<torch::Tensor>& tables, const std::string& plan_name,
                         const PlanSharing& sharing, ProgressBar& progress);

/// Removes the shard folder once the run's output is complete (rank 0; a no-op without a folder).
void remove_shards(const PlanSharing& sharing);

}  // namespace mechlens
