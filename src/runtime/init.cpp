#include "runtime/init.h"

#include <ATen/CPUGeneratorImpl.h>
#include <torch/torch.h>

#include <cmath>

#include "util/error.h"

namespace mechlens {
namespace {

bool ends_with(const std::string& text, const std::string& suffix) {
  return text.size() >= suffix.size() && text.compare(text.size() - suffix.size(), suffix.size(), suffix) == 0;
}

}  // namespace

int64_t init_fan_in(const std::string& name, const ModelConfig& config) {
  // As the matching paper's code: token embeddings use d_vocab, positions use n_ctx.
  if (ends_with(name, "W_E")) return config.d_vocab;
  if (ends_with(name, "W_pos")) return config.n_ctx;
  if (ends_with(name, "W_O")) return config.n_heads * config.d_head;
  if (ends_with(name, "W_out")) return config.d_mlp;
  return config.d_model;  // W_Q, W_K, W_V, W_in, W_gate, W_U
}

void init_weights(torch::nn::Module& model, const ModelConfig& config) {
  torch::NoGradGuard no_grad;
  at::Generator generator = at::detail::createCPUGenerator(static_cast<uint64_t>(config.seed));
  // named_parameters() has a fixed order, so the same seed gives the same weights.
  for (auto& item : model.named_parameters()) {
    const std::string& name = item.key();
    torch::Tensor& param = item.value();
    const std::string leaf = name.substr(name.rfind('.') + 1);
    if (leaf.rfind("R_", 0) == 0) {
      // Orthogonal noise: one random orthogonal matrix per head, Q of the QR of a Gaussian matrix
      // with signs fixed by R's diagonal, so it is uniformly (Haar) distributed.
      torch::Tensor gaussian = torch::empty(param.sizes(), torch::kFloat64).normal_(0.0, 1.0, generator);
      auto [q, r] = torch::linalg_qr(gaussian);
      param.copy_(q * torch::sign(torch::diagonal(r, 0, -2, -1)).unsqueeze(-2));
      continue;
    }
    if (leaf.rfind("s_", 0) == 0) {
      param.fill_(config.orthogonal_noise_scale);
      continue;
    }
    if (name == "embed.row_norm") {
      // The rows' mean initial norm, so the shared norm starts where the free rows would
      // (embed.W_E comes first in the module, so it is drawn already).
      param.fill_(model.named_parameters()["embed.W_E"].norm(2, -1).mean().item<double>());
      continue;
    }
    if (leaf.rfind("W_", 0) != 0) {
      // Biases start at zero, norm weights at one.
      if (leaf == "w") param.fill_(1.0);
      else param.zero_();
      continue;
    }
    const double fan_in = static_cast<double>(init_fan_in(name, config));
    torch::Tensor values = torch::empty(param.sizes(), torch::kFloat32);
    if (config.init_form == InitForm::kNormal) {
      values.normal_(0.0, std::pow(fan_in, -config.init_gamma), generator);
    } else {
      const double bound = std::pow(6.0 / fan_in, config.init_gamma);
      values.uniform_(-bound, bound, generator);
    }
    param.copy_(values);
  }
}

}  // namespace mechlens
