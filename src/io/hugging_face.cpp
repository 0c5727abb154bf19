#include "io/hugging_face.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <torch/torch.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <set>

#include <nlohmann/json.hpp>

#include "io/config_fields.h"
#include "io/hugging_face_bert.h"
#include "io/hugging_face_weights.h"
#include "io/mapped_file.h"
#include "util/error.h"
#include "util/json_text.h"
#include "util/shape_format.h"

namespace mechlens {
namespace {

using json = nlohmann::json;
namespace fs = std::filesystem;

bool is_llama_like(const std::string& model_type) { return model_type == "llama" || model_type == "mistral"; }

std::string model_type_of(const json& config, const std::string& source) {
  const std::string type = ConfigFields(config, source).get_or<std::string>("model_type", "");
  MECHLENS_CHECK(ConfigError, type == "gpt2" || type == "bert" || is_llama_like(type),
                 "{} field 'model_type' is '{}'; mechlens imports gpt2, llama, mistral and bert", source,
                 type.empty() ? "missing" : type);
  return type;
}

ModelConfig gpt2_config(const json& config, const std::string& source) {
  const ConfigFields fields(config, source);
  fields.refuse_if("scale_attn_weights", !fields.get_or("scale_attn_weights", true), "true");
  fields.refuse_if("scale_attn_by_inverse_layer_idx", fields.get_or("scale_attn_by_inverse_layer_idx", false), "false");
  fields.refuse_if("add_cross_attention", fields.get_or("add_cross_attention", false), "false");
  ModelConfig out;
  out.n_layers = fields.required_int("n_layer");
  out.d_model = fields.required_int("n_embd");
  out.n_heads = fields.required_int("n_head");
  MECHLENS_CHECK(ConfigError, out.n_heads > 0 && out.d_model % out.n_heads == 0,
                 "{} fields 'n_embd' ({}) and 'n_head' ({}): n_embd must be a multiple of n_head", source, out.d_model,
                 out.n_heads);
  out.d_head = out.d_model / out.n_heads;
  out.d_mlp = fields.get_or<int64_t>("n_inner", 4 * out.d_model);
  out.n_ctx = fields.required_int("n_positions");
  out.d_vocab = fields.required_int("vocab_size");
  out.act_fn = fields.act_fn("activation_function");
  out.eps = fields.get_or("layer_norm_epsilon", 1e-5);
  out.normalization_type = NormType::kLN;
  out.positional_embedding_type = PositionalEmbedding::kStandard;
  out.attn_bias = out.mlp_bias = true;
  out.tie_embeddings = true;  // GPT2LMHeadModel's lm_head is the token embedding
  out.unembed_bias = false;
  return out;
}

ModelConfig llama_config(const json& config, const std::string& source) {
  const ConfigFields fields(config, source);
  fields.refuse_if("rope_scaling", config.contains("rope_scaling") && !config["rope_scaling"].is_null(), "null");
  fields.refuse_if("mlp_bias", fields.get_or("mlp_bias", false), "false");
  ModelConfig out;
  out.n_layers = fields.required_int("num_hidden_layers");
  out.d_model = fields.required_int("hidden_size");
  out.n_heads = fields.required_int("num_attention_heads");
  out.n_key_value_heads = fields.get_or<int64_t>("num_key_value_heads", out.n_heads);
  MECHLENS_CHECK(ConfigError, out.n_heads > 0, "{} field 'num_attention_heads' must be positive", source);
  out.d_head = fields.get_or<int64_t>("head_dim", out.d_model / out.n_heads);
  out.d_mlp = fields.required_int("intermediate_size");
  out.d_vocab = fields.required_int("vocab_size");
  out.n_ctx = fields.required_int("max_position_embeddings");
  // Within the window a sliding-window mask masks nothing: accept sequences up to its length.
  const int64_t window = fields.get_or<int64_t>("sliding_window", 0);
  if (window > 0) out.n_ctx = std::min(out.n_ctx, window);
  out.act_fn = fields.act_fn("hidden_act");
  out.gated_mlp = true;
  out.normalization_type = NormType::kRMS;
  out.eps = fields.get_or("rms_norm_eps", 1e-6);
  out.positional_embedding_type = PositionalEmbedding::kRotary;
  out.rotary_dim = out.d_head;
  out.rotary_base = fields.get_or("rope_theta", 10000.0);
  out.attn_bias = fields.get_or("attention_bias", false);
  out.mlp_bias = false;
  out.unembed_bias = false;
  out.tie_embeddings = fields.get_or("tie_word_embeddings", false);
  return out;
}

NamedTensors gpt2_weights(WeightSource& source, const ModelConfig& c) {
  const int64_t d = c.d_model, hd = c.n_heads * c.d_head;
  NamedTensors out;
  out.emplace_back("embed.W_E", source.take("wte.weight", {c.d_vocab, d}));
  out.emplace_back("pos_embed.W_pos", source.take("wpe.weight", {c.n_ctx, d}));
  for (int64_t l = 0; l < c.n_layers; ++l) {
    const std::string h = fmt::format("h.{}.", l), b = fmt::format("blocks.{}.", l);
    out.emplace_back(b + "ln1.w", source.take(h + "ln_1.weight", {d}));
    out.emplace_back(b + "ln1.b", source.take(h + "ln_1.bias", {d}));
    const torch::Tensor qkv = source.take(h + "attn.c_attn.weight", {d, 3 * hd});  // Conv1D: [in, out]
    const torch::Tensor qkv_bias = source.take(h + "attn.c_attn.bias", {3 * hd});
    const char* names[] = {"Q", "K", "V"};
    for (int64_t i = 0; i < 3; ++i) {
      out.emplace_back(b + "attn.W_" + names[i], split_heads_in(qkv.narrow(1, i * hd, hd), c.n_heads));
      out.emplace_back(b + "attn.b_" + names[i],
                       qkv_bias.narrow(0, i * hd, hd).reshape({c.n_heads, c.d_head}).contiguous());
    }
    out.emplace_back(b + "attn.W_O", source.take(h + "attn.c_proj.weight", {hd, d}, [&](const torch::Tensor& w) {
      return w.reshape({c.n_heads, c.d_head, d});
    }));
    out.emplace_back(b + "attn.b_O", source.take(h + "attn.c_proj.bias", {d}));
    out.emplace_back(b + "ln2.w", source.take(h + "ln_2.weight", {d}));
    out.emplace_back(b + "ln2.b", source.take(h + "ln_2.bias", {d}));
    out.emplace_back(b + "mlp.W_in", source.take(h + "mlp.c_fc.weight", {d, c.d_mlp}));
    out.emplace_back(b + "mlp.b_in", source.take(h + "mlp.c_fc.bias", {c.d_mlp}));
    out.emplace_back(b + "mlp.W_out", source.take(h + "mlp.c_proj.weight", {c.d_mlp, d}));
    out.emplace_back(b + "mlp.b_out", source.take(h + "mlp.c_proj.bias", {d}));
  }
  out.emplace_back("ln_final.w", source.take("ln_f.weight", {d}));
  out.emplace_back("ln_final.b", source.take("ln_f.bias", {d}));
  return out;
}

NamedTensors llama_weights(WeightSource& source, const ModelConfig& c) {
  const int64_t d = c.d_model, q_out = c.n_heads * c.d_head, kv_out = c.kv_heads() * c.d_head;
  NamedTensors out;
  out.emplace_back("embed.W_E", source.take("embed_tokens.weight", {c.d_vocab, d}));
  for (int64_t l = 0; l < c.n_layers; ++l) {
    const std::string h = fmt::format("layers.{}.", l), b = fmt::format("blocks.{}.", l);
    out.emplace_back(b + "ln1.w", source.take(h + "input_layernorm.weight", {d}));
    out.emplace_back(b + "attn.W_Q", source.take(h + "self_attn.q_proj.weight", {q_out, d}, heads_in(c.n_heads)));
    out.emplace_back(b + "attn.W_K", source.take(h + "self_attn.k_proj.weight", {kv_out, d}, heads_in(c.kv_heads())));
    out.emplace_back(b + "attn.W_V", source.take(h + "self_attn.v_proj.weight", {kv_out, d}, heads_in(c.kv_heads())));
    out.emplace_back(b + "attn.W_O", source.take(h + "self_attn.o_proj.weight", {d, q_out}, heads_out(c.n_heads)));
    if (c.attn_bias) {
      out.emplace_back(b + "attn.b_Q", source.take(h + "self_attn.q_proj.bias", {q_out}, bias_heads(c.n_heads)));
      out.emplace_back(b + "attn.b_K", source.take(h + "self_attn.k_proj.bias", {kv_out}, bias_heads(c.kv_heads())));
      out.emplace_back(b + "attn.b_V", source.take(h + "self_attn.v_proj.bias", {kv_out}, bias_heads(c.kv_heads())));
      out.emplace_back(b + "attn.b_O", source.take(h + "self_attn.o_proj.bias", {d}));
    }
    out.emplace_back(b + "ln2.w", source.take(h + "post_attention_layernorm.weight", {d}));
    out.emplace_back(b + "mlp.W_gate", source.take(h + "mlp.gate_proj.weight", {c.d_mlp, d}, transposed()));
    out.emplace_back(b + "mlp.W_in", source.take(h + "mlp.up_proj.weight", {c.d_mlp, d}, transposed()));
    out.emplace_back(b + "mlp.W_out", source.take(h + "mlp.down_proj.weight", {d, c.d_mlp}, transposed()));
  }
  out.emplace_back("ln_final.w", source.take("norm.weight", {d}));
  return out;
}

}  // namespace

bool is_hugging_face_dir(const std::string& path) {
  std::error_code error;
  return fs::is_directory(path, error) && fs::exists(fs::path(path) / "config.json", error);
}

json read_hugging_face_config(const std::string& dir) {
  return read_json_file<CheckpointError>((fs::path(dir) / "config.json").string());
}

ModelConfig config_from_hugging_face(const json& config, const std::string& source) {
  MECHLENS_CHECK(ConfigError, config.is_object(), "{} must be a JSON object, got {}", source, config.type_name());
  const std::string type = model_type_of(config, source);
  ModelConfig out = type == "gpt2"   ? gpt2_config(config, source)
                    : type == "bert" ? bert_config(config, source)
                                     : llama_config(config, source);
  try {
    out.validate();
  } catch (const ConfigError& e) {
    MECHLENS_FAIL(ConfigError, "{}: the model it describes is invalid: {}", source, e.what());
  }
  return out;
}

NamedTensors read_hugging_face_weights(const std::string& dir, const json& hf_config, const ModelConfig& config,
                                       torch::ScalarType dtype) {
  const std::string type = model_type_of(hf_config, dir + "/config.json");
  std::map<std::string, torch::Tensor> tensors = read_all_weights(dir);
  // The language-model head sits outside the base model's prefix; take it first.
  torch::Tensor lm_head;
  if (auto it = tensors.find("lm_head.weight"); it != tensors.end()) {
    lm_head = it->second;
    tensors.erase(it);
  }
  const char* prefix = type == "gpt2" ? "transformer." : type == "bert" ? "bert." : "model.";
  WeightSource source(std::move(tensors), dir, prefix, dtype);
  // Buffers that are not weights: GPT-2's causal masks, Llama's rotary frequencies.
  source.drop_if([](const std::string& name) {
    return ends_with(name, ".attn.bias") || ends_with(name, ".attn.masked_bias") || ends_with(name, ".inv_freq");
  });
  if (type == "bert") source.drop_if(is_unused_bert_tensor);
  NamedTensors out = type == "gpt2"   ? gpt2_weights(source, config)
                     : type == "bert" ? bert_weights(source, config)
                                      : llama_weights(source, config);
  if (config.has_unembed && !config.tie_embeddings) {
    MECHLENS_CHECK(CheckpointError, lm_head.defined(),
                   "{}: weight 'lm_head.weight' is missing (tie_word_embeddings "
                   "is false)",
                   dir);
    MECHLENS_CHECK(CheckpointError, lm_head.sizes().vec() == std::vector<int64_t>({config.d_vocab, config.d_model}),
                   "{}: weight 'lm_head.weight' has shape {}, expected [{}, {}]", dir, format_shape(lm_head.sizes()),
                   config.d_vocab, config.d_model);
    torch::Tensor W_U = lm_head.to(dtype).t().contiguous();  // [d_model, d_vocab]
    release_mapped_pages(lm_head);
    out.emplace_back("unembed.W_U", std::move(W_U));
  }
  source.check_all_used();
  if (source.float16_taken() > 0) {
    fmt::print(stderr,
               "note: {}: {} float16 weights converted to {} (LibTorch computes on the CPU in float32 or "
               "bfloat16)\n",
               dir, source.float16_taken(), c10::toString(dtype));
  }
  return out;
}

}  // namespace mechlens
