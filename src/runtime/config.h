// ModelConfig: every architectural choice of a HookedTransformer, with TransformerLens field names.
// One field list (visit_config_fields) drives JSON round-trip and the checkpoint metadata.
#pragma once

#include <nlohmann/json_fwd.hpp>

#include <cstdint>
#include <string>

namespace mechlens {

enum class NormType { kLN, kRMS, kNone };
enum class NormPlacement { kPre, kPost };  // post-LN: x <- LN(x + sublayer(x)) (Wang et al. 2024)
enum class PositionalEmbedding { kStandard, kRotary, kNone };
enum class AttentionDir { kCausal, kBidirectional };  // bidirectional: encoders such as BERT
enum class ActFn { kReLU, kGELU, kGELUNew, kSiLU };
enum class InitForm { kNormal, kUniform };
// Wang et al. 2024's "orthogonal noise", as reconstructed here (docs/CONFIG.md): fixed random
// orthogonal matrices, times a per-head scalar, added to each head's W_Q W_K^T and/or W_V W_O.
enum class OrthogonalNoise { kNone, kQK, kVO, kQKVO };

struct ModelConfig {
  int64_t n_layers = 2;
  int64_t d_model = 128;
  int64_t n_heads = 4;
  int64_t d_head = 32;
  int64_t n_key_value_heads = 0;  // grouped-query attention; 0 = n_heads (plain multi-head)
  int64_t d_mlp = 512;            // 0 = attention-only
  int64_t n_ctx = 64;             // longest sequence the model accepts
  int64_t d_vocab = 64;
  ActFn act_fn = ActFn::kGELU;
  bool gated_mlp = false;  // post = act(x W_gate) * (x W_in), as Llama/Mistral
  NormType normalization_type = NormType::kLN;
  NormPlacement norm_placement = NormPlacement::kPre;
  double eps = 1e-5;
  PositionalEmbedding positional_embedding_type = PositionalEmbedding::kStandard;
  int64_t rotary_dim = 0;  // dims of each head that rotate; 0 = d_head
  double rotary_base = 10000.0;
  bool attn_bias = true;        // b_Q, b_K, b_V, b_O
  bool mlp_bias = true;         // b_in, b_out
  bool unembed_bias = true;     // b_U
  bool tie_embeddings = false;  // W_U = W_E^T, no separate unembedding matrix
  // Encoders (BERT, TransformerLens's HookedEncoder): every position sees every other one, token-type
  // embeddings (segment 0 for every token), a norm of the embedding sum, and possibly no head at all.
  AttentionDir attention_dir = AttentionDir::kCausal;
  int64_t d_vocab_token_type = 0;  // rows of token_type_embed.W_token_type; 0 = none
  bool ln_embed = false;           // normalise the embedding sum (ln_embed), as BERT
  // Every token embedding enters at one shared, learned norm (embed.row_norm): W_E[t] / |W_E[t]| * row_norm.
  // Tokens that training never shows keep their initial row, and without this their initial (small)
  // norm; with it they enter at the trained tokens' scale (docs/MATCHING.md). This project's variant.
  bool shared_embed_norm = false;
  bool has_unembed = true;                 // false: forward returns the last residual stream [batch, pos, d_model]
  InitForm init_form = InitForm::kNormal;  // normal: std = fan_in^-gamma; uniform: +-(6/fan_in)^gamma
  double init_gamma = 0.5;                 // "initialisation rate": 0.5 ~ default scale, 1 = small
  int64_t seed = 0;                        // seed of the weight initialisation
  OrthogonalNoise orthogonal_noise = OrthogonalNoise::kNone;
  double orthogonal_noise_scale = 0.1;      // the scalar's (initial) value
  bool orthogonal_noise_learnable = false;  // train the per-head scalars (the matrices stay fixed)

  bool attn_only() const { return d_mlp == 0; }
  bool has_norm() const { return normalization_type != NormType::kNone; }
  bool causal() const { return attention_dir == AttentionDir::kCausal; }
  /// Width of forward's output: d_vocab logits, or d_model for a model without an unembedding.
  int64_t d_output() const { return has_unembed ? d_vocab : d_model; }
  int64_t kv_heads() const { return n_key_value_heads > 0 ? n_key_value_heads : n_heads; }
  int64_t effective_rotary_dim() const { return rotary_dim > 0 ? rotary_dim : d_head; }
  bool noise_qk() const {
    return orthogonal_noise == OrthogonalNoise::kQK || orthogonal_noise == OrthogonalNoise::kQKVO;
  }
  bool noise_vo() const {
    return orthogonal_noise == OrthogonalNoise::kVO || orthogonal_noise == OrthogonalNoise::kQKVO;
  }

  /// Throws ConfigError naming the field, its value and the constraint it breaks.
  void validate() const;
  /// Number of parameters the model holds, in floating point so that absurd sizes cannot overflow.
  double parameter_count() const;
  /// Multiply-adds x 2 of one block's forward for one token attending to `context` positions (the
  /// GEMMs and the attention products; norms and activations are left out): a cost model for sweeps.
  double block_flops_per_token(int64_t context) const;
  /// Throws ConfigError when the parameters (`bytes_per_parameter` each: 4 for float32, 2 for
  /// bfloat16) would not fit in `available_bytes` (default: this machine's physical memory), with
  /// both numbers: checked before anything is allocated.
  void check_fits_in_memory(double available_bytes = 0, double bytes_per_parameter = 4) const;

  nlohmann::json to_json() const;
  /// Unknown keys are rejected (a typo must not silently fall back to a default).
  static ModelConfig from_json(const nlohmann::json& json);
  static ModelConfig from_json_string(const std::string& text);
  static ModelConfig from_file(const std::string& path);
};

bool operator==(const ModelConfig& a, const ModelConfig& b);
inline bool operator!=(const ModelConfig& a, const ModelConfig& b) { return !(a == b); }

std::string to_string(NormType value);
std::string to_string(NormPlacement value);
std::string to_string(PositionalEmbedding value);
std::string to_string(AttentionDir value);
std::string to_string(ActFn value);
std::string to_string(InitForm value);
std::string to_string(OrthogonalNoise value);

}  // namespace mechlens
