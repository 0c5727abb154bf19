// Dealing a run's work items (shards) to its ranks: every ranks-th item, starting at the rank's own
// number. Shards are cut to about equal cost by the layer that knows the cost, so turns balance.
#pragma once

#include <cstdint>
#include <vector>

namespace mechlens {

/// The items of `items` (in order) that `rank` of `ranks` takes.
inline std::vector<int64_t> deal_to_rank(const std::vector<int64_t>& items, int rank, int ranks) {
  std::vector<int64_t> mine;
  for (size_t i = size_t(rank); i < items.size(); i += size_t(ranks)) mine.push_back(items[i]);
  return mine;
}

}  // namespace mechlens
