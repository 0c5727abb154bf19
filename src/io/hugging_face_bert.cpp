#include "io/hugging_face_bert.h"

#include <fmt/format.h>
#include <torch/torch.h>

#include "io/config_fields.h"

namespace mechlens {

ModelConfig bert_config(const nlohmann::json& config, const std::string& source) {
  const ConfigFields fields(config, source);
  fields.refuse_if("position_embedding_type",
                   fields.get_or<std::string>("position_embedding_type", "absolute") != "absolute", "\"absolute\"");
  fields.refuse_if("is_decoder", fields.get_or("is_decoder", false), "false");
  fields.refuse_if("add_cross_attention", fields.get_or("add_cross_attention", false), "false");
  ModelConfig out;
  out.n_layers = fields.required_int("num_hidden_layers");
  out.d_model = fields.required_int("hidden_size");
  out.n_heads = fields.required_int("num_attention_heads");
  MECHLENS_CHECK(ConfigError, out.n_heads > 0 && out.d_model % out.n_heads == 0,
                 "{} fields 'hidden_size' ({}) and 'num_attention_heads' ({}): hidden_size must be a multiple of "
                 "num_attention_heads",
                 source, out.d_model, out.n_heads);
  out.d_head = out.d_model / out.n_heads;
  out.d_mlp = fields.required_int("intermediate_size");
  out.n_ctx = fields.required_int("max_position_embeddings");
  out.d_vocab = fields.required_int("vocab_size");
  out.d_vocab_token_type = fields.get_or<int64_t>("type_vocab_size", 2);
  out.act_fn = fields.act_fn("hidden_act");
  out.eps = fields.get_or("layer_norm_eps", 1e-12);
  out.normalization_type = NormType::kLN;
  out.norm_placement = NormPlacement::kPost;
  out.positional_embedding_type = PositionalEmbedding::kStandard;
  out.attention_dir = AttentionDir::kBidirectional;
  out.ln_embed = true;
  out.attn_bias = out.mlp_bias = true;
  out.has_unembed = false;
  out.unembed_bias = false;
  return out;
}

NamedTensors bert_weights(WeightSource& source, const ModelConfig& c) {
  const int64_t d = c.d_model, hd = c.n_heads * c.d_head;
  NamedTensors out;
  out.emplace_back("embed.W_E", source.take("embeddings.word_embeddings.weight", {c.d_vocab, d}));
  out.emplace_back("pos_embed.W_pos", source.take("embeddings.position_embeddings.weight", {c.n_ctx, d}));
  out.emplace_back("token_type_embed.W_token_type",
                   source.take("embeddings.token_type_embeddings.weight", {c.d_vocab_token_type, d}));
  out.emplace_back("ln_embed.w", source.take("embeddings.LayerNorm.weight", {d}));
  out.emplace_back("ln_embed.b", source.take("embeddings.LayerNorm.bias", {d}));
  for (int64_t l = 0; l < c.n_layers; ++l) {
    const std::string h = fmt::format("encoder.layer.{}.", l), b = fmt::format("blocks.{}.", l);
    const char* names[] = {"Q", "K", "V"};
    const char* hf_names[] = {"query", "key", "value"};
    for (int i = 0; i < 3; ++i) {
      const std::string linear = h + "attention.self." + hf_names[i];
      out.emplace_back(b + "attn.W_" + names[i], source.take(linear + ".weight", {hd, d}, heads_in(c.n_heads)));
      out.emplace_back(b + "attn.b_" + names[i], source.take(linear + ".bias", {hd}, bias_heads(c.n_heads)));
    }
    out.emplace_back(b + "attn.W_O", source.take(h + "attention.output.dense.weight", {d, hd}, heads_out(c.n_heads)));
    out.emplace_back(b + "attn.b_O", source.take(h + "attention.output.dense.bias", {d}));
    // Post-LN: ln1 normalises resid + attention (resid_mid), ln2 resid_mid + MLP (resid_post).
    out.emplace_back(b + "ln1.w", source.take(h + "attention.output.LayerNorm.weight", {d}));
    out.emplace_back(b + "ln1.b", source.take(h + "attention.output.LayerNorm.bias", {d}));
    out.emplace_back(b + "mlp.W_in", source.take(h + "intermediate.dense.weight", {c.d_mlp, d}, transposed()));
    out.emplace_back(b + "mlp.b_in", source.take(h + "intermediate.dense.bias", {c.d_mlp}));
    out.emplace_back(b + "mlp.W_out", source.take(h + "output.dense.weight", {d, c.d_mlp}, transposed()));
    out.emplace_back(b + "mlp.b_out", source.take(h + "output.dense.bias", {d}));
    out.emplace_back(b + "ln2.w", source.take(h + "output.LayerNorm.weight", {d}));
    out.emplace_back(b + "ln2.b", source.take(h + "output.LayerNorm.bias", {d}));
  }
  return out;
}

bool is_unused_bert_tensor(const std::string& name) {
  return ends_with(name, "embeddings.position_ids") || name.rfind("pooler.", 0) == 0 ||
         name.rfind("bert.pooler.", 0) == 0 || name.rfind("cls.", 0) == 0 || name.rfind("classifier.", 0) == 0 ||
         name.rfind("qa_outputs.", 0) == 0;
}

}  // namespace mechlens
