#include "ablation/head_ablation.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <torch/torch.h>

#include <sstream>

#include "hooks/hook_names.h"
#include "util/error.h"
#include "util/parse.h"

namespace mechlens {

std::vector<HeadRef> parse_heads(const std::string& text, const ModelConfig& config) {
  std::vector<HeadRef> heads;
  std::stringstream stream(text);
  for (std::string part; std::getline(stream, part, ',');) {
    const size_t h = part.find('H');
    const bool shaped = part.size() >= 4 && part[0] == 'L' && h != std::string::npos && h > 1;
    const std::optional<int64_t> layer = shaped ? parse_int(part.substr(1, h - 1)) : std::nullopt;
    const std::string head_text = shaped ? part.substr(h + 1) : "";
    const std::optional<int64_t> head = head_text == "*" ? std::optional<int64_t>(-1) : parse_int(head_text);
    MECHLENS_CHECK(InputError, layer && head,
                   "--ablate '{}': '{}' is not a head; expected LAYERhHEAD such as L1H2 or L1H*", text, part);
    MECHLENS_CHECK(InputError, *layer >= 0 && *layer < config.n_layers,
                   "--ablate '{}': layer {} is out of range; the model has layers 0..{}", text, *layer,
                   config.n_layers - 1);
    MECHLENS_CHECK(InputError, *head >= -1 && *head < config.n_heads,
                   "--ablate '{}': head {} is out of range; the model has heads 0..{}", text, *head,
                   config.n_heads - 1);
    if (*head == -1) {
      for (int64_t i = 0; i < config.n_heads; ++i) heads.push_back({*layer, i});
    } else {
      heads.push_back({*layer, *head});
    }
  }
  MECHLENS_CHECK(InputError, !heads.empty(), "--ablate '{}' names no head", text);
  return heads;
}

std::string format_heads(const std::vector<HeadRef>& heads) {
  std::vector<std::string> parts;
  for (const HeadRef& ref : heads) parts.push_back(fmt::format("L{}H{}", ref.layer, ref.head));
  return fmt::format("{}", fmt::join(parts, ","));
}

HeadAblation parse_head_ablation(const std::string& text) {
  if (text == "zero") return HeadAblation::kZero;
  if (text == "mean") return HeadAblation::kMean;
  MECHLENS_FAIL(InputError, "--ablation-kind '{}' is unknown; expected zero or mean", text);
}

torch::Tensor mean_head_outputs(HookedTransformer& model, const std::vector<HeadRef>& heads,
                                const torch::Tensor& tokens, const torch::Tensor& lengths) {
  torch::NoGradGuard no_grad;
  std::vector<std::string> names;
  for (const HeadRef& ref : heads) names.push_back(act_name("z", ref.layer));
  ForwardOptions options;
  const torch::Tensor valid = torch::arange(tokens.size(1)).unsqueeze(0).lt(lengths.unsqueeze(1));  // [batch, pos]
  if (!valid.all().item<bool>()) options.attention_mask = valid.to(torch::kLong);
  const auto cache = model->run_with_cache(tokens, model->names_filter(names), options).second;
  const torch::Tensor weight = valid.to(model->device(), torch::kFloat32).unsqueeze(-1);  // [batch, pos, 1]
  std::vector<torch::Tensor> means;
  for (const HeadRef& ref : heads) {
    const torch::Tensor z = cache.at(act_name("z", ref.layer)).select(2, ref.head);  // [b, p, d_head]
    means.push_back((z * weight).sum(std::vector<int64_t>{0, 1}) / weight.sum());
  }
  return torch::stack(means);  // [heads, d_head]
}

HookScope ablate_heads(HookedTransformer& model, const std::vector<HeadRef>& heads, HeadAblation kind,
                       const torch::Tensor& means) {
  MECHLENS_CHECK(InputError, kind == HeadAblation::kZero || (means.defined() && means.size(0) == int64_t(heads.size())),
                 "mean ablation of {} heads needs their {} mean outputs", heads.size(), heads.size());
  HookScope scope;
  for (int64_t layer = 0; layer < model->config().n_layers; ++layer) {
    std::vector<int64_t> indices, rows;  // heads of this layer, and their rows in `means`
    for (size_t i = 0; i < heads.size(); ++i) {
      if (heads[i].layer == layer) indices.push_back(heads[i].head), rows.push_back(int64_t(i));
    }
    if (indices.empty()) continue;
    const torch::Tensor index = torch::tensor(indices, torch::kLong);
    const torch::Tensor values = kind == HeadAblation::kMean
                                     ? means.index_select(0, torch::tensor(rows, torch::kLong).to(means.device()))
                                     : torch::Tensor();  // [k, d_head]
    scope.add(model->hook_point(act_name("z", layer)),
              [index, values](const torch::Tensor& z, const HookPointImpl&) {  // z: [batch, pos, head, d_head]
                torch::Tensor out = z.clone();
                const torch::Tensor device_index = index.to(z.device());
                if (values.defined()) {
                  out.index_copy_(2, device_index, values.to(z.device()).expand({z.size(0), z.size(1), -1, -1}));
                } else {
                  out.index_fill_(2, device_index, 0.0);
                }
                return out;
              });
  }
  return scope;
}

}  // namespace mechlens
