#include "io/checkpoint.h"

#include <fmt/ranges.h>
#include <torch/torch.h>

#include <algorithm>
#include <filesystem>
#include <optional>
#include <set>

#include <nlohmann/json.hpp>

#include "io/hugging_face.h"
#include "io/mapped_file.h"
#include "io/torch_save.h"
#include "io/transformer_lens.h"
#include "util/error.h"
#include "util/json_text.h"
#include "util/sha256.h"
#include "util/shape_format.h"

namespace mechlens {
namespace {

// The metadata "config" of a file without mechlens's format tag, when it is TransformerLens's.
std::optional<nlohmann::json> transformer_lens_config(const std::map<std::string, std::string>& metadata,
                                                      const std::string& path) {
  const auto config = metadata.find("config");
  if (metadata.count("format") || config == metadata.end()) return std::nullopt;
  nlohmann::json parsed = parse_json_text<CheckpointError>(config->second, path + ": __metadata__.config");
  if (!is_transformer_lens_config(parsed)) return std::nullopt;
  return parsed;
}

ModelConfig config_from_metadata(const std::map<std::string, std::string>& metadata, const std::string& path) {
  if (const auto tl_config = transformer_lens_config(metadata, path)) {
    try {
      return config_from_transformer_lens(*tl_config);
    } catch (const ConfigError& e) {
      MECHLENS_FAIL(CheckpointError, "{}: __metadata__.config (TransformerLens): {}", path, e.what());
    }
  }
  const auto format = metadata.find("format");
  MECHLENS_CHECK(CheckpointError, format != metadata.end() && format->second == kCheckpointFormat,
                 "{}: __metadata__.format is '{}', expected '{}'; hint: not a mechlens checkpoint "
                 "(build the model from a config and use load_weights for bare safetensors)",
                 path, format == metadata.end() ? "(missing)" : format->second, kCheckpointFormat);
  const auto version = metadata.find("format_version");
  MECHLENS_CHECK(CheckpointError, version != metadata.end() && version->second == kCheckpointFormatVersion,
                 "{}: __metadata__.format_version is '{}', expected '{}'", path,
                 version == metadata.end() ? "(missing)" : version->second, kCheckpointFormatVersion);
  const auto config = metadata.find("config");
  MECHLENS_CHECK(CheckpointError, config != metadata.end(), "{}: __metadata__ has no 'config' (model config JSON)",
                 path);
  try {
    return ModelConfig::from_json_string(config->second);
  } catch (const ConfigError& e) {
    MECHLENS_FAIL(CheckpointError, "{}: __metadata__.config: {}", path, e.what());
  }
}

ModelConfig torch_save_model_config(const nlohmann::json& tl_config, const std::string& path) {
  try {
    return config_from_transformer_lens(tl_config);
  } catch (const ConfigError& e) {
    MECHLENS_FAIL(CheckpointError, "{} (TransformerLens): {}", torch_save_config_path(path), e.what());
  }
}

}  // namespace

void save_checkpoint(const HookedTransformer& model, const std::string& path,
                     const std::map<std::string, std::string>& extra_metadata) {
  NamedTensors tensors;
  for (const auto& item : model->named_parameters()) tensors.emplace_back(item.key(), item.value());
  std::map<std::string, std::string> metadata = extra_metadata;
  metadata["format"] = kCheckpointFormat;
  metadata["format_version"] = kCheckpointFormatVersion;
  metadata["config"] = model->config().to_json().dump();
  write_safetensors(path, tensors, metadata);
}

ModelConfig read_checkpoint_config(const std::string& path) {
  if (is_torch_save_file(path)) return torch_save_model_config(read_torch_save_config(path), path);
  if (is_hugging_face_dir(path)) return config_from_hugging_face(read_hugging_face_config(path), path + "/config.json");
  return config_from_metadata(read_safetensors_metadata(path), path);
}

std::map<std::string, std::string> read_checkpoint_metadata(const std::string& path) {
  if (is_torch_save_file(path)) {
    return {{"format", "torch-save"},
            {"config_file", torch_save_config_path(path)},
            {"config", read_torch_save_config(path).dump()}};
  }
  if (!is_hugging_face_dir(path)) return read_safetensors_metadata(path);
  const nlohmann::json config = read_hugging_face_config(path);
  return {{"format", "hugging-face"}, {"model_type", config.value("model_type", "")}, {"config", config.dump()}};
}

std::string checkpoint_sha256(const std::string& path) {
  if (is_torch_save_file(path)) {
    // The weights and the config that gives them meaning, as for a directory.
    return sha256_hex(
        fmt::format("state_dict {}\nconfig {}\n", sha256_file(path), sha256_file(torch_save_config_path(path))));
  }
  if (!is_hugging_face_dir(path)) return sha256_file(path);
  // A directory: the hash of its config and weight files' names and hashes, in name order.
  std::vector<std::string> files;
  for (const auto& entry : std::filesystem::directory_iterator(path)) {
    const std::string name = entry.path().filename().string();
    const bool weights = name.find(".safetensors") != std::string::npos || name.rfind("pytorch_model", 0) == 0;
    if (entry.is_regular_file() && (name == "config.json" || weights)) {
      files.push_back(name);
    }
  }
  std::sort(files.begin(), files.end());
  std::string listing;
  for (const std::string& name : files) listing += name + " " + sha256_file(path + "/" + name) + "\n";
  return sha256_hex(listing);
}

uint64_t checkpoint_bytes(const std::string& path) {
  if (!std::filesystem::is_directory(path)) return std::filesystem::file_size(path);
  uint64_t total = 0;
  for (const auto& entry : std::filesystem::directory_iterator(path)) {
    if (entry.is_regular_file()) total += entry.file_size();
  }
  return total;
}

HookedTransformer load_checkpoint(const std::string& path, const LoadOptions& options) {
  // The parameters are only reserved here; load_weights puts the file's tensors in their place.
  const ModelBuild build{/*initialise=*/false, options.dtype};
  if (is_torch_save_file(path)) {
    const nlohmann::json tl_config = read_torch_save_config(path);
    HookedTransformer model(torch_save_model_config(tl_config, path), build);
    SafetensorsFile file;
    file.tensors = tensors_from_transformer_lens(read_torch_state_dict(path), tl_config, model->config(), path);
    load_weights(model, file, path, options.dtype);
    return model;
  }
  if (is_hugging_face_dir(path)) {
    const nlohmann::json hf_config = read_hugging_face_config(path);
    ModelConfig config;
    try {
      config = config_from_hugging_face(hf_config, path + "/config.json");
    } catch (const ConfigError& e) {
      MECHLENS_FAIL(CheckpointError, "{}", e.what());
    }
    HookedTransformer model(config, build);
    SafetensorsFile file;
    file.tensors = read_hugging_face_weights(path, hf_config, config, options.dtype);
    load_weights(model, file, path, options.dtype);
    return model;
  }
  SafetensorsFile file = map_safetensors(path);
  HookedTransformer model(config_from_metadata(file.metadata, path), build);
  if (const auto tl_config = transformer_lens_config(file.metadata, path)) {
    file.tensors = tensors_from_transformer_lens(file.tensors, *tl_config, model->config(), path);
  }
  load_weights(model, file, path, options.dtype);
  return model;
}

void load_weights(HookedTransformer& model, const SafetensorsFile& file, const std::string& path,
                  torch::ScalarType dtype) {
  std::map<std::string, const torch::Tensor*> stored;
  for (const auto& [name, tensor] : file.tensors) stored[name] = &tensor;
  const ModelConfig& config = model->config();
  const std::string config_hint = fmt::format(
      "n_layers={}, d_model={}, n_heads={}, n_key_value_heads={}, d_head={}, d_mlp={}, d_vocab={}, "
      "n_ctx={}",
      config.n_layers, config.d_model, config.n_heads, config.kv_heads(), config.d_head, config.d_mlp, config.d_vocab,
      config.n_ctx);

  std::vector<std::string> missing;
  std::set<std::string> expected;
  for (const auto& item : model->named_parameters()) {
    expected.insert(item.key());
    if (!stored.count(item.key())) missing.push_back(item.key());
  }
  std::vector<std::string> unexpected;
  for (const auto& [name, tensor] : stored) {
    if (!expected.count(name)) unexpected.push_back(name);
  }
  MECHLENS_CHECK(CheckpointError, missing.empty() && unexpected.empty(),
                 "{}: parameter names do not match the model ({}): missing [{}], unexpected [{}]", path, config_hint,
                 fmt::join(missing, ", "), fmt::join(unexpected, ", "));

  torch::NoGradGuard no_grad;
  int64_t float16_converted = 0;
  for (auto& item : model->named_parameters()) {
    const torch::Tensor& source = *stored.at(item.key());
    if (source.scalar_type() == torch::kHalf && dtype != torch::kHalf) ++float16_converted;
    torch::Tensor& param = item.value();
    const int64_t mismatch = first_shape_mismatch(source.sizes(), param.sizes());
    MECHLENS_CHECK(CheckpointError, mismatch < 0, "{}: {} has shape {}, expected {} ({}); first mismatch at dim {}",
                   path, item.key(), format_shape(source.sizes()), format_shape(param.sizes()), config_hint, mismatch);
    MECHLENS_CHECK(CheckpointError, at::isFloatingType(source.scalar_type()),
                   "{}: {} has dtype {}, expected a floating-point type ({})", path, item.key(),
                   c10::toString(source.scalar_type()), c10::toString(param.scalar_type()));
    // The stored tensor itself when it already is what the parameter needs (a mapped file's view:
    // no copy); else a converted copy, after which the source's mapped pages are given back.
    torch::Tensor value = source.to(dtype).contiguous();
    if (!value.is_same(source)) release_mapped_pages(source);
    param.set_data(value);
    // Not an error (a diverged run is worth inspecting), but never silent.
    if (!torch::isfinite(param).all().item<bool>()) {
      fmt::print(stderr, "warning: {}: {} holds NaN or infinite values\n", path, item.key());
    }
  }
  if (float16_converted > 0) {
    fmt::print(stderr,
               "note: {}: {} float16 weights converted to {} (LibTorch computes on the CPU in float32 or "
               "bfloat16)\n",
               path, float16_converted, c10::toString(dtype));
  }
}

}  // namespace mechlens
