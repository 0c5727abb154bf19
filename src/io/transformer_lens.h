// TransformerLens-native checkpoints: a safetensors file holding a HookedTransformer's state_dict
// with `cfg.to_dict()` as JSON in its metadata "config", as a TransformerLens user writes it:
//
//   save_file(model.state_dict(), "m.safetensors",
//             metadata={"config": json.dumps(model.cfg.to_dict(), default=str)})
//
// loads without a converter: TransformerLens's config keys are mapped to ModelConfig, its
// grouped-query names (_W_K, _b_V) renamed, its buffers (mask, IGNORE, rotary_sin/cos) dropped, and
// parameter-free norms (LNPre, RMSPre) get unit weights. What mechlens cannot run is refused with
// the field's name.
//
// A state dict saved with torch.save (io/torch_save.h) loads the same way when its config is beside it:
//
//   torch.save(model.state_dict(), "m.pt")
//   json.dump(model.cfg.to_dict(), open("m.json", "w"), default=str)   # or config.json in the folder
#pragma once

#include <nlohmann/json_fwd.hpp>

#include <string>

#include "io/safetensors.h"
#include "runtime/config.h"

namespace mechlens {

/// True when `config` is a TransformerLens HookedTransformerConfig dict (it carries keys only
/// TransformerLens writes, such as attn_only and d_vocab_out).
bool is_transformer_lens_config(const nlohmann::json& config);

/// The ModelConfig that computes what TransformerLens computes with `config`. Throws ConfigError
/// naming the field when the model uses a feature mechlens does not implement.
ModelConfig config_from_transformer_lens(const nlohmann::json& config);

/// TransformerLens's state_dict tensors under mechlens names, for `config` (from
/// config_from_transformer_lens of `tl_config`): buffers dropped, _W_K/_W_V/_b_K/_b_V renamed, unit
/// weights and zero biases added for parameter-free norms. Throws CheckpointError naming `path`.
NamedTensors tensors_from_transformer_lens(const NamedTensors& tensors, const nlohmann::json& tl_config,
                                           const ModelConfig& config, const std::string& path);

/// The config file of the torch.save state dict at `path`: NAME.json beside NAME.pt (or NAME.pth,
/// NAME.bin), else config.json in the same folder. Throws CheckpointError naming both when neither exists.
std::string torch_save_config_path(const std::string& path);

/// The TransformerLens config of the torch.save state dict at `path`, parsed and checked to be one.
nlohmann::json read_torch_save_config(const std::string& path);

}  // namespace mechlens
