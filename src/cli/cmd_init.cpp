// `mechlens init --config MODEL.json --out CK.safetensors`: a seeded, randomly initialised model.
#include <fmt/format.h>

#include "cli/command.h"
#include "cli/options.h"
#include "io/checkpoint.h"
#include "util/error.h"

namespace mechlens::cli {

int run_init(const std::vector<std::string>& args) {
  po::options_description options("options");
  // clang-format off
  options.add_options()
      ("config", po::value<std::string>()->required(), "model config JSON (TransformerLens field names)")
      ("seed", po::value<int64_t>(), "initialisation seed (default: the config's seed)")
      ("out", po::value<std::string>()->required(), "checkpoint to write (.safetensors)");
  // clang-format on
  po::variables_map vm;
  if (!parse_options("init", "--config MODEL.json --out CK.safetensors [--seed S]",
                     "Build a model from a config, initialise its weights from the seed (the config's "
                     "init_form and init_gamma) and save it as a checkpoint.",
                     options, {}, args, vm)) {
    return 0;
  }
  const std::string config_path = vm["config"].as<std::string>();
  ModelConfig config = ModelConfig::from_file(config_path);
  if (vm.count("seed")) {
    config.seed = vm["seed"].as<int64_t>();
    config.validate();
  }
  try {
    config.check_fits_in_memory();  // before anything is allocated, naming the file
  } catch (const ConfigError& e) {
    throw ConfigError(fmt::format("{}: {}", config_path, e.what()));
  }
  HookedTransformer model(config);
  const std::string out = vm["out"].as<std::string>();
  save_checkpoint(model, out);
  fmt::print("wrote {} ({} parameters, {} layers, {} hooks, seed {})\n", out, model->n_params(), config.n_layers,
             model->hook_names().size(), config.seed);
  return 0;
}

}  // namespace mechlens::cli
