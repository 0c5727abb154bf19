#include "util/process_setup.h"

#include <ATen/Parallel.h>

#if defined(__GLIBC__)
#include <malloc.h>
#endif

#include <algorithm>
#include <cstdlib>
#include <string>
#include <thread>

namespace mechlens {
namespace {

int env_threads(const char* name) {
  const char* value = std::getenv(name);
  if (value == nullptr) return 0;
  try {
    return std::max(0, std::stoi(value));
  } catch (const std::exception&) {
    return 0;
  }
}

}  // namespace

int configure_process() {
#if defined(__GLIBC__)
  constexpr int kMmapThreshold = 32 << 20;  // glibc's upper limit for this setting on 64-bit
  constexpr int kTrimThreshold = 1 << 30;
  mallopt(M_MMAP_THRESHOLD, kMmapThreshold);
  mallopt(M_TRIM_THRESHOLD, kTrimThreshold);
#endif
  int threads = env_threads("MECHLENS_NUM_THREADS");
  if (threads == 0) threads = env_threads("OMP_NUM_THREADS");
  if (threads == 0) threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  at::set_num_threads(threads);
  return at::get_num_threads();
}

}  // namespace mechlens
