// How a plan's packs are divided when several processes share a sweep: contiguous shards of about
// equal work (rows x recomputed positions), dealt to the ranks in turn (parallel/work_split.h). A shard is the unit
// that is computed, saved and resumed; every pack runs exactly as it would in one process, so the shared result equals
// the single-process one bit for bit.
#pragma once

#include <cstdint>
#include <vector>

#include "core/intervention_plan.h"

namespace mechlens {

/// Bounds of at most `count` contiguous shards of `packs` of about equal work: shard s holds packs
/// [bounds[s], bounds[s+1]). Empty packs give one empty shard; no shard is empty otherwise.
std::vector<size_t> shard_bounds(const std::vector<Pack>& packs, int64_t n_pos, int64_t count);

}  // namespace mechlens
