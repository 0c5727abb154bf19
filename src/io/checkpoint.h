// Native mechlens checkpoint: one safetensors file with TransformerLens parameter names and the
// ModelConfig JSON in its metadata. Loading checks names, shapes and dtypes against the config.
#pragma once

#include <map>
#include <string>

#include "io/safetensors.h"
#include "runtime/model.h"

namespace mechlens {

inline constexpr const char* kCheckpointFormat = "mechlens-checkpoint";
inline constexpr const char* kCheckpointFormatVersion = "1";

/// Writes every parameter of `model` plus its config (and `extra_metadata`) atomically.
void save_checkpoint(const HookedTransformer& model, const std::string& path,
                     const std::map<std::string, std::string>& extra_metadata = {});

/// Builds the model from the config in the file's metadata and loads its weights.
HookedTransformer load_checkpoint(const std::string& path);

/// Reads only the config stored in a checkpoint's metadata.
ModelConfig read_checkpoint_config(const std::string& path);

/// Copies `file`'s tensors into `model`'s parameters. Every parameter must be present with its
/// exact shape and a floating dtype (converted to the parameter's dtype); no extra tensors allowed.
void load_weights(HookedTransformer& model, const SafetensorsFile& file, const std::string& path);

}  // namespace mechlens
