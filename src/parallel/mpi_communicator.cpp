// The communicators over MPI_COMM_WORLD and over teams split from it (built with -DMECHLENS_MPI=ON).
// Only the main thread calls MPI (MPI_THREAD_FUNNELED); LibTorch's OpenMP threads never do. Errors
// are fatal (MPI's default), so a lost rank ends the run instead of leaving the others waiting.
#include <mpi.h>

#include <climits>
#include <cstdlib>
#include <memory>

#include "parallel/communicator.h"
#include "util/error.h"

namespace mechlens {
namespace {

constexpr int kProgressTag = 4207;  // progress reports to rank 0; a negative value means "done"

bool mpi_finalized() {
  int finalized = 0;
  MPI_Finalized(&finalized);
  return finalized != 0;
}

// The ranks of one MPI communicator: the world's, or a team's (which it frees).
class MpiCommunicator : public Communicator {
 public:
  explicit MpiCommunicator(MPI_Comm comm) : comm_(comm) { describe(); }
  ~MpiCommunicator() override {
    if (comm_ != MPI_COMM_WORLD && !mpi_finalized()) MPI_Comm_free(&comm_);
  }

  int rank() const override { return rank_; }
  int size() const override { return size_; }
  int local_size() const override { return local_size_; }
  void barrier() override { MPI_Barrier(comm_); }

  std::unique_ptr<Communicator> split(int team) override {
    MPI_Comm part;
    MPI_Comm_split(comm_, team, rank_, &part);
    return std::make_unique<MpiCommunicator>(part);
  }

  std::vector<std::string> all_gather(const std::string& bytes) override {
    MECHLENS_CHECK(InputError, bytes.size() <= size_t(INT_MAX), "rank {}: {} bytes are too many for one exchange",
                   rank_, bytes.size());
    const int count = int(bytes.size());
    std::vector<int> counts(size_t(size_), 0), offsets(size_t(size_), 0);
    MPI_Allgather(&count, 1, MPI_INT, counts.data(), 1, MPI_INT, comm_);
    int64_t total = 0;
    for (int r = 0; r < size_; ++r) {
      offsets[size_t(r)] = int(total);
      total += counts[size_t(r)];
    }
    MECHLENS_CHECK(InputError, total <= INT_MAX, "{} bytes from all ranks are too many for one exchange", total);
    std::string all(size_t(total), '\0');
    MPI_Allgatherv(bytes.data(), count, MPI_BYTE, all.data(), counts.data(), offsets.data(), MPI_BYTE, comm_);
    std::vector<std::string> parts;
    for (int r = 0; r < size_; ++r) parts.push_back(all.substr(size_t(offsets[size_t(r)]), size_t(counts[size_t(r)])));
    return parts;
  }

  void report_progress(int64_t work) override {
    // 8 bytes go out eagerly: the sender does not wait for rank 0 to receive them.
    if (rank_ != 0 && work > 0) MPI_Send(&work, 1, MPI_INT64_T, 0, kProgressTag, comm_);
  }

  int64_t collect_progress() override {
    if (rank_ != 0) return 0;
    int64_t work = 0;
    for (;;) {
      int arrived = 0;
      MPI_Iprobe(MPI_ANY_SOURCE, kProgressTag, comm_, &arrived, MPI_STATUS_IGNORE);
      if (!arrived) return work;
      work += receive_one();
    }
  }

  int64_t finish_progress() override {
    if (rank_ != 0) {
      const int64_t done = -1;
      MPI_Send(&done, 1, MPI_INT64_T, 0, kProgressTag, comm_);
      return 0;
    }
    int64_t work = 0;
    while (ranks_done_ < size_ - 1) work += receive_one();
    ranks_done_ = 0;
    return work;
  }

  bool others_finished_progress() const override { return rank_ != 0 || ranks_done_ == size_ - 1; }

  [[noreturn]] void abort(int code) override {
    MPI_Abort(MPI_COMM_WORLD, code);  // a team's failure ends the whole run
    std::exit(code);                  // MPI_Abort does not return; this is for the compiler
  }

 private:
  // Receives one progress message: its work, or 0 for a "done" marker (counted).
  int64_t receive_one() {
    int64_t value = 0;
    MPI_Recv(&value, 1, MPI_INT64_T, MPI_ANY_SOURCE, kProgressTag, comm_, MPI_STATUS_IGNORE);
    if (value < 0) {
      ++ranks_done_;
      return 0;
    }
    return value;
  }

  void describe() {
    MPI_Comm_rank(comm_, &rank_);
    MPI_Comm_size(comm_, &size_);
    MPI_Comm local;
    MPI_Comm_split_type(comm_, MPI_COMM_TYPE_SHARED, rank_, MPI_INFO_NULL, &local);
    MPI_Comm_size(local, &local_size_);
    MPI_Comm_free(&local);
  }

  MPI_Comm comm_;
  int rank_ = 0, size_ = 1, local_size_ = 1;
  int ranks_done_ = 0;
};

// MPI_COMM_WORLD: MPI is initialised before it is described, and finalised with it.
MPI_Comm initialised_world() {
  int provided = 0;
  MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided);
  return MPI_COMM_WORLD;
}

class MpiWorld final : public MpiCommunicator {
 public:
  MpiWorld() : MpiCommunicator(initialised_world()) {}
  ~MpiWorld() override {
    if (!mpi_finalized()) MPI_Finalize();
  }
};

}  // namespace

bool built_with_mpi() { return true; }
std::unique_ptr<Communicator> make_mpi_world() { return std::make_unique<MpiWorld>(); }

}  // namespace mechlens
