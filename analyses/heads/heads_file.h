// The `mechlens heads` result file (format "mechlens-heads", version 1; h5py-readable, labelled dims):
//   /prompts     tokens [batch, pos], answer_pos, correct, wrong [batch]
//   /detectors   label_detector [detector], scores [detector, layer, head, batch], mean [detector, layer, head]
//   /dla         head [layer, head, batch], head_by_source [layer, head, pos, batch], mlp, attn_bias
//                [layer, batch], embed, pos_embed, constant, metric [batch]   (absent for post-LN models)
//   /ablation    metric [layer, head, batch] (the ablated run's logit difference), drop [layer, head]
//                = (clean_metric − mean metric) / |clean_metric| (attribute clean_metric)
//   /logit_lens  answer_prob, answer_rank, kl_to_final [stage, batch], top_tokens, top_probs [stage, batch, k]
//   /matching    score [layer, head] (matching models)
//   /confound_scan  label_statistic, stat_layer, stat_head [stat], label_variable [variable],
//                eta2 and eta2_given_best [stat, variable], best [stat] (−1: a constant statistic)
//   /roles       report_json [1]: the labels and the numbers behind them, as heads --json writes them
// with the provenance as root attributes.
#pragma once

#include <optional>
#include <string>

#include "core/confound_scan.h"
#include "heads/head_detectors.h"
#include "heads/logit_attribution.h"
#include "store/result_file.h"
#include "tracing/knockout.h"

namespace mechlens {

struct HeadsFileContents {
  const AnswerPrompts* prompts = nullptr;
  const HeadDetection* detection = nullptr;
  std::optional<LogitAttribution> dla;
  torch::Tensor ablation_per_prompt;  // [layer, head, batch]; undefined: not run
  torch::Tensor ablation_drop;        // [layer, head]
  std::string ablation;               // "mean" or "zero"
  double clean_metric = 0;            // the unablated mean logit difference
  std::optional<LogitLens> lens;
  torch::Tensor matching_score;                         // [layer, head]; undefined: not run
  const ConfoundScan* scan = nullptr;                   // absent: not run
  std::vector<std::string> scan_statistics;             // per statistic: its name
  std::vector<std::pair<int64_t, int64_t>> scan_heads;  // per statistic: (layer, head)
  std::string report_json;
  Provenance provenance;
};

/// Writes the file atomically; throws StoreError naming it.
void write_heads_file(const std::string& path, const HeadsFileContents& contents);

}  // namespace mechlens
