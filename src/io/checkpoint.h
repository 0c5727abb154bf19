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

struct LoadOptions {
  /// The weights' dtype in memory (and so the compute dtype): float32, or bfloat16 for models whose
  /// float32 weights would not fit. Weights already in this dtype stay views of the memory-mapped
  /// file; the others are converted one tensor at a time, each source's pages released after.
  torch::ScalarType dtype = torch::kFloat32;
};

/// Builds the model from the config in the file's metadata and loads its weights. `path` is a mechlens
/// or TransformerLens safetensors file, or a Hugging Face model directory (io/hugging_face.h).
HookedTransformer load_checkpoint(const std::string& path, const LoadOptions& options = {});

/// Reads only the config stored in a checkpoint's metadata (a Hugging Face directory's config.json).
ModelConfig read_checkpoint_config(const std::string& path);

/// What a checkpoint says of itself: a safetensors file's metadata; for a Hugging Face directory,
/// format "hugging-face", its model_type and config.json as "config".
std::map<std::string, std::string> read_checkpoint_metadata(const std::string& path);

/// SHA-256 of the checkpoint's content: the file's, or for a directory that of its config.json and
/// safetensors files' names and hashes (so records name what they were made from).
std::string checkpoint_sha256(const std::string& path);

/// Bytes on disk: the file's size, or the sum of a directory's files.
uint64_t checkpoint_bytes(const std::string& path);

/// Puts `file`'s tensors into `model`'s parameters: every parameter must be present with its exact
/// shape and a floating dtype, converted to `dtype` (a tensor already contiguous in that dtype is
/// used as it is, without a copy); no extra tensors allowed.
void load_weights(HookedTransformer& model, const SafetensorsFile& file, const std::string& path,
                  torch::ScalarType dtype = torch::kFloat32);

}  // namespace mechlens
