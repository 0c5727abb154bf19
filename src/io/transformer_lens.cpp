#include "io/transformer_lens.h"

#include <torch/torch.h>

#include <cmath>
#include <filesystem>
#include <map>
#include <set>

#include <nlohmann/json.hpp>

#include "io/config_fields.h"
#include "util/error.h"
#include "util/json_text.h"

namespace mechlens {
namespace {

using json = nlohmann::json;

constexpr const char* kSource = "TransformerLens config";

// A field's value, or `fallback` when it is absent or null.
template <typename T>
T field_or(const json& config, const char* name, T fallback) {
  return ConfigFields(config, kSource).get_or<T>(name, fallback);
}

int64_t required_int(const json& config, const char* name) { return ConfigFields(config, kSource).required_int(name); }

// Fields whose non-default values change the computation in ways mechlens does not implement.
void refuse_unsupported(const json& config) {
  auto refuse_if = [&](const char* field, bool unsupported, const char* expected) {
    ConfigFields(config, kSource).refuse_if(field, unsupported, expected);
  };
  refuse_if("parallel_attn_mlp", field_or(config, "parallel_attn_mlp", false), "false");
  refuse_if("use_local_attn", field_or(config, "use_local_attn", false), "false");
  refuse_if("rotary_adjacent_pairs", field_or(config, "rotary_adjacent_pairs", false),
            "false (GPT-NeoX rotary layout)");
  refuse_if("use_attn_scale", !field_or(config, "use_attn_scale", true), "true");
  refuse_if("attention_dir", field_or<std::string>(config, "attention_dir", "causal") != "causal", "'causal'");
  refuse_if("use_NTK_by_parts_rope", field_or(config, "use_NTK_by_parts_rope", false), "false");
  refuse_if("use_normalization_before_and_after", field_or(config, "use_normalization_before_and_after", false),
            "false");
  refuse_if("use_qk_norm", field_or(config, "use_qk_norm", false), "false");
  refuse_if("output_logits_soft_cap", field_or(config, "output_logits_soft_cap", -1.0) > 0, "-1 (none)");
  refuse_if("attn_scores_soft_cap", field_or(config, "attn_scores_soft_cap", -1.0) > 0, "-1 (none)");
  const int64_t d_head = required_int(config, "d_head");
  const double attn_scale = field_or(config, "attn_scale", std::sqrt(double(d_head)));
  refuse_if("attn_scale", std::abs(attn_scale - std::sqrt(double(d_head))) > 1e-6 * attn_scale, "sqrt(d_head)");
  const int64_t d_vocab_out = field_or<int64_t>(config, "d_vocab_out", -1);
  refuse_if("d_vocab_out", d_vocab_out > 0 && d_vocab_out != required_int(config, "d_vocab"), "d_vocab");
}

// "blocks.3.attn._W_K" -> "blocks.3.attn.W_K"; TransformerLens keeps grouped-query K/V under these.
std::string renamed(const std::string& name) {
  for (const char* grouped : {"_W_K", "_W_V", "_b_K", "_b_V"}) {
    const std::string suffix = std::string(".") + grouped;
    if (name.size() > suffix.size() && name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0) {
      return name.substr(0, name.size() - suffix.size() + 1) + (grouped + 1);
    }
  }
  return name;
}

// Buffers a HookedTransformer's state_dict holds that are not weights.
bool is_buffer(const std::string& name) {
  for (const char* buffer : {".mask", ".IGNORE", ".rotary_sin", ".rotary_cos"}) {
    const std::string suffix = buffer;
    if (name.size() > suffix.size() && name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0) {
      return true;
    }
  }
  return false;
}

}  // namespace

bool is_transformer_lens_config(const json& config) {
  return config.is_object() && config.contains("d_model") && config.contains("n_layers") &&
         (config.contains("attn_only") || config.contains("d_vocab_out"));
}

ModelConfig config_from_transformer_lens(const json& config) {
  MECHLENS_CHECK(ConfigError, config.is_object(), "TransformerLens config must be a JSON object, got {}",
                 config.type_name());
  refuse_unsupported(config);
  ModelConfig out;
  out.n_layers = required_int(config, "n_layers");
  out.d_model = required_int(config, "d_model");
  out.n_heads = required_int(config, "n_heads");
  out.d_head = required_int(config, "d_head");
  out.n_ctx = required_int(config, "n_ctx");
  out.d_vocab = required_int(config, "d_vocab");
  out.n_key_value_heads = field_or<int64_t>(config, "n_key_value_heads", 0);
  const bool attn_only = field_or(config, "attn_only", false);
  out.d_mlp = attn_only ? 0 : field_or<int64_t>(config, "d_mlp", 4 * out.d_model);
  if (!attn_only) out.act_fn = ConfigFields(config, kSource).act_fn("act_fn");
  out.gated_mlp = !attn_only && field_or(config, "gated_mlp", false);

  const std::string norm = field_or<std::string>(config, "normalization_type", "none");
  if (norm == "LN" || norm == "LNPre") out.normalization_type = NormType::kLN;
  else if (norm == "RMS" || norm == "RMSPre") out.normalization_type = NormType::kRMS;
  else if (norm == "none" || norm == "None") out.normalization_type = NormType::kNone;
  else
    MECHLENS_FAIL(ConfigError,
                  "TransformerLens config field 'normalization_type' is '{}', expected LN, LNPre, "
                  "RMS, RMSPre or null",
                  norm);
  MECHLENS_CHECK(ConfigError, !field_or(config, "final_rms", false) || out.normalization_type == NormType::kRMS,
                 "TransformerLens config field 'final_rms' is true with normalization_type '{}'; mechlens "
                 "supports final_rms only with RMS norms",
                 norm);
  out.norm_placement = NormPlacement::kPre;  // TransformerLens has no post-norm blocks
  out.eps = field_or(config, "eps", 1e-5);

  const std::string positions = field_or<std::string>(config, "positional_embedding_type", "standard");
  if (positions == "standard") out.positional_embedding_type = PositionalEmbedding::kStandard;
  else if (positions == "rotary") out.positional_embedding_type = PositionalEmbedding::kRotary;
  else
    MECHLENS_FAIL(ConfigError,
                  "TransformerLens config field 'positional_embedding_type' is '{}', expected "
                  "standard or rotary (shortformer and alibi are not implemented in mechlens)",
                  positions);
  if (out.positional_embedding_type == PositionalEmbedding::kRotary) {
    out.rotary_dim = field_or<int64_t>(config, "rotary_dim", out.d_head);
    out.rotary_base = field_or(config, "rotary_base", 10000.0);
  }
  // A HookedTransformer always has every bias (zero where the source model had none).
  out.attn_bias = out.mlp_bias = out.unembed_bias = true;
  out.tie_embeddings = false;
  out.seed = std::max<int64_t>(0, field_or<int64_t>(config, "seed", 0));
  out.validate();
  return out;
}

NamedTensors tensors_from_transformer_lens(const NamedTensors& tensors, const json& tl_config,
                                           const ModelConfig& config, const std::string& path) {
  NamedTensors out;
  std::set<std::string> names;
  for (const auto& [name, tensor] : tensors) {
    if (is_buffer(name)) continue;
    const std::string target = renamed(name);
    MECHLENS_CHECK(CheckpointError, names.insert(target).second, "{}: tensors '{}' and another both map to '{}'", path,
                   name, target);
    out.emplace_back(target, tensor);
  }
  // LayerNormPre / RMSNormPre have no parameters: they equal the parameterised norm with w = 1, b = 0.
  const std::string norm = field_or<std::string>(tl_config, "normalization_type", "none");
  if (norm == "LNPre" || norm == "RMSPre") {
    std::vector<std::string> norms{"ln_final"};
    for (int64_t l = 0; l < config.n_layers; ++l) {
      norms.push_back("blocks." + std::to_string(l) + ".ln1");
      if (!config.attn_only()) norms.push_back("blocks." + std::to_string(l) + ".ln2");
    }
    for (const std::string& prefix : norms) {
      if (!names.count(prefix + ".w")) out.emplace_back(prefix + ".w", torch::ones({config.d_model}));
      if (norm == "LNPre" && !names.count(prefix + ".b"))
        out.emplace_back(prefix + ".b", torch::zeros({config.d_model}));
    }
  }
  return out;
}

std::string torch_save_config_path(const std::string& path) {
  const std::filesystem::path file(path);
  std::filesystem::path beside = file;
  beside.replace_extension(".json");
  const std::filesystem::path folder = file.parent_path() / "config.json";
  for (const auto& candidate : {beside, folder}) {
    std::error_code error;
    if (std::filesystem::is_regular_file(candidate, error)) return candidate.string();
  }
  MECHLENS_FAIL(CheckpointError,
                "{}: a torch.save state dict needs its TransformerLens config beside it; looked for {} and {}; "
                "hint: json.dump(model.cfg.to_dict(), open('{}', 'w'), default=str)",
                path, beside.string(), folder.string(), beside.string());
}

json read_torch_save_config(const std::string& path) {
  const std::string config_path = torch_save_config_path(path);
  json config = read_json_file<CheckpointError>(config_path);
  MECHLENS_CHECK(CheckpointError, is_transformer_lens_config(config),
                 "{}: not a TransformerLens config (expected HookedTransformerConfig.to_dict() with d_model, "
                 "n_layers and attn_only or d_vocab_out), so the state dict {} cannot be mapped",
                 config_path, path);
  return config;
}

}  // namespace mechlens
