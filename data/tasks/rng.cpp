#include "tasks/rng.h"

namespace mechlens {
namespace {

uint64_t splitmix64(uint64_t& x) {
  uint64_t z = (x += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

}  // namespace

Rng::Rng(uint64_t seed) {
  for (auto& word : state_) word = splitmix64(seed);
}

Rng Rng::for_item(uint64_t seed, uint64_t index) {
  uint64_t mixed = seed;
  const uint64_t a = splitmix64(mixed);
  return Rng(a ^ (index * 0xd1b54a32d192ed03ull + 0x632be59bd9b4e019ull));
}

uint64_t Rng::next() {
  const uint64_t result = rotl(state_[1] * 5, 7) * 9;
  const uint64_t t = state_[1] << 17;
  state_[2] ^= state_[0];
  state_[3] ^= state_[1];
  state_[1] ^= state_[2];
  state_[0] ^= state_[3];
  state_[2] ^= t;
  state_[3] = rotl(state_[3], 45);
  return result;
}

int64_t Rng::below(int64_t n) {
  // Lemire's multiply-shift: unbiased enough for n << 2^64 and identical on every platform.
  __extension__ typedef unsigned __int128 uint128;
  return static_cast<int64_t>((static_cast<uint128>(next()) * static_cast<uint64_t>(n)) >> 64);
}

bool Rng::coin(double p_true) { return static_cast<double>(next() >> 11) * 0x1.0p-53 < p_true; }

}  // namespace mechlens
