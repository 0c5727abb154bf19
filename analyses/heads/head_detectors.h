// Head detectors with TransformerLens's `detect_head` semantics: how much of a head's attention
// pattern matches a detection pattern, per prompt, for every layer and head in one batched forward.
//   mul: Σ A·D / Σ A over the rows the pattern asks about (in [0, 1]; D of 0s and 1s)
//   abs: 1 − Σ |A − D| / (number of those rows)  (in [−1, 1]; 1 = the pattern exactly)
// with the attention on position 0 and/or on the query itself left out when asked (exclude_bos,
// exclude_current_token), and per-prompt scores averaged over prompts, as TransformerLens does for a
// list of sequences. TransformerLens's detectors ask about every row; the span detectors (a task's
// answer position → a named span) ask about their destination rows only, where the whole-pattern
// denominator would count rows the detector says nothing about (ours). TransformerLens rounds `abs`
// scores to 3 decimals; mechlens does not.
#pragma once

#include <torch/types.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "runtime/model.h"

namespace mechlens {

enum class DetectionMeasure { kMul, kAbs };

/// "mul" or "abs"; throws InputError naming `what` otherwise.
DetectionMeasure parse_detection_measure(const std::string& text, const std::string& what);

/// What a head of this kind attends to, per prompt.
struct DetectionPattern {
  std::string name;      // "previous_token", "induction", "answer->queried_rule"
  torch::Tensor target;  // float [batch, dest, src], lower triangular
  torch::Tensor rows;    // bool [batch, dest]: the destinations the score reads
};

/// TransformerLens's previous-token pattern: each position attends to the one before it.
DetectionPattern previous_token_pattern(const torch::Tensor& tokens);
/// Each position attends to earlier positions holding the same token.
DetectionPattern duplicate_token_pattern(const torch::Tensor& tokens);
/// Each position attends to the token after an earlier copy of itself.
DetectionPattern induction_pattern(const torch::Tensor& tokens);
/// Every position attends to position 0 (a BOS token, or an attention sink).
DetectionPattern bos_pattern(const torch::Tensor& tokens);
/// Destination positions attend to source positions, per prompt ([begin, end) ranges; an empty
/// destination range leaves that prompt out of the mean). Sources after a destination are dropped.
DetectionPattern span_pattern(const std::string& name, const std::vector<std::pair<int64_t, int64_t>>& destinations,
                              const std::vector<std::pair<int64_t, int64_t>>& sources, int64_t n_pos);

struct DetectorOptions {
  DetectionMeasure measure = DetectionMeasure::kMul;
  bool exclude_bos = false;
  bool exclude_current_token = false;
  int64_t max_batch = 64;
  bool progress = false;
};

struct HeadDetection {
  std::vector<std::string> names;  // one per pattern
  torch::Tensor per_prompt;        // [detector, layer, head, batch]; NaN where a prompt has no rows
  torch::Tensor mean;              // [detector, layer, head]: mean over prompts with rows
};

/// Scores every head against every pattern in forwards of up to max_batch prompts; patterns are
/// reduced inside the pattern hooks (none is stored). Throws InputError when a pattern's shape does
/// not fit `tokens` ([batch, pos], equal lengths).
HeadDetection detect_heads(HookedTransformer& model, const torch::Tensor& tokens,
                           const std::vector<DetectionPattern>& patterns, const DetectorOptions& options);

}  // namespace mechlens
