// A small deterministic random source for task generation: splitmix64 seeding and xoshiro256**,
// with integer draws that do not depend on the standard library's distribution implementations, so
// the same seed gives the same data with any compiler.
#pragma once

#include <cstdint>
#include <utility>
#include <vector>

namespace mechlens {

class Rng {
 public:
  explicit Rng(uint64_t seed);
  /// Stream for item `index` of a run seeded with `seed` (independent of other items).
  static Rng for_item(uint64_t seed, uint64_t index);

  uint64_t next();
  /// Uniform integer in [0, n).
  int64_t below(int64_t n);
  /// Uniform integer in [lo, hi] (inclusive).
  int64_t between(int64_t lo, int64_t hi) { return lo + below(hi - lo + 1); }
  bool coin(double p_true = 0.5);

  template <typename T>
  void shuffle(std::vector<T>& items) {
    for (int64_t i = static_cast<int64_t>(items.size()) - 1; i > 0; --i) std::swap(items[i], items[below(i + 1)]);
  }
  template <typename T>
  const T& pick(const std::vector<T>& items) {
    return items[below(static_cast<int64_t>(items.size()))];
  }

 private:
  uint64_t state_[4];
};

}  // namespace mechlens
