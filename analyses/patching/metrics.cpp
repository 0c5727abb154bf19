#include "patching/metrics.h"

#include <torch/torch.h>

#include "util/error.h"
#include "util/shape_format.h"

namespace mechlens {

void validate_inputs(const PatchingInputs& inputs, const ModelConfig& config) {
  MECHLENS_CHECK(InputError, inputs.clean.defined() && inputs.clean.dim() == 2,
                 "clean prompts must be [batch, pos] token ids");
  MECHLENS_CHECK(InputError, inputs.corrupted.defined() && inputs.corrupted.sizes() == inputs.clean.sizes(),
                 "corrupted prompts have shape {}, expected the clean prompts' shape {} (equal counts and lengths)",
                 inputs.corrupted.defined() ? format_shape(inputs.corrupted.sizes()) : "none",
                 format_shape(inputs.clean.sizes()));
  const int64_t batch = inputs.batch(), pos = inputs.positions();
  MECHLENS_CHECK(InputError, batch >= 1, "no prompts to patch");
  const bool default_answers = !inputs.correct.defined() && !inputs.wrong.defined();
  const std::pair<const char*, const torch::Tensor*> per_prompt[] = {
      {"answer_pos", &inputs.answer_pos}, {"correct", &inputs.correct}, {"wrong", &inputs.wrong}};
  for (const auto& [field, tensor] : per_prompt) {
    if (default_answers && tensor != &inputs.answer_pos) continue;
    MECHLENS_CHECK(InputError, tensor->defined() && tensor->dim() == 1 && tensor->size(0) == batch,
                   "{} must hold one value per prompt [batch={}], got {}", field, batch,
                   tensor->defined() ? format_shape(tensor->sizes()) : "none");
  }
  MECHLENS_CHECK(InputError, inputs.answer_pos.ge(0).logical_and(inputs.answer_pos.lt(pos)).all().item<bool>(),
                 "answer_pos must lie in 0..{} (the prompts have {} tokens)", pos - 1, pos);
  if (default_answers) return;
  for (const auto& [field, tensor] : {std::pair{"correct", &inputs.correct}, std::pair{"wrong", &inputs.wrong}}) {
    MECHLENS_CHECK(InputError, tensor->ge(0).logical_and(tensor->lt(config.d_vocab)).all().item<bool>(),
                   "{} answer tokens must be ids in 0..{} (d_vocab={})", field, config.d_vocab - 1, config.d_vocab);
  }
}

MetricKind parse_metric(const std::string& text) {
  if (text == "logit-diff") return MetricKind::kLogitDiff;
  if (text == "prob") return MetricKind::kProb;
  if (text == "kl") return MetricKind::kKl;
  if (text == "cosine") return MetricKind::kCosine;
  MECHLENS_FAIL(InputError, "unknown metric '{}'; expected logit-diff, prob, kl or cosine", text);
}

Direction parse_direction(const std::string& text) {
  if (text == "denoising") return Direction::kDenoising;
  if (text == "noising") return Direction::kNoising;
  MECHLENS_FAIL(InputError, "unknown direction '{}'; expected denoising or noising", text);
}

std::string metric_name(MetricKind kind) {
  switch (kind) {
    case MetricKind::kLogitDiff:
      return "logit-diff";
    case MetricKind::kProb:
      return "prob";
    case MetricKind::kKl:
      return "kl";
    case MetricKind::kCosine:
      return "cosine";
  }
  return "?";
}

std::string direction_name(Direction direction) { return direction == Direction::kDenoising ? "denoising" : "noising"; }

Metric::Metric(MetricKind kind, const PatchingInputs& inputs, const torch::Tensor& clean_logits)
    : kind_(kind),
      batch_(inputs.batch()),
      correct_(inputs.correct),
      wrong_(inputs.wrong),
      clean_log_probs_(torch::log_softmax(clean_logits.detach(), -1)),
      clean_unit_(torch::nn::functional::normalize(clean_logits.detach(),
                                                   torch::nn::functional::NormalizeFuncOptions().dim(-1))) {}

torch::Tensor Metric::per_prompt(const torch::Tensor& logits, const torch::Tensor& prompts) const {
  switch (kind_) {
    case MetricKind::kLogitDiff: {
      torch::Tensor pair = torch::stack({correct_.index_select(0, prompts), wrong_.index_select(0, prompts)}, 1);
      torch::Tensor picked = logits.gather(1, pair);  // [rows, 2]
      return picked.select(1, 0) - picked.select(1, 1);
    }
    case MetricKind::kProb:
      return torch::softmax(logits, -1).gather(1, correct_.index_select(0, prompts).unsqueeze(1)).squeeze(1);
    case MetricKind::kKl: {
      // KL(clean || patched) = sum_v p_clean (log p_clean - log p_patched)
      torch::Tensor clean = clean_log_probs_.index_select(0, prompts);
      return (clean.exp() * (clean - torch::log_softmax(logits, -1))).sum(-1);
    }
    case MetricKind::kCosine: {
      torch::Tensor unit =
          torch::nn::functional::normalize(logits, torch::nn::functional::NormalizeFuncOptions().dim(-1));
      return (unit * clean_unit_.index_select(0, prompts)).sum(-1);
    }
  }
  return {};
}

torch::Tensor Metric::per_prompt(const torch::Tensor& logits) const {
  return per_prompt(logits, torch::arange(logits.size(0), correct_.options()).remainder(batch_));
}

torch::Tensor Metric::per_run(const torch::Tensor& logits) const {
  return per_prompt(logits).view({-1, batch_}).mean(1);
}

torch::Tensor Metric::mean(const torch::Tensor& logits) const { return per_prompt(logits).mean(); }

torch::Tensor normalise(const torch::Tensor& metric, Direction direction, double clean, double corrupted) {
  if (direction == Direction::kDenoising) return (metric - corrupted) / (clean - corrupted);
  return (metric - clean) / (corrupted - clean);
}

}  // namespace mechlens
