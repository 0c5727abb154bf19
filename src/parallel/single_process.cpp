// The communicator of a run with one process: every collective is the identity.
#include <cstdlib>
#include <memory>

#include "parallel/communicator.h"

namespace mechlens {
namespace {

class SingleProcess final : public Communicator {
 public:
  int rank() const override { return 0; }
  int size() const override { return 1; }
  int local_size() const override { return 1; }
  void barrier() override {}
  std::vector<std::string> all_gather(const std::string& bytes) override { return {bytes}; }
  std::unique_ptr<Communicator> split(int /*team*/) override { return std::make_unique<SingleProcess>(); }
  void report_progress(int64_t /*work*/) override {}
  int64_t collect_progress() override { return 0; }
  int64_t finish_progress() override { return 0; }
  bool others_finished_progress() const override { return true; }
  [[noreturn]] void abort(int code) override { std::exit(code); }
};

}  // namespace

std::unique_ptr<Communicator> make_single_process() { return std::make_unique<SingleProcess>(); }

}  // namespace mechlens
