// `mechlens info CHECKPOINT`: config, parameter count and every hook name with its shape.
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include <filesystem>

#include "cli/command.h"
#include "cli/options.h"
#include "io/checkpoint.h"
#include "io/safetensors.h"
#include "util/error.h"

namespace mechlens::cli {
namespace {

// "[batch, pos, 4, 32]": symbolic batch and position dims, numbers for the rest.
std::vector<std::string> shape_words(const HookedTransformer& model, const std::string& name) {
  const auto& dims = model->hook_point(name)->dims();
  const auto sizes = model->hook_shape(name, 1, 1);
  std::vector<std::string> words;
  for (size_t i = 0; i < dims.size(); ++i) {
    const bool symbolic = dims[i] == "batch" || dims[i] == "pos" || dims[i] == "dest" || dims[i] == "src";
    words.push_back(symbolic ? dims[i] : std::to_string(sizes[i]));
  }
  return words;
}

}  // namespace

int run_info(const std::vector<std::string>& args) {
  po::options_description options("options");
  // clang-format off
  options.add_options()
      ("checkpoint", po::value<std::string>()->required(), "checkpoint file (.safetensors)")
      ("format", po::value<std::string>()->default_value("text"), "output format: text or json");
  // clang-format on
  po::positional_options_description positional;
  positional.add("checkpoint", 1);
  po::variables_map vm;
  if (!parse_options("info", "CHECKPOINT [--format text|json]",
                     "Describe a checkpoint: its model config, parameter count, parameters, stored metadata "
                     "(training command, steps, evaluation) and every hook point with its activation shape.",
                     options, positional, args, vm)) {
    return 0;
  }
  const std::string path = vm["checkpoint"].as<std::string>();
  const std::string format = vm["format"].as<std::string>();
  if (format != "text" && format != "json") throw UsageError{"--format must be text or json, got '" + format + "'"};

  // Describing needs no computation: a model whose float32 weights would not fit in memory is loaded in
  // bfloat16 (still reading and checking every tensor). A config that cannot be read is left for
  // load_checkpoint to report.
  LoadOptions load;
  try {
    read_checkpoint_config(path).check_fits_in_memory();
  } catch (const ConfigError&) {
    load.dtype = torch::kBFloat16;
  } catch (const Error&) {
  }
  HookedTransformer model = load_checkpoint(path, load);
  const ModelConfig& config = model->config();
  // What the file says of itself besides the config: training command, steps, metrics, init_from.
  std::map<std::string, std::string> metadata = read_checkpoint_metadata(path);
  metadata.erase("config");
  if (format == "json") {
    nlohmann::ordered_json out;
    out["checkpoint"] = path;
    out["config"] = config.to_json();
    out["n_params"] = model->n_params();
    out["loaded_as"] = c10::toString(load.dtype);
    out["metadata"] = metadata;
    for (const auto& item : model->named_parameters()) {
      out["parameters"].push_back({{"name", item.key()}, {"shape", item.value().sizes().vec()}});
    }
    for (const auto& name : model->hook_names()) {
      out["hooks"].push_back(
          {{"name", name}, {"dims", model->hook_point(name)->dims()}, {"shape", shape_words(model, name)}});
    }
    fmt::print("{}\n", out.dump(2));
    return 0;
  }
  fmt::print("checkpoint  {} ({:.2f} MB)\n", path, static_cast<double>(checkpoint_bytes(path)) / (1024.0 * 1024.0));
  fmt::print("parameters  {}\n", model->n_params());
  if (load.dtype != torch::kFloat32) fmt::print("loaded as   bfloat16 (its float32 weights would not fit in memory)\n");
  fmt::print("\nconfig\n");
  const nlohmann::json config_json = config.to_json();
  for (const auto& item : config_json.items()) fmt::print("  {:<26} {}\n", item.key(), item.value().dump());
  if (!metadata.empty()) {
    fmt::print("\nmetadata\n");
    for (const auto& [key, value] : metadata) fmt::print("  {:<26} {}\n", key, value);
  }
  fmt::print("\nhooks ({})\n", model->hook_names().size());
  for (const auto& name : model->hook_names()) {
    fmt::print("  {:<36} [{}]\n", name, fmt::join(shape_words(model, name), ", "));
  }
  return 0;
}

}  // namespace mechlens::cli
