// Hugging Face checkpoints: a directory with config.json and the weights as model.safetensors, or as
// shards listed by model.safetensors.index.json, as `save_pretrained` writes them (or the same as
// torch.save files: pytorch_model.bin[.index.json], read by io/torch_save.h). GPT-2 (Conv1D
// [in, out] weights, the fused c_attn, tied embeddings) and Llama / Mistral (RMSNorm, rotary with the
// rotate-half layout, grouped-query attention, SwiGLU) and BERT encoders (io/hugging_face_bert.h) are
// mapped onto the runtime's
// TransformerLens-named weights; every other model type, and every setting that changes the
// computation in a way mechlens does not implement, is refused with the field's name.
#pragma once

#include <nlohmann/json_fwd.hpp>

#include <string>

#include "io/safetensors.h"
#include "runtime/config.h"

namespace mechlens {

/// True when `path` is a directory holding a config.json.
bool is_hugging_face_dir(const std::string& path);

/// The directory's config.json, parsed. Throws CheckpointError naming the file.
nlohmann::json read_hugging_face_config(const std::string& dir);

/// The ModelConfig that computes what the Hugging Face model computes. Mistral's sliding window
/// becomes the longest accepted sequence (n_ctx): within it, the window masks nothing. Throws
/// ConfigError naming `source` and the field.
ModelConfig config_from_hugging_face(const nlohmann::json& config, const std::string& source);

/// The weights under mechlens names for `config` (from config_from_hugging_face of `hf_config`), in
/// `dtype`, read (memory-mapped) from model.safetensors or every shard of model.safetensors.index.json (else the
/// pytorch_model.bin pair); buffers (attn.bias, rotary inv_freq) dropped, a tied lm_head left out. Throws
/// CheckpointError naming the file.
NamedTensors read_hugging_face_weights(const std::string& dir, const nlohmann::json& hf_config,
                                       const ModelConfig& config, torch::ScalarType dtype = torch::kFloat32);

}  // namespace mechlens
