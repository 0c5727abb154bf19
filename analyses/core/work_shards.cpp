#include "core/work_shards.h"

#include <algorithm>

namespace mechlens {

std::vector<size_t> shard_bounds(const std::vector<Pack>& packs, int64_t n_pos, int64_t count) {
  std::vector<size_t> bounds{0};
  if (packs.empty()) {
    bounds.push_back(0);
    return bounds;
  }
  count = std::clamp<int64_t>(count, 1, int64_t(packs.size()));
  std::vector<int64_t> cumulative;  // work of packs [0, i]
  int64_t total = 0;
  for (const Pack& pack : packs) {
    total += int64_t(pack.rows.size()) * (n_pos - pack.first);
    cumulative.push_back(total);
  }
  // Shard s ends at the first pack whose cumulative work reaches (s+1)/count of the total, and
  // holds at least one pack while enough packs remain for the shards after it.
  for (int64_t s = 1; s < count; ++s) {
    const double goal = double(total) * double(s) / double(count);
    size_t end =
        size_t(std::lower_bound(cumulative.begin(), cumulative.end(), int64_t(goal + 0.5)) - cumulative.begin()) + 1;
    end = std::max(end, bounds.back() + 1);
    end = std::min(end, packs.size() - size_t(count - s));
    bounds.push_back(end);
  }
  bounds.push_back(packs.size());
  return bounds;
}

}  // namespace mechlens
