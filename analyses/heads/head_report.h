// Naming heads from evidence: every head's pattern scores (detectors), what it writes to the answer
// (direct logit attribution), what the answer loses without it (mean ablation), and, for matching
// models, its matching score — turned into labels by thresholds, each label tagged with the kind of
// evidence behind it (pattern, weight, causal). A head whose labels rest on pattern evidence alone is
// marked so: an attention pattern says where a head looks, not that the model uses what it reads.
#pragma once

#include <torch/types.h>
#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "core/confound_scan.h"

namespace mechlens {

struct HeadEvidence {
  int64_t n_layers = 0, n_heads = 0, n_prompts = 0;
  std::vector<std::string> detectors;  // pattern names
  torch::Tensor detector_mean;         // [detector, layer, head]
  torch::Tensor dla_mean;              // [layer, head]: mean direct logit attribution (undefined: not run)
  double metric_mean = 0;              // the mean logit difference DLA splits
  std::string dla_note;                // why DLA did not run, if it did not
  torch::Tensor ablation_drop;   // [layer, head]: (clean − ablated) / clean logit difference (undefined: not run)
  std::string ablation;          // "mean" or "zero"
  torch::Tensor matching_score;  // [layer, head]: hop layers' matching scores; NaN elsewhere (undefined: not run)
  // The confound scan (optional): per-head per-prompt statistics and how the task's variables explain them.
  std::vector<std::string> scan_statistics;             // "answer->query", "dla", "ablation effect"
  std::vector<std::pair<int64_t, int64_t>> scan_heads;  // (layer, head) of each statistic
  ConfoundScan scan;
};

struct HeadThresholds {
  double pattern = 0.5;      // detector score (mul) for a pattern label
  double dla_share = 0.2;    // |DLA| as a share of the mean logit difference for "writes/suppresses the answer"
  double ablation = 0.2;     // normalised drop of the logit difference for "needed"
  double matching = 0.5;     // matching score for "matches"
  double scan_effect = 0.1;  // η² a variable needs to be reported by the confound scan
};

struct HeadLabel {
  std::string name;  // "previous_token", "answer→queried_rule", "writes the answer", "needed", "matches"
  std::string kind;  // "pattern", "weight", "attribution" (DLA: a direct effect, not an intervention) or "causal"
  double value = 0;  // the number behind it
};

struct HeadRole {
  int64_t layer = 0, head = 0;
  std::vector<HeadLabel> labels;
  bool pattern_only() const;  // labels, and all of them pattern evidence
};

/// One entry per head, in layer-major order.
std::vector<HeadRole> name_heads(const HeadEvidence& evidence, const HeadThresholds& thresholds);

/// The report for tools: thresholds, every head's numbers and labels.
nlohmann::json heads_json(const HeadEvidence& evidence, const HeadThresholds& thresholds,
                          const std::vector<HeadRole>& roles);

/// The report for people: a Markdown table of labels with their evidence, then the numbers.
std::string heads_markdown(const HeadEvidence& evidence, const HeadThresholds& thresholds,
                           const std::vector<HeadRole>& roles, const std::string& title);

}  // namespace mechlens
