// The processes that share one run. A run started by `mpirun -n K` (or a cluster's `srun`) has K
// ranks, each running the same command; every other run is one process. Analyses that split their
// work (patching sweeps, records) ask the communicator which share is theirs and collect the others'
// results through it, so the same code serves one process and K ranks. This layer needs neither
// LibTorch nor MPI; the MPI implementation is built only with -DMECHLENS_MPI=ON.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace mechlens {

class Communicator {
 public:
  virtual ~Communicator() = default;

  virtual int rank() const = 0;  // 0 .. size()-1; rank 0 writes outputs and draws progress bars
  virtual int size() const = 0;
  /// Ranks on this machine, for dividing its cores between them.
  virtual int local_size() const = 0;
  /// Waits for every rank.
  virtual void barrier() = 0;
  /// Every rank's `bytes`, in rank order, on every rank.
  virtual std::vector<std::string> all_gather(const std::string& bytes) = 0;
  /// The ranks that pass the same `team` (>= 0), as a communicator of their own, ranked in this
  /// communicator's order. Every rank calls it (a collective call).
  virtual std::unique_ptr<Communicator> split(int team) = 0;

  /// Progress of the ranks other than 0, for rank 0's one progress bar: ranks > 0 report work units
  /// as they finish them (without waiting); rank 0 collects what has arrived.
  virtual void report_progress(int64_t work) = 0;
  virtual int64_t collect_progress() = 0;
  /// Ends the progress exchange of one phase: ranks > 0 say they are done, rank 0 waits until every
  /// rank has and returns the work reported since its last collect_progress().
  virtual int64_t finish_progress() = 0;
  /// Rank 0: whether every other rank has ended the phase (called finish_progress), as far as
  /// collect_progress has received; lets rank 0 keep its bar moving while it waits. True elsewhere.
  virtual bool others_finished_progress() const = 0;

  /// Ends every rank of the run with exit status `code` (a failure on one rank must not leave the
  /// others waiting for it forever).
  [[noreturn]] virtual void abort(int code) = 0;
};

/// The communicator of this process: MPI's world when launched by an MPI launcher (and built with
/// MPI), else a single process. The first call initialises MPI; MPI is finalised at exit. Throws
/// InputError when a launcher started several ranks but this build has no MPI.
Communicator& world();

/// Whether this build includes the MPI communicator.
bool built_with_mpi();

/// The rank and size an MPI launcher announced in the environment (OpenMPI, PMI, Slurm);
/// size 1 when none did.
struct LaunchInfo {
  int rank = 0;
  int size = 1;
  int local_size = 1;
  int local_rank = 0;    // this rank's index among the ranks of its node (which GPU it takes)
  std::string launcher;  // "OpenMPI", "PMI", "Slurm" or ""
};
LaunchInfo launch_info_from_environment();

/// The communicator for a launch: one process for one rank, else MPI's world. Throws InputError
/// naming the launch and the remedy when several ranks were started but this build has no MPI.
std::unique_ptr<Communicator> make_communicator(const LaunchInfo& launch);

/// A single process: rank 0 of 1.
std::unique_ptr<Communicator> make_single_process();
/// MPI's world (MPI_Init on construction, MPI_Finalize on destruction); only in builds with MPI.
std::unique_ptr<Communicator> make_mpi_world();

}  // namespace mechlens
