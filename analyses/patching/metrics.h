// Patching inputs (clean/corrupted prompt pairs and the tokens the metric compares) and the metrics
// read from the logits at each prompt's answer position. Formulas: docs/PATCHING.md.
#pragma once

#include <torch/types.h>  // torch::Tensor

#include <string>

#include "runtime/config.h"

namespace mechlens {

struct PatchingInputs {
  torch::Tensor clean;       // [batch, pos] int64
  torch::Tensor corrupted;   // [batch, pos] int64, same shape
  torch::Tensor answer_pos;  // [batch] int64: absolute position whose logits the metric reads
  // Both undefined: the default answers, each run's own top token at its answer position, which
  // PatchingSession fills in from its set-up runs (no extra forward passes).
  torch::Tensor correct;  // [batch] int64: the clean run's answer token
  torch::Tensor wrong;    // [batch] int64: the corrupted run's answer token

  int64_t batch() const { return clean.size(0); }
  int64_t positions() const { return clean.size(1); }
  /// Every defined tensor moved to `device` (where the model runs); no copy when already there.
  void move_to(const torch::Device& device) {
    for (torch::Tensor* t : {&clean, &corrupted, &answer_pos, &correct, &wrong})
      if (t->defined()) *t = t->to(device);
  }
};

/// Throws InputError naming the field and the expected shape or range when the inputs do not fit
/// each other or the model. correct and wrong are both given, or both left undefined (defaults).
void validate_inputs(const PatchingInputs& inputs, const ModelConfig& config);

// cosine: similarity of the output at the answer position (logits, or an encoder's hidden state)
// with the clean run's; 1 = the clean output. The metric of encoders without an unembedding.
enum class MetricKind { kLogitDiff, kProb, kKl, kCosine };
enum class Direction { kDenoising, kNoising };

MetricKind parse_metric(const std::string& text);    // logit-diff | prob | kl | cosine
Direction parse_direction(const std::string& text);  // denoising | noising
std::string metric_name(MetricKind kind);
std::string direction_name(Direction direction);

/// Per-prompt metric from answer-position logits. The batch's prompts repeat every `batch` rows, so
/// one call scores many patched runs at once.
class Metric {
 public:
  Metric() = default;
  /// clean_logits: [batch, d_vocab] at the answer positions of the clean run (KL and cosine
  /// reference; [batch, d_model] for an encoder without an unembedding).
  Metric(MetricKind kind, const PatchingInputs& inputs, const torch::Tensor& clean_logits);

  /// logits [runs * batch, d_vocab] -> per-run batch mean [runs]
  torch::Tensor per_run(const torch::Tensor& logits) const;
  /// logits [rows, d_vocab] of the prompts `prompts` [rows] (int64) -> [rows]
  torch::Tensor per_prompt(const torch::Tensor& logits, const torch::Tensor& prompts) const;
  /// logits [runs * batch, d_vocab], the prompts repeating every batch rows -> [runs * batch]
  torch::Tensor per_prompt(const torch::Tensor& logits) const;
  /// Differentiable batch mean for one run: logits [batch, d_vocab] -> scalar.
  torch::Tensor mean(const torch::Tensor& logits) const;
  MetricKind kind() const { return kind_; }

 private:
  MetricKind kind_ = MetricKind::kLogitDiff;
  int64_t batch_ = 1;
  torch::Tensor correct_, wrong_;  // [batch]
  torch::Tensor clean_log_probs_;  // [batch, d_vocab]
  torch::Tensor clean_unit_;       // [batch, d_output]: the clean output scaled to unit length
};

/// Normalised score of patched metric values: denoising (m - corrupted) / (clean - corrupted);
/// noising and ablation (m - clean) / (corrupted - clean), the form Hong et al. 2024 report.
torch::Tensor normalise(const torch::Tensor& metric, Direction direction, double clean, double corrupted);

}  // namespace mechlens
