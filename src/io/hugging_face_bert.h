// BERT encoders from Hugging Face (BertModel as sentence-transformers saves it, or the "bert."
// base of BertFor* classes): bidirectional attention, learned positions and token types summed and
// normalised (ln_embed), post-LN blocks with exact GELU. The encoder's last hidden states are the
// output (has_unembed = false); the pooler and task heads are not part of it and are left out.
#pragma once

#include <nlohmann/json_fwd.hpp>

#include <string>

#include "io/hugging_face_weights.h"
#include "io/safetensors.h"
#include "runtime/config.h"

namespace mechlens {

/// The ModelConfig of a config.json with model_type "bert". Throws ConfigError naming `source` and
/// the field for settings mechlens does not compute (relative positions, decoders, cross-attention).
ModelConfig bert_config(const nlohmann::json& config, const std::string& source);

/// The encoder's weights under mechlens names. nn.Linear weights are [out, in].
NamedTensors bert_weights(WeightSource& source, const ModelConfig& config);

/// Tensors of a BERT checkpoint that are not the encoder: the position_ids buffer, the pooler and
/// the pre-training / task heads.
bool is_unused_bert_tensor(const std::string& name);

}  // namespace mechlens
