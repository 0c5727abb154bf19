// Direct logit attribution per head: each head's output (hook_z times its W_O) at the last position,
// through the final norm's scale (frozen from the clean run, as TransformerLens's
// apply_ln_to_stack does) and the unembedding column of the predicted token.
// usage: direct_logit_attribution CHECKPOINT.safetensors TOKEN_ID...
#include <fmt/format.h>
#include <torch/torch.h>

#include <cstdlib>
#include <vector>

#include "io/checkpoint.h"
#include "runtime/model.h"

int main(int argc, char** argv) {
  if (argc < 3) {
    fmt::print(stderr, "usage: {} CHECKPOINT.safetensors TOKEN_ID...\n", argv[0]);
    return 2;
  }
  mechlens::HookedTransformer model = mechlens::load_checkpoint(argv[1]);
  const mechlens::ModelConfig& config = model->config();
  std::vector<int64_t> ids;
  for (int i = 2; i < argc; ++i) ids.push_back(std::atoll(argv[i]));
  const torch::Tensor tokens = torch::tensor(ids, torch::kLong).unsqueeze(0);  // [1, pos]

  torch::NoGradGuard no_grad;
  auto [logits, cache] =
      model->run_with_cache(tokens, model->names_filter({"blocks.*.attn.hook_z", "ln_final.hook_scale"}));
  const int64_t answer = logits[0][-1].argmax().item<int64_t>();
  const auto parameters = model->named_parameters();
  // [d_model]: the answer's unembedding column (W_E's row when the embedding is tied)
  const torch::Tensor unembed = parameters.contains("unembed.W_U") ? parameters["unembed.W_U"].select(1, answer)
                                                                   : parameters["embed.W_E"][answer];
  const bool final_norm = cache.contains("ln_final.hook_scale");
  fmt::print("direct contribution of each head to the logit of token {} (total logit {:.3f}):\n", answer,
             logits[0][-1][answer].item<double>());
  for (int64_t layer = 0; layer < config.n_layers; ++layer) {
    const torch::Tensor z = cache.get("z", layer)[0][-1];                            // [head, d_head]
    const torch::Tensor W_O = parameters[fmt::format("blocks.{}.attn.W_O", layer)];  // [head, d_head, d_model]
    torch::Tensor per_head = torch::einsum("hd,hdm->hm", {z, W_O});                  // [head, d_model]
    if (final_norm) {
      if (config.normalization_type == mechlens::NormType::kLN) per_head = per_head - per_head.mean(-1, true);
      per_head = per_head / cache.at("ln_final.hook_scale")[0][-1];
      if (parameters.contains("ln_final.w")) per_head = per_head * parameters["ln_final.w"];
    }
    const torch::Tensor scores = per_head.matmul(unembed);  // [head]
    for (int64_t head = 0; head < scores.size(0); ++head) {
      fmt::print("  L{}H{} {:+.3f}\n", layer, head, scores[head].item<double>());
    }
  }
  return 0;
}
