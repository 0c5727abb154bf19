// Dealing a run's work items to its ranks: shards cut to about equal cost (by the layer that knows
// the cost) in turns, and indivisible items of unequal cost by their cost.
#pragma once

#include <algorithm>
#include <cstdint>
#include <numeric>
#include <vector>

namespace mechlens {

/// The items of `items` (in order) that `rank` of `ranks` takes.
inline std::vector<int64_t> deal_to_rank(const std::vector<int64_t>& items, int rank, int ranks) {
  std::vector<int64_t> mine;
  for (size_t i = size_t(rank); i < items.size(); i += size_t(ranks)) mine.push_back(items[i]);
  return mine;
}

/// Owners of indivisible items of unequal cost (a sweep's training runs): the costliest first, each
/// to the rank with the least work so far (ties: the lower rank), the greedy rule whose longest rank
/// is within 4/3 of the best possible. Items of cost 0 (nothing to do) get owner -1. The same on
/// every rank, so each can work out its own items without a message.
inline std::vector<int> assign_by_cost(const std::vector<double>& costs, int ranks) {
  std::vector<size_t> order(costs.size());
  std::iota(order.begin(), order.end(), size_t(0));
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return costs[a] > costs[b]; });
  std::vector<double> load(size_t(std::max(1, ranks)), 0.0);
  std::vector<int> owner(costs.size(), -1);
  for (size_t item : order) {
    if (!(costs[item] > 0)) continue;
    const auto least = std::min_element(load.begin(), load.end());
    owner[item] = int(least - load.begin());
    *least += costs[item];
  }
  return owner;
}

}  // namespace mechlens
