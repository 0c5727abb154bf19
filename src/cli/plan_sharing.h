// How a command's sweep is shared (analyses/engine/shared_plan.h): between the ranks of an MPI run
// (one process otherwise), with finished shards saved beside --out (OUT.shards/) so that --resume
// continues a killed run. The run key ties saved shards to the checkpoint, the inputs and the
// options that shape the results.
#pragma once

#include <torch/types.h>  // torch::Tensor

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cli/options.h"
#include "engine/shared_plan.h"

namespace mechlens::cli {

/// --resume, for commands whose sweeps are shared.
void add_resume_option(po::options_description& options);

/// The sharing of this run: world()'s ranks; shards in OUT.shards/ when --out is given (--resume
/// without --out is a usage error). `options` are the run's options (resume and quiet are left out of
/// the key); `inputs` the tensors the results depend on beyond them (tokens, answers).
PlanSharing plan_sharing(const po::variables_map& vm, nlohmann::json options, const std::string& checkpoint_digest,
                         const std::vector<torch::Tensor>& inputs);

}  // namespace mechlens::cli
