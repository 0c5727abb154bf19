#include "cli/plan_sharing.h"

#include <torch/torch.h>

#include "cli/command.h"
#include "parallel/communicator.h"
#include "util/sha256.h"

namespace mechlens::cli {

void add_resume_option(po::options_description& options) {
  options.add_options()("resume", po::bool_switch(),
                        "continue a killed run from the parts saved in OUT.shards/ (same options; any number of "
                        "MPI ranks)");
}

PlanSharing plan_sharing(const po::variables_map& vm, nlohmann::json options, const std::string& checkpoint_digest,
                         const std::vector<torch::Tensor>& inputs) {
  PlanSharing sharing;
  sharing.comm = &world();
  sharing.resume = vm["resume"].as<bool>();
  if (!vm.count("out")) {
    if (sharing.resume) throw UsageError{"--resume continues the shards saved beside --out; give --out"};
    return sharing;
  }
  sharing.shard_dir = vm["out"].as<std::string>() + ".shards";
  options.erase("resume");
  options.erase("quiet");
  std::string key = checkpoint_digest + "\n" + options.dump() + "\n";
  for (const torch::Tensor& tensor : inputs) {
    if (!tensor.defined()) continue;
    const torch::Tensor values = tensor.to(torch::kCPU, torch::kLong).contiguous();
    key += std::string(static_cast<const char*>(values.data_ptr()), size_t(values.numel()) * sizeof(int64_t));
  }
  sharing.run_key = sha256_hex(key);
  return sharing;
}

}  // namespace mechlens::cli
