#include "runtime/weight_processing.h"

#include <torch/torch.h>

#include <nlohmann/json.hpp>

#include <map>
#include <string>

#include "util/error.h"

namespace mechlens {
namespace {

// The model's parameters by name; the tensors alias the parameters, so in-place updates land there.
class Parameters {
 public:
  explicit Parameters(HookedTransformer& model) {
    for (auto& item : model->named_parameters()) tensors_.emplace(item.key(), item.value());
  }
  bool has(const std::string& name) const { return tensors_.count(name) > 0; }
  torch::Tensor& operator[](const std::string& name) { return tensors_.at(name); }

 private:
  std::map<std::string, torch::Tensor> tensors_;
};

void refuse_unless(bool condition, const char* step, const std::string& reason) {
  MECHLENS_CHECK(ConfigError, condition, "weight processing {}: {}; it would change what the model computes", step,
                 reason);
}

bool all_zero(const torch::Tensor& tensor) { return tensor.eq(0).all().item<bool>(); }

// A matrix that reads a norm's output: weight [..., d_model, out], its bias [..., out] ("" = none), and
// whether to centre it over d_model afterwards (TransformerLens leaves the gate uncentred).
struct Reader {
  std::string weight;
  std::string bias;
  bool center = true;
};

// Folds the norm `norm` (weight w, LayerNorm bias b: [d_model]) into the matrices that read its
// output, whose d_model axis is `dim`.
void fold_norm(Parameters& params, const std::string& norm, bool layer_norm, const std::vector<Reader>& readers,
               int64_t dim) {
  const torch::Tensor w = params[norm + ".w"].clone();
  const torch::Tensor b = layer_norm ? params[norm + ".b"].clone() : torch::Tensor();
  std::vector<int64_t> shape(dim + 2, 1);
  shape[dim] = w.size(0);  // w broadcast along the weight's d_model axis
  for (const Reader& reader : readers) {
    torch::Tensor& weight = params[reader.weight];
    if (layer_norm && !reader.bias.empty()) {
      // bias += sum_d b[d] W[..., d, :]
      params[reader.bias].add_((weight * b.view(shape)).sum(dim));
    }
    weight.mul_(w.view(shape));
    // LayerNorm's output has zero mean over d_model, so the weight's mean over that axis reads nothing.
    if (layer_norm && reader.center) weight.sub_(weight.mean(dim, /*keepdim=*/true));
  }
  params[norm + ".w"].fill_(1.0);
  if (layer_norm) params[norm + ".b"].zero_();
}

void fold_layer_norms(Parameters& params, const ModelConfig& config) {
  const char* step = "fold_ln";
  refuse_unless(config.has_norm(), step, "the model has no normalisation to fold");
  refuse_unless(config.norm_placement == NormPlacement::kPre, step, "post-norm blocks normalise the residual itself");
  refuse_unless(!config.tie_embeddings, step, "the unembedding is tied to W_E, so ln_final cannot fold into it");
  refuse_unless(config.has_unembed, step, "the model has no unembedding for ln_final to fold into");
  const bool layer_norm = config.normalization_type == NormType::kLN;
  auto bias_has_home = [&](const std::string& norm, bool has_bias, const char* where) {
    refuse_unless(!layer_norm || has_bias || all_zero(params[norm + ".b"]), step,
                  norm + ".b is not zero and " + where + " has no bias to take it");
  };
  for (int64_t l = 0; l < config.n_layers; ++l) {
    const std::string block = "blocks." + std::to_string(l) + ".";
    bias_has_home(block + "ln1", config.attn_bias, "the attention");
    const std::string attn = block + "attn.";
    const auto bias = [&](const char* name) { return config.attn_bias ? attn + name : std::string(); };
    // W_Q/W_K/W_V: [head, d_model, d_head], d_model at dim 1.
    fold_norm(params, block + "ln1", layer_norm,
              {{attn + "W_Q", bias("b_Q")}, {attn + "W_K", bias("b_K")}, {attn + "W_V", bias("b_V")}}, 1);
    if (config.attn_only()) continue;
    bias_has_home(block + "ln2", config.mlp_bias && !config.gated_mlp, config.gated_mlp ? "the MLP's gate" : "the MLP");
    const std::string mlp = block + "mlp.";
    std::vector<Reader> readers = {{mlp + "W_in", config.mlp_bias ? mlp + "b_in" : ""}};
    // W_in/W_gate: [d_model, d_mlp], d_model at dim 0. The gate has no bias.
    if (config.gated_mlp) readers.push_back({mlp + "W_gate", "", /*center=*/false});
    fold_norm(params, block + "ln2", layer_norm, readers, 0);
  }
  bias_has_home("ln_final", config.unembed_bias, "the unembedding");
  fold_norm(params, "ln_final", layer_norm, {{"unembed.W_U", config.unembed_bias ? "unembed.b_U" : ""}}, 0);
}

void center_writes(Parameters& params, const ModelConfig& config) {
  const char* step = "center_writing_weights";
  refuse_unless(config.normalization_type == NormType::kLN && config.norm_placement == NormPlacement::kPre, step,
                "only pre-LayerNorm models read the residual stream through a mean-removing norm");
  refuse_unless(!config.tie_embeddings, step, "W_E is also the unembedding");
  refuse_unless(!config.shared_embed_norm, step, "the embedding rescales each row of W_E to one norm after centring");
  auto center = [&](const std::string& name) {
    torch::Tensor& tensor = params[name];
    tensor.sub_(tensor.mean(-1, /*keepdim=*/true));
  };
  center("embed.W_E");
  if (params.has("pos_embed.W_pos")) center("pos_embed.W_pos");
  for (int64_t l = 0; l < config.n_layers; ++l) {
    const std::string block = "blocks." + std::to_string(l) + ".";
    center(block + "attn.W_O");
    if (params.has(block + "attn.b_O")) center(block + "attn.b_O");
    if (config.attn_only()) continue;
    center(block + "mlp.W_out");
    if (params.has(block + "mlp.b_out")) center(block + "mlp.b_out");
  }
}

void center_unembedding(Parameters& params, const ModelConfig& config) {
  refuse_unless(config.has_unembed, "center_unembed", "the model has no unembedding");
  refuse_unless(!config.tie_embeddings, "center_unembed", "W_U is tied to W_E");
  params["unembed.W_U"].sub_(params["unembed.W_U"].mean(-1, /*keepdim=*/true));
  if (params.has("unembed.b_U")) params["unembed.b_U"].sub_(params["unembed.b_U"].mean());
}

void fold_value_biases_into_output(Parameters& params, const ModelConfig& config) {
  refuse_unless(config.attn_bias, "fold_value_biases", "the model has no attention biases");
  for (int64_t l = 0; l < config.n_layers; ++l) {
    const std::string attn = "blocks." + std::to_string(l) + ".attn.";
    // b_V [kv_head, d_head] -> one per query head [head, d_head]; W_O [head, d_head, d_model].
    const torch::Tensor b_V = params[attn + "b_V"].repeat_interleave(config.n_heads / config.kv_heads(), 0);
    params[attn + "b_O"].add_((b_V.unsqueeze(-1) * params[attn + "W_O"]).sum(std::vector<int64_t>{0, 1}));
    params[attn + "b_V"].zero_();
  }
}

}  // namespace

nlohmann::json WeightProcessing::to_json() const {
  return {{"fold_ln", fold_ln},
          {"center_writing_weights", center_writing_weights},
          {"center_unembed", center_unembed},
          {"fold_value_biases", fold_value_biases}};
}

void process_weights(HookedTransformer& model, const WeightProcessing& processing) {
  if (!processing.any()) return;
  const ModelConfig& config = model->config();
  MECHLENS_CHECK(ConfigError, config.orthogonal_noise == OrthogonalNoise::kNone,
                 "weight processing: the model has orthogonal noise ({}), whose fixed matrices no step can fold",
                 to_string(config.orthogonal_noise));
  torch::NoGradGuard no_grad;
  Parameters params(model);
  if (processing.fold_ln) fold_layer_norms(params, config);
  if (processing.center_writing_weights) center_writes(params, config);
  if (processing.center_unembed) center_unembedding(params, config);
  if (processing.fold_value_biases) fold_value_biases_into_output(params, config);
}

}  // namespace mechlens
