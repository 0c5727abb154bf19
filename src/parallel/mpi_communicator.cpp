// The communicator over MPI_COMM_WORLD (built with -DMECHLENS_MPI=ON). Only the main thread calls
// MPI (MPI_THREAD_FUNNELED); LibTorch's OpenMP threads never do. Errors are fatal (MPI's default),
// so a lost rank ends the run instead of leaving the others waiting.
#include <mpi.h>

#include <climits>
#include <cstdlib>

#include "parallel/communicator.h"
#include "util/error.h"

namespace mechlens {
namespace {

constexpr int kProgressTag = 4207;  // progress reports to rank 0; a negative value means "done"

class MpiWorld final : public Communicator {
 public:
  MpiWorld() {
    int provided = 0;
    MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
    MPI_Comm_size(MPI_COMM_WORLD, &size_);
    MPI_Comm local;
    MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, rank_, MPI_INFO_NULL, &local);
    MPI_Comm_size(local, &local_size_);
    MPI_Comm_free(&local);
  }
  ~MpiWorld() override {
    int finalized = 0;
    MPI_Finalized(&finalized);
    if (!finalized) MPI_Finalize();
  }

  int rank() const override { return rank_; }
  int size() const override { return size_; }
  int local_size() const override { return local_size_; }
  void barrier() override { MPI_Barrier(MPI_COMM_WORLD); }

  std::vector<std::string> all_gather(const std::string& bytes) override {
    MECHLENS_CHECK(InputError, bytes.size() <= size_t(INT_MAX), "rank {}: {} bytes are too many for one exchange",
                   rank_, bytes.size());
    const int count = int(bytes.size());
    std::vector<int> counts(size_t(size_), 0), offsets(size_t(size_), 0);
    MPI_Allgather(&count, 1, MPI_INT, counts.data(), 1, MPI_INT, MPI_COMM_WORLD);
    int64_t total = 0;
    for (int r = 0; r < size_; ++r) {
      offsets[size_t(r)] = int(total);
      total += counts[size_t(r)];
    }
    MECHLENS_CHECK(InputError, total <= INT_MAX, "{} bytes from all ranks are too many for one exchange", total);
    std::string all(size_t(total), '\0');
    MPI_Allgatherv(bytes.data(), count, MPI_BYTE, all.data(), counts.data(), offsets.data(), MPI_BYTE, MPI_COMM_WORLD);
    std::vector<std::string> parts;
    for (int r = 0; r < size_; ++r) parts.push_back(all.substr(size_t(offsets[size_t(r)]), size_t(counts[size_t(r)])));
    return parts;
  }

  void report_progress(int64_t work) override {
    // 8 bytes go out eagerly: the sender does not wait for rank 0 to receive them.
    if (rank_ != 0 && work > 0) MPI_Send(&work, 1, MPI_INT64_T, 0, kProgressTag, MPI_COMM_WORLD);
  }

  int64_t collect_progress() override {
    if (rank_ != 0) return 0;
    int64_t work = 0;
    for (;;) {
      int arrived = 0;
      MPI_Iprobe(MPI_ANY_SOURCE, kProgressTag, MPI_COMM_WORLD, &arrived, MPI_STATUS_IGNORE);
      if (!arrived) return work;
      work += receive_one();
    }
  }

  int64_t finish_progress() override {
    if (rank_ != 0) {
      const int64_t done = -1;
      MPI_Send(&done, 1, MPI_INT64_T, 0, kProgressTag, MPI_COMM_WORLD);
      return 0;
    }
    int64_t work = 0;
    while (ranks_done_ < size_ - 1) work += receive_one();
    ranks_done_ = 0;
    return work;
  }

  [[noreturn]] void abort(int code) override {
    MPI_Abort(MPI_COMM_WORLD, code);
    std::exit(code);  // MPI_Abort does not return; this is for the compiler
  }

 private:
  // Receives one progress message: its work, or 0 for a "done" marker (counted).
  int64_t receive_one() {
    int64_t value = 0;
    MPI_Recv(&value, 1, MPI_INT64_T, MPI_ANY_SOURCE, kProgressTag, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
    if (value < 0) {
      ++ranks_done_;
      return 0;
    }
    return value;
  }

  int rank_ = 0, size_ = 1, local_size_ = 1;
  int ranks_done_ = 0;
};

}  // namespace

bool built_with_mpi() { return true; }
std::unique_ptr<Communicator> make_mpi_world() { return std::make_unique<MpiWorld>(); }

}  // namespace mechlens
