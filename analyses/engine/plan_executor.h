// Carries out a batched intervention plan (core/intervention_plan.h) on a model: each pack is one
// forward pass that starts at the pack's layer from the target run's cached residual stream,
// recomputes only positions pack.first.. (earlier positions enter as the target run's cached keys
// and values) and unembeds only each row's answer position. What the intervention is (a patch, an
// ablation, an attention knock-out, a steering vector) is the caller's: it installs hooks for the
// pack's rows, and reads the answer logits back. Patching and knock-out sweeps share this engine.
#pragma once

#include <torch/types.h>  // torch::Tensor

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "core/intervention_plan.h"
#include "hooks/activation_cache.h"
#include "hooks/hook_point.h"
#include "runtime/model.h"
#include "util/progress.h"

namespace mechlens {

/// The unintervened run every recomputed row starts from.
struct TargetRun {
  torch::Tensor tokens;                    // [batch, pos]
  const ActivationCache* cache = nullptr;  // target_cache_hooks(config) of every layer
  torch::Tensor answer_pos;                // long [batch]: the position whose logits are read
};

/// Hook suffixes a target run's cache must hold for the executor: the residual stream entering each
/// layer, and the keys (rotated, for rotary models) and values that later positions attend to.
std::vector<std::string> target_cache_hooks(const ModelConfig& config);

/// What one pack's hooks and read-out see.
struct PackBatch {
  const Pack& pack;
  std::vector<int64_t> prompts;      // [rows]: the target prompt of each row
  std::vector<int64_t> flat_of_row;  // [rows]: the result index (site.flat) of each row's run
  torch::Tensor prompt_of_row;       // long [rows], on the model's device: `prompts`
  int64_t first = 0;                 // first recomputed position; activations hold positions first..n_pos-1
  int64_t span = 0;                  // recomputed positions (n_pos - first)
};

/// Adds the pack's interventions to `scope` (removed after the pass).
using InstallInterventions = std::function<void(const PackBatch& batch, HookScope& scope)>;
/// Receives the logits [rows, d_vocab] at each row's answer position.
using ReadAnswers = std::function<void(const PackBatch& batch, const torch::Tensor& answer_logits)>;

/// What the executor computed: rows recomputed, and their cost in FLOPs by the model's cost model
/// (block_flops_per_token over the recomputed layers and positions, plus each row's unembedding).
struct ExecutionCost {
  int64_t rows = 0;
  double flops = 0;
};

/// Runs one pack (one forward pass); returns its work, rows x recomputed positions (plan_work units).
int64_t execute_pack(HookedTransformer& model, const Pack& pack, const TargetRun& target,
                     const InstallInterventions& install, const ReadAnswers& read);
/// What running `pack` costs by the model's cost model (prompts of `n_pos` tokens).
ExecutionCost pack_cost(const ModelConfig& config, const Pack& pack, int64_t n_pos);

/// Runs every pack; `progress` advances by rows x recomputed positions (plan_work units).
ExecutionCost execute_plan(HookedTransformer& model, const std::vector<Pack>& packs, const TargetRun& target,
                           const InstallInterventions& install, const ReadAnswers& read, ProgressBar& progress);

}  // namespace mechlens
