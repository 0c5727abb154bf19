#include "runtime/config.h"

#include <nlohmann/json.hpp>

#include <unistd.h>

#include <array>
#include <set>
#include <utility>

#include "util/error.h"
#include "util/json_text.h"

namespace mechlens {
namespace {

template <typename Enum, size_t N>
using EnumNames = std::array<std::pair<Enum, const char*>, N>;

constexpr EnumNames<NormType, 3> kNormTypes{
    {{NormType::kLN, "LN"}, {NormType::kRMS, "RMS"}, {NormType::kNone, "none"}}};
constexpr EnumNames<NormPlacement, 2> kNormPlacements{{{NormPlacement::kPre, "pre"}, {NormPlacement::kPost, "post"}}};
constexpr EnumNames<PositionalEmbedding, 3> kPositionalEmbeddings{{{PositionalEmbedding::kStandard, "standard"},
                                                                   {PositionalEmbedding::kRotary, "rotary"},
                                                                   {PositionalEmbedding::kNone, "none"}}};
constexpr EnumNames<AttentionDir, 2> kAttentionDirs{
    {{AttentionDir::kCausal, "causal"}, {AttentionDir::kBidirectional, "bidirectional"}}};
constexpr EnumNames<ActFn, 4> kActFns{
    {{ActFn::kReLU, "relu"}, {ActFn::kGELU, "gelu"}, {ActFn::kGELUNew, "gelu_new"}, {ActFn::kSiLU, "silu"}}};
constexpr EnumNames<InitForm, 2> kInitForms{{{InitForm::kNormal, "normal"}, {InitForm::kUniform, "uniform"}}};
constexpr EnumNames<OrthogonalNoise, 4> kOrthogonalNoise{{{OrthogonalNoise::kNone, "none"},
                                                          {OrthogonalNoise::kQK, "qk"},
                                                          {OrthogonalNoise::kVO, "vo"},
                                                          {OrthogonalNoise::kQKVO, "qk_vo"}}};

template <typename Enum, size_t N>
std::string enum_to_string(const EnumNames<Enum, N>& names, Enum value) {
  for (const auto& [e, name] : names) {
    if (e == value) return name;
  }
  return "?";
}

template <typename Enum, size_t N>
Enum enum_from_json(const EnumNames<Enum, N>& names, const char* field, const nlohmann::json& j) {
  // JSON null means "none", as TransformerLens's normalization_type=None.
  const std::string text = j.is_null() ? "none" : j.get<std::string>();
  std::string allowed;
  for (const auto& [e, name] : names) {
    if (text == name) return e;
    allowed += (allowed.empty() ? "" : ", ") + std::string(name);
  }
  MECHLENS_FAIL(ConfigError, "config field '{}' is '{}', expected one of: {}", field, text, allowed);
}

// Visits every config field with its JSON name: the single list behind to_json and from_json.
template <typename Config, typename Visitor>
void visit_config_fields(Config& c, Visitor&& v) {
  v("n_layers", c.n_layers);
  v("d_model", c.d_model);
  v("n_heads", c.n_heads);
  v("d_head", c.d_head);
  v("n_key_value_heads", c.n_key_value_heads);
  v("d_mlp", c.d_mlp);
  v("n_ctx", c.n_ctx);
  v("d_vocab", c.d_vocab);
  v("act_fn", c.act_fn);
  v("gated_mlp", c.gated_mlp);
  v("normalization_type", c.normalization_type);
  v("norm_placement", c.norm_placement);
  v("eps", c.eps);
  v("positional_embedding_type", c.positional_embedding_type);
  v("rotary_dim", c.rotary_dim);
  v("rotary_base", c.rotary_base);
  v("attn_bias", c.attn_bias);
  v("mlp_bias", c.mlp_bias);
  v("unembed_bias", c.unembed_bias);
  v("tie_embeddings", c.tie_embeddings);
  v("attention_dir", c.attention_dir);
  v("d_vocab_token_type", c.d_vocab_token_type);
  v("ln_embed", c.ln_embed);
  v("shared_embed_norm", c.shared_embed_norm);
  v("has_unembed", c.has_unembed);
  v("init_form", c.init_form);
  v("init_gamma", c.init_gamma);
  v("seed", c.seed);
  v("orthogonal_noise", c.orthogonal_noise);
  v("orthogonal_noise_scale", c.orthogonal_noise_scale);
  v("orthogonal_noise_learnable", c.orthogonal_noise_learnable);
}

struct ToJson {
  nlohmann::json& out;
  template <typename T>
  void operator()(const char* name, const T& value) {
    if constexpr (std::is_same_v<T, NormType>) out[name] = enum_to_string(kNormTypes, value);
    else if constexpr (std::is_same_v<T, NormPlacement>) out[name] = enum_to_string(kNormPlacements, value);
    else if constexpr (std::is_same_v<T, PositionalEmbedding>) out[name] = enum_to_string(kPositionalEmbeddings, value);
    else if constexpr (std::is_same_v<T, AttentionDir>) out[name] = enum_to_string(kAttentionDirs, value);
    else if constexpr (std::is_same_v<T, ActFn>) out[name] = enum_to_string(kActFns, value);
    else if constexpr (std::is_same_v<T, InitForm>) out[name] = enum_to_string(kInitForms, value);
    else if constexpr (std::is_same_v<T, OrthogonalNoise>) out[name] = enum_to_string(kOrthogonalNoise, value);
    else out[name] = value;
  }
};

struct FromJson {
  const nlohmann::json& in;
  std::set<std::string>& seen;
  template <typename T>
  void operator()(const char* name, T& value) {
    const auto it = in.find(name);
    if (it == in.end()) return;
    seen.insert(name);
    try {
      if constexpr (std::is_same_v<T, NormType>) value = enum_from_json(kNormTypes, name, *it);
      else if constexpr (std::is_same_v<T, NormPlacement>) value = enum_from_json(kNormPlacements, name, *it);
      else if constexpr (std::is_same_v<T, PositionalEmbedding>)
        value = enum_from_json(kPositionalEmbeddings, name, *it);
      else if constexpr (std::is_same_v<T, AttentionDir>) value = enum_from_json(kAttentionDirs, name, *it);
      else if constexpr (std::is_same_v<T, ActFn>) value = enum_from_json(kActFns, name, *it);
      else if constexpr (std::is_same_v<T, InitForm>) value = enum_from_json(kInitForms, name, *it);
      else if constexpr (std::is_same_v<T, OrthogonalNoise>) value = enum_from_json(kOrthogonalNoise, name, *it);
      else if constexpr (std::is_same_v<T, bool>) value = it->template get<bool>();
      else if constexpr (std::is_integral_v<T>) {
        MECHLENS_CHECK(ConfigError, it->is_number_integer(), "config field '{}' is {}, expected an integer", name,
                       json_excerpt(*it));
        value = it->template get<T>();
      } else value = it->template get<T>();
    } catch (const nlohmann::json::exception& e) {
      MECHLENS_FAIL(ConfigError, "config field '{}' has value {}: {}", name, json_excerpt(*it), e.what());
    }
  }
};

}  // namespace

std::string to_string(NormType value) { return enum_to_string(kNormTypes, value); }
std::string to_string(NormPlacement value) { return enum_to_string(kNormPlacements, value); }
std::string to_string(PositionalEmbedding value) { return enum_to_string(kPositionalEmbeddings, value); }
std::string to_string(AttentionDir value) { return enum_to_string(kAttentionDirs, value); }
std::string to_string(ActFn value) { return enum_to_string(kActFns, value); }
std::string to_string(InitForm value) { return enum_to_string(kInitForms, value); }
std::string to_string(OrthogonalNoise value) { return enum_to_string(kOrthogonalNoise, value); }

void ModelConfig::validate() const {
  // Each size is also bounded, so that products of sizes (element counts, byte counts) cannot overflow.
  constexpr int64_t kMaxSize = int64_t(1) << 31;
  auto positive = [&](const char* field, int64_t value) {
    MECHLENS_CHECK(ConfigError, value > 0 && value <= kMaxSize, "config field '{}' is {}, expected 1..{}", field, value,
                   kMaxSize);
  };
  positive("n_layers", n_layers);
  positive("d_model", d_model);
  positive("n_heads", n_heads);
  positive("d_head", d_head);
  positive("n_ctx", n_ctx);
  positive("d_vocab", d_vocab);
  MECHLENS_CHECK(ConfigError, d_mlp <= kMaxSize, "config field 'd_mlp' is {}, expected at most {}", d_mlp, kMaxSize);
  MECHLENS_CHECK(ConfigError, d_mlp >= 0, "config field 'd_mlp' is {}, expected >= 0 (0 = attention-only)", d_mlp);
  MECHLENS_CHECK(ConfigError, n_key_value_heads >= 0 && n_heads % kv_heads() == 0,
                 "config field 'n_key_value_heads' is {}, expected a divisor of n_heads={}", n_key_value_heads,
                 n_heads);
  MECHLENS_CHECK(ConfigError, !gated_mlp || d_mlp > 0, "config field 'gated_mlp' needs d_mlp > 0");
  if (positional_embedding_type == PositionalEmbedding::kRotary) {
    const int64_t dim = effective_rotary_dim();
    MECHLENS_CHECK(ConfigError, dim % 2 == 0 && dim <= d_head,
                   "config field 'rotary_dim' is {}, expected an even number <= d_head={}", rotary_dim, d_head);
    MECHLENS_CHECK(ConfigError, rotary_base > 0, "config field 'rotary_base' is {}, expected > 0", rotary_base);
  }
  MECHLENS_CHECK(ConfigError, rotary_dim >= 0, "config field 'rotary_dim' is {}, expected >= 0", rotary_dim);
  MECHLENS_CHECK(ConfigError, norm_placement == NormPlacement::kPre || has_norm(),
                 "config field 'norm_placement' is 'post' but normalization_type is 'none'; "
                 "post-norm needs LN or RMS");
  MECHLENS_CHECK(ConfigError, d_vocab_token_type >= 0 && d_vocab_token_type <= kMaxSize,
                 "config field 'd_vocab_token_type' is {}, expected 0..{} (0 = no token-type embedding)",
                 d_vocab_token_type, kMaxSize);
  MECHLENS_CHECK(ConfigError, !ln_embed || has_norm(),
                 "config field 'ln_embed' is true but normalization_type is 'none'; it needs LN or RMS");
  MECHLENS_CHECK(ConfigError, eps > 0, "config field 'eps' is {}, expected > 0", eps);
  MECHLENS_CHECK(ConfigError, init_gamma > 0, "config field 'init_gamma' is {}, expected > 0", init_gamma);
  MECHLENS_CHECK(ConfigError, seed >= 0, "config field 'seed' is {}, expected >= 0", seed);
}

double ModelConfig::parameter_count() const {
  const double d = double(d_model), heads = double(n_heads), kv = double(kv_heads()), dh = double(d_head);
  double block = (2 * heads + 2 * kv) * d * dh;       // W_Q, W_O, W_K, W_V
  if (attn_bias) block += (heads + 2 * kv) * dh + d;  // b_Q, b_K, b_V, b_O
  if (!attn_only()) block += (gated_mlp ? 3.0 : 2.0) * d * double(d_mlp) + (mlp_bias ? double(d_mlp) + d : 0.0);
  const double norm = normalization_type == NormType::kLN ? 2 * d : normalization_type == NormType::kRMS ? d : 0.0;
  block += (attn_only() ? 1.0 : 2.0) * norm;                      // ln1 (and ln2): w (and b)
  if (noise_qk()) block += heads * d * d + heads;                 // R_QK, s_QK
  if (noise_vo()) block += heads * d * d + heads;                 // R_VO, s_VO
  double total = double(n_layers) * block + double(d_vocab) * d;  // blocks, W_E
  if (shared_embed_norm) total += 1;                              // embed.row_norm
  if (positional_embedding_type == PositionalEmbedding::kStandard) total += double(n_ctx) * d;
  total += double(d_vocab_token_type) * d;  // W_token_type
  if (ln_embed) total += norm;              // ln_embed
  if (has_unembed && !tie_embeddings) total += d * double(d_vocab);
  if (has_unembed && unembed_bias) total += double(d_vocab);
  if (norm_placement == NormPlacement::kPre) total += norm;  // ln_final
  return total;
}

double ModelConfig::block_flops_per_token(int64_t context) const {
  const double d = double(d_model), dh = double(d_head), heads = double(n_heads), kv = double(kv_heads());
  double flops = 2 * d * dh * (2 * heads + 2 * kv);  // Q, K, V and O projections
  flops += 2 * 2 * heads * dh * double(context);     // scores and pattern x values
  if (!attn_only()) flops += 2 * d * double(d_mlp) * (gated_mlp ? 3 : 2);
  return flops;
}

void ModelConfig::check_fits_in_memory(double available_bytes, double bytes_per_parameter) const {
  if (available_bytes <= 0) {
    available_bytes = double(sysconf(_SC_PHYS_PAGES)) * double(sysconf(_SC_PAGE_SIZE));
  }
  const double needed = parameter_count() * bytes_per_parameter;
  MECHLENS_CHECK(ConfigError, needed <= available_bytes,
                 "the model needs {:.3g} GB for its {:.4g} parameters at {} bytes each (n_layers={}, d_model={}, "
                 "d_mlp={}, d_vocab={}, n_ctx={}), more than this machine's {:.3g} GB of memory{}",
                 needed / 1e9, parameter_count(), bytes_per_parameter, n_layers, d_model, d_mlp, d_vocab, n_ctx,
                 available_bytes / 1e9,
                 bytes_per_parameter > 2 ? "; bfloat16 weights (--model-dtype bf16) take half" : "");
}

nlohmann::json ModelConfig::to_json() const {
  nlohmann::json out = nlohmann::json::object();
  visit_config_fields(*this, ToJson{out});
  return out;
}

ModelConfig ModelConfig::from_json(const nlohmann::json& json) {
  MECHLENS_CHECK(ConfigError, json.is_object(), "model config must be a JSON object, got {}", json.type_name());
  ModelConfig config;
  std::set<std::string> seen;
  visit_config_fields(config, FromJson{json, seen});
  for (const auto& item : json.items()) {
    MECHLENS_CHECK(ConfigError, seen.count(item.key()) > 0,
                   "unknown model config field '{}' (known fields: see ModelConfig in docs/CONFIG.md)", item.key());
  }
  config.validate();
  return config;
}

ModelConfig ModelConfig::from_json_string(const std::string& text) {
  return from_json(parse_json_text<ConfigError>(text, "model config"));
}

ModelConfig ModelConfig::from_file(const std::string& path) {
  const nlohmann::json json = read_json_file<ConfigError>(path);
  try {
    return from_json(json);
  } catch (const ConfigError& e) {
    throw ConfigError(fmt::format("{}: {}", path, e.what()));
  }
}

bool operator==(const ModelConfig& a, const ModelConfig& b) { return a.to_json() == b.to_json(); }

}  // namespace mechlens
