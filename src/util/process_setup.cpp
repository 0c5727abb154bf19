#include "util/process_setup.h"

#include <ATen/Parallel.h>

#if defined(__linux__)
#include <dlfcn.h>
#include <sched.h>
#endif

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

// Cores this process may run on (taskset, cgroup cpusets), else the machine's.
int usable_cores() {
#if defined(__linux__)
  cpu_set_t cpus;
  if (sched_getaffinity(0, sizeof(cpus), &cpus) == 0) return std::max(1, CPU_COUNT(&cpus));
#endif
  return static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
}

}  // namespace

int configure_process(int processes_on_machine, int requested_threads) {
#if defined(__GLIBC__)
  constexpr int kMmapThreshold = 32 << 20;  // glibc's upper limit for this setting on 64-bit
  constexpr int kTrimThreshold = 1 << 30;
  mallopt(M_MMAP_THRESHOLD, kMmapThreshold);
  mallopt(M_TRIM_THRESHOLD, kTrimThreshold);
#endif
  int threads = std::max(0, requested_threads);
  if (threads == 0) threads = env_threads("MECHLENS_NUM_THREADS");
  if (threads == 0) threads = env_threads("OMP_NUM_THREADS");
  if (threads == 0) {
    // Ranks an MPI launcher bound to their own cores see only those; unbound ones share the machine.
    const int machine = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
    threads = std::max(1, std::min(usable_cores(), machine / std::max(1, processes_on_machine)));
  }
  at::set_num_threads(threads);
#if defined(__linux__)
  // OpenBLAS's own setter, when OpenBLAS is the BLAS loaded (looked up: other BLAS lack it).
  using SetBlasThreads = void (*)(int);
  if (const auto set_blas_threads = reinterpret_cast<SetBlasThreads>(dlsym(RTLD_DEFAULT, "openblas_set_num_threads")))
    set_blas_threads(threads);
#endif
  return at::get_num_threads();
}

}  // namespace mechlens
