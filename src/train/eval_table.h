// `mechlens eval --csv`: the evaluation's per-group numbers as one CSV table for plotting tools
// (pandas, R, a spreadsheet), so that results need not be copied out of the printed tables.
#pragma once

#include <map>
#include <string>

#include "train/evaluation.h"
#include "train/hops_taken.h"

namespace mechlens {

/// One row per group: group, n, loss, first_token_acc, exact_match; with `hops` (may be null) also the
/// share at each distance d=0..d=D, elsewhere and not_in_prompt, then decoy and other_end where some
/// group has them (an empty cell for the groups that do not). Numbers are written with full precision.
std::string eval_table_csv(const std::map<std::string, GroupMetrics>& metrics, const HopsTaken* hops);

}  // namespace mechlens
