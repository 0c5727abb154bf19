#include "cli/ablation_options.h"

#include <fmt/format.h>

#include "cli/command.h"

namespace mechlens::cli {

void add_ablation_options(po::options_description& options) {
  // clang-format off
  options.add_options()
      ("ablate", po::value<std::string>(), "knock heads out of every forward: L1H2, L0H0,L2H1 or L1H* (every head of layer 1)")
      ("ablation-kind", po::value<std::string>()->default_value("zero"), "with --ablate: zero, or mean (each head's mean output over these prompts and positions)");
  // clang-format on
}

HookScope apply_ablation(const po::variables_map& vm, HookedTransformer& model, const torch::Tensor& tokens,
                         const torch::Tensor& lengths, std::string& description) {
  description.clear();
  if (!vm.count("ablate")) {
    if (!vm["ablation-kind"].defaulted()) throw UsageError{"--ablation-kind applies with --ablate HEADS"};
    return HookScope();
  }
  const std::vector<HeadRef> heads = parse_heads(vm["ablate"].as<std::string>(), model->config());
  const std::string kind_text = vm["ablation-kind"].as<std::string>();
  const HeadAblation kind = parse_head_ablation(kind_text);
  const torch::Tensor means =
      kind == HeadAblation::kMean ? mean_head_outputs(model, heads, tokens, lengths) : torch::Tensor();
  description = fmt::format("with {} ablated ({}{})", format_heads(heads), kind_text,
                            kind == HeadAblation::kMean ? fmt::format(" over {} prompts", tokens.size(0)) : "");
  return ablate_heads(model, heads, kind, means);
}

}  // namespace mechlens::cli
