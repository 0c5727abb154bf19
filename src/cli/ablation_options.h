// `--ablate HEADS [--ablation-kind zero|mean]` for the commands that run a model (eval, run): knock
// heads out of every forward pass to test whether a circuit is necessary.
#pragma once

#include <torch/types.h>  // torch::Tensor

#include <string>

#include "ablation/head_ablation.h"
#include "cli/options.h"

namespace mechlens::cli {

void add_ablation_options(po::options_description& options);

/// With --ablate: installs the ablation for the scope's lifetime (means over `tokens` [batch, pos]
/// with `lengths` [batch], for --ablation-kind mean) and returns a line describing it for the output;
/// otherwise returns an empty scope and "". Throws UsageError for --ablation-kind without --ablate.
HookScope apply_ablation(const po::variables_map& vm, HookedTransformer& model, const torch::Tensor& tokens,
                         const torch::Tensor& lengths, std::string& description);

}  // namespace mechlens::cli
