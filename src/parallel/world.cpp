// Picks this process's communicator once: MPI's world under an MPI launcher, else one process.
#include "parallel/communicator.h"
#include "util/error.h"

namespace mechlens {

std::unique_ptr<Communicator> make_communicator(const LaunchInfo& launch) {
  if (launch.size <= 1) return make_single_process();
  // Without MPI every rank would do the whole job and write the same output: refuse instead.
  MECHLENS_CHECK(InputError, built_with_mpi(),
                 "started as rank {} of {} by {}, but this mechlens was built without MPI: rebuild with "
                 "cmake -DMECHLENS_MPI=ON (scripts/build.sh does when OpenMPI is installed), or run one process",
                 launch.rank, launch.size, launch.launcher);
  return make_mpi_world();
}

Communicator& world() {
  static const std::unique_ptr<Communicator> instance = make_communicator(launch_info_from_environment());
  return *instance;
}

#ifndef MECHLENS_WITH_MPI
bool built_with_mpi() { return false; }
std::unique_ptr<Communicator> make_mpi_world() {
  throw InputError("this mechlens was built without MPI (cmake -DMECHLENS_MPI=ON)");
}
#endif

}  // namespace mechlens
