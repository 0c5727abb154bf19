// configure_process: the thread count it sets reaches OpenBLAS too, whichever flavour is loaded.
#include <dlfcn.h>
#include <gtest/gtest.h>

#include "util/process_setup.h"

namespace mechlens {
namespace {

TEST(ProcessSetupTest, OpenBlasRunsWithTheThreadCountGiven) {
  // Debian's pthreads flavour keeps a pool of its own that at::set_num_threads does not reach; left
  // alone it takes every core the process may use, so results would depend on the CPU affinity.
  using GetThreads = int (*)();
  const auto blas_threads = reinterpret_cast<GetThreads>(dlsym(RTLD_DEFAULT, "openblas_get_num_threads"));
  if (blas_threads == nullptr) GTEST_SKIP() << "the BLAS loaded is not OpenBLAS";
  EXPECT_EQ(configure_process(1, 2), 2);
  EXPECT_EQ(blas_threads(), 2);
  EXPECT_EQ(configure_process(1, 1), 1);
  EXPECT_EQ(blas_threads(), 1);
}

}  // namespace
}  // namespace mechlens
