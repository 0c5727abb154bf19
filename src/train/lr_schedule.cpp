#include "train/lr_schedule.h"

#include <algorithm>
#include <cmath>

namespace mechlens {

double LrSchedule::at(int64_t step) const {
  if (step < warmup_steps) {
    const double t = static_cast<double>(step) / static_cast<double>(std::max<int64_t>(1, warmup_steps));
    return lr * (warmup_start + (1.0 - warmup_start) * t);
  }
  const double span = static_cast<double>(std::max<int64_t>(1, total_steps - warmup_steps));
  const double t = std::min(1.0, static_cast<double>(step - warmup_steps) / span);
  return min_lr + 0.5 * (lr - min_lr) * (1.0 + std::cos(M_PI * t));
}

}  // namespace mechlens
