// Patching with the prompts cut into consecutive groups whose set-up (the clean and corrupted runs
// and their caches) and sweeps run separately, one group at a time. Memory then holds one group's
// caches, and the ranks of an MPI run take whole groups, so each rank runs only its own groups'
// set-up: the set-up, repeated by every rank when ranks share the packs of one sweep, is divided
// too (docs/SCALE.md). With more ranks than groups, teams of ranks share each group's packs. The groups' per-prompt
// values are joined in prompt order and the batch means recomputed from them, so the result depends on the number of
// groups (through the batch composition of the set-up's forwards, at rounding level) but not on the number of ranks.
#pragma once

#include <torch/types.h>  // torch::Tensor

#include <cstdint>
#include <optional>
#include <vector>

#include "patching/circuit.h"
#include "patching/components.h"
#include "patching/metrics.h"
#include "patching/patching.h"
#include "runtime/model.h"

namespace mechlens {

/// Prompts [begin, end) of one group.
struct PromptRange {
  int64_t begin = 0, end = 0;
  int64_t size() const { return end - begin; }
};

/// `groups` consecutive groups of `batch` prompts whose sizes differ by at most one (the first
/// batch % groups groups take one more). Throws InputError unless 1 <= groups <= batch.
std::vector<PromptRange> split_prompts(int64_t batch, int64_t groups);

/// The inputs of the prompts in `range` (every defined tensor narrowed along its batch axis).
PatchingInputs slice_inputs(const PatchingInputs& inputs, const PromptRange& range);

struct SplitPatchRequest {
  std::vector<Component> components;
  /// The sweep's options; options.sharing is the whole run's (ranks, shard folder, run key,
  /// resume): each group runs in one rank with its shards in a subfolder of the shard folder.
  PatchOptions options;
  bool attribution = false;          // also the attribution estimate of each component
  const Circuit* circuit = nullptr;  // also the circuit check, if set
  int64_t groups = 1;                // see split_prompts()
};

/// The joined results, on rank 0 (other ranks: only groups_on_this_rank).
struct SplitPatchOutcome {
  std::vector<PatchResult> exact;                       // per component
  std::vector<std::optional<PatchResult>> attribution;  // per component, when requested
  std::optional<CircuitReport> circuit;
  torch::Tensor clean_per_prompt, corrupted_per_prompt;  // float [batch]
  torch::Tensor correct, wrong;                   // int64 [batch]: the answers used (defaults filled in by each group)
  double clean_metric = 0, corrupted_metric = 0;  // means of the per-prompt values
  int64_t groups_on_this_rank = 0;
};

/// Runs the groups dealt to this rank's team and joins all groups' results. Teams: min(ranks, groups),
/// rank r in team r % teams, group g to team g % teams; a team's ranks share each of its groups' packs
/// (engine/shared_plan.h), so the result does not depend on the number of ranks.
/// Ablations that take values across prompts (mean, resample) are refused with InputError: each
/// group would use its own prompts.
SplitPatchOutcome run_split_patching(HookedTransformer model, const PatchingInputs& inputs, MetricKind metric,
                                     const SplitPatchRequest& request, bool progress);

}  // namespace mechlens
