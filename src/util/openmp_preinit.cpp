// Linked into mechlens's executables only (an ELF .preinit_array entry is not allowed in a shared
// library). libgomp's default after each parallel region is to spin, then sched_yield, for a while;
// on 2 cores those spinning workers took the cores from the main thread between operations: a
// GPT-2-small forward with a cache ran 2.6x slower, and `mechlens trace` 1.8x slower, than with
// OMP_WAIT_POLICY=PASSIVE (bench/run_trace_bench.sh). libgomp reads its environment once, in its
// initialiser, and a setenv() before that is lost (libc's own start-up resets the environment), so
// when the user set neither OMP_WAIT_POLICY nor GOMP_SPINCOUNT and more than one thread will run,
// the program executes itself again, before any library initialiser has run, with
// OMP_WAIT_POLICY=PASSIVE added (about 0.15 s of start-up; one thread has nothing to wait for, so
// runs with OMP_NUM_THREADS=1 or --threads 1 skip it). If that fails (no /proc), it carries on with the default.
#include <sched.h>
#include <unistd.h>

#include <cstring>

namespace {

bool starts_with(const char* text, const char* prefix) { return std::strncmp(text, prefix, std::strlen(prefix)) == 0; }

void passive_openmp_wait(int argc, char** argv, char** envp) {
  constexpr int kMaxEnvironment = 4096;
  static char* environment[kMaxEnvironment + 2];
  static char passive[] = "OMP_WAIT_POLICY=PASSIVE";
  int count = 0;
  for (char** entry = envp; *entry != nullptr; ++entry, ++count) {
    if (starts_with(*entry, "OMP_WAIT_POLICY=") || starts_with(*entry, "GOMP_SPINCOUNT=")) return;  // the user chose
    if (std::strcmp(*entry, "OMP_NUM_THREADS=1") == 0 || std::strcmp(*entry, "MECHLENS_NUM_THREADS=1") == 0) return;
    if (count >= kMaxEnvironment) return;
    environment[count] = *entry;
  }
  for (char** word = argv + 1; argc > 1 && *word != nullptr; ++word) {
    if (std::strcmp(*word, "--threads=1") == 0) return;
    if (std::strcmp(*word, "--threads") == 0 && word[1] != nullptr && std::strcmp(word[1], "1") == 0) return;
  }
  cpu_set_t cpus;
  if (sched_getaffinity(0, sizeof(cpus), &cpus) == 0 && CPU_COUNT(&cpus) < 2) return;
  environment[count] = passive;
  environment[count + 1] = nullptr;
  execve("/proc/self/exe", argv, environment);  // returns only on failure: carry on as we are
}

}  // namespace

__attribute__((section(".preinit_array"),
               used)) static void (*const mechlens_openmp_preinit)(int, char**, char**) = passive_openmp_wait;
