// Learning-rate schedule: linear warm-up from lr * warmup_start to lr, then cosine decay to min_lr.
#pragma once

#include <cstdint>

namespace mechlens {

struct LrSchedule {
  double lr = 1e-3;
  double min_lr = 1e-5;
  int64_t warmup_steps = 100;
  double warmup_start = 0.1;  // fraction of lr at step 0
  int64_t total_steps = 1000;

  double at(int64_t step) const;
};

}  // namespace mechlens
