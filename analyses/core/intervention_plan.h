// The plan of a batched intervention sweep, computed without a model: which (intervened run, prompt)
// rows must be recomputed, packed into which forward passes, and from which layer and position each
// pass starts. The executor (patching's PatchingSession::run, and later knock-out and steering
// sweeps) only carries the plan out.
//
// A row is skipped when the intervention cannot change it: the prompt's answer comes before the
// first intervened position (causal attention), the intervened range is empty for that prompt, or
// the caller's `changes` test says the new value equals the old one. Runs of one layer are packed
// latest-first, so that a pack's rows share a late start position; a pack closes when sharing its
// start would waste more than a quarter of the work (unless the pack is still small) or the batch
// is full.
#pragma once

#include <cstdint>
#include <functional>
#include <utility>
#include <vector>

namespace mechlens {

/// One intervened run: result index `flat`, at `layer`, at `pos` (-1: every position) or at the
/// named span `span` (>= 0, positions per prompt), on `head` (-1: no head axis).
struct InterventionSite {
  int64_t flat = 0;
  int64_t layer = 0;
  int64_t pos = -1;
  int64_t head = -1;
  int64_t span = -1;
  int64_t first = 0;  // earliest position the intervention touches in any prompt
};

/// One recomputed row of a pack: the pack's run `run` applied to prompt `prompt` at positions
/// [begin, end).
struct PackRow {
  int64_t prompt = 0, run = 0, begin = 0, end = 0;
};

/// One forward pass: `rows` of the runs `sites` (all at `layer`), recomputed from position `first`.
struct Pack {
  int64_t layer = 0;
  std::vector<InterventionSite> sites;
  std::vector<PackRow> rows;
  int64_t first = 0;
};

struct PlanShape {
  int64_t batch = 0;                // prompts
  int64_t n_pos = 0;                // positions per prompt
  std::vector<int64_t> answer_pos;  // [batch]: the position each prompt's metric reads
  int64_t max_batch = 512;          // rows per pack (a pack always takes at least one run's rows)
  bool from_start = false;          // recompute every position (a model whose attention reads
                                    // uncached inputs of earlier positions)
  bool causal = true;               // false (encoders): a change reaches earlier positions too, so
                                    // no row is skipped for its answer preceding it
};

/// Positions [begin, end) that `site` touches in prompt `prompt`.
using SiteRange = std::function<std::pair<int64_t, int64_t>(const InterventionSite& site, int64_t prompt)>;
/// Whether the intervention changes any value of prompt `prompt` in [begin, end); null: always.
using SiteChanges = std::function<bool(const InterventionSite& site, int64_t prompt, int64_t begin, int64_t end)>;

/// Sets each site's `first` from `range` (n_pos where it touches nothing).
void set_first_positions(std::vector<InterventionSite>& sites, const PlanShape& shape, const SiteRange& range);

/// Packs the sites of `layer` (in the order given) into forward passes. `changes` may be null.
std::vector<Pack> plan_layer(const std::vector<InterventionSite>& sites, int64_t layer, const PlanShape& shape,
                             const SiteRange& range, const SiteChanges& changes);

/// Rows the plan computes, summed over packs, weighted by the positions each recomputes: the work
/// of the sweep in (row x position) units, for progress bars and the benchmark's cost model.
int64_t plan_work(const std::vector<Pack>& packs, int64_t n_pos);

}  // namespace mechlens
