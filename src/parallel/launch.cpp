// Which MPI launcher started this process, read from the variables launchers set for each rank.
#include <cstdlib>
#include <optional>
#include <string>

#include "parallel/communicator.h"

namespace mechlens {
namespace {

std::optional<int> env_int(const char* name) {
  const char* value = std::getenv(name);
  if (value == nullptr || *value == '\0') return std::nullopt;
  char* end = nullptr;
  const long parsed = std::strtol(value, &end, 10);
  if (*end != '\0' || parsed < 0) return std::nullopt;
  return int(parsed);
}

}  // namespace

LaunchInfo launch_info_from_environment() {
  struct Launcher {
    const char* name;
    const char* rank;
    const char* size;
    const char* local_size;
    const char* local_rank;
  };
  // OpenMPI's mpirun; PMI (MPICH's hydra, srun --mpi=pmi2); Slurm's task ids (srun --mpi=pmix). For
  // Slurm the step's task count: SLURM_NTASKS is also set in a batch script's own single process.
  static constexpr Launcher kLaunchers[] = {
      {"OpenMPI", "OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE", "OMPI_COMM_WORLD_LOCAL_SIZE",
       "OMPI_COMM_WORLD_LOCAL_RANK"},
      {"PMI", "PMI_RANK", "PMI_SIZE", "MPI_LOCALNRANKS", "MPI_LOCALRANKID"},
      {"Slurm", "SLURM_PROCID", "SLURM_STEP_NUM_TASKS", "SLURM_STEP_TASKS_PER_NODE", "SLURM_LOCALID"},
  };
  for (const Launcher& launcher : kLaunchers) {
    const std::optional<int> rank = env_int(launcher.rank), size = env_int(launcher.size);
    if (!rank || !size || *size < 1) continue;
    LaunchInfo info;
    info.rank = *rank;
    info.size = *size;
    info.local_size = env_int(launcher.local_size).value_or(1);
    if (info.local_size < 1) info.local_size = 1;
    info.local_rank = env_int(launcher.local_rank).value_or(0);
    info.launcher = launcher.name;
    return info;
  }
  return {};
}

}  // namespace mechlens
