// The logic paper's head claims (Hong et al. 2024; docs/HEADS.md), each tested on a model with
// numbers and a verdict: (1) a last-layer head attends from the answer position to QUERY when the
// linear chain is queried (> 90% in the paper) and not when the LogOp chain is (< 5%); (2) which heads
// read the facts: noising every head's output at the answer position with fact-flip pairs, when the
// flip changes which fact to cite (proof token 0) and when it changes the cited fact's truth value
// (proof token 1).
#pragma once

#include <torch/types.h>
#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <vector>

#include "patching/metrics.h"
#include "runtime/model.h"

namespace mechlens {

struct QueryAttentionClaim {
  int64_t layer = 0;                  // the last layer
  std::vector<double> linear, logop;  // per head: mean attention answer → QUERY per queried chain
  int64_t n_linear = 0, n_logop = 0;
  double linear_min = 0.9, logop_max = 0.05;  // the paper's numbers
  int64_t best_head = -1;                     // the head with the largest linear − LogOp difference
  bool holds = false;                         // some head meets both numbers
};

/// answer_to_query: [layer, head, batch] attention of the answer position on QUERY; queried_chain:
/// [batch] (0 LogOp, 1 linear).
QueryAttentionClaim query_attention_claim(const torch::Tensor& answer_to_query, const torch::Tensor& queried_chain,
                                          double linear_min = 0.9, double logop_max = 0.05);

struct FactReadingClaim {
  int64_t proof_prefix = 0;  // the proof token the pairs disagree on
  int64_t n_pairs = 0;
  double clean_metric = 0, corrupted_metric = 0;  // mean logit difference of the two runs
  torch::Tensor effect;                           // [layer, head]: normalised noising score at the answer position
};

/// Noises every head's hook_z at the answer position (the last one of every prompt) with the
/// corrupted prompts of fact-flip pairs.
FactReadingClaim fact_reading_claim(HookedTransformer& model, const PatchingInputs& pairs, int64_t proof_prefix,
                                    int64_t max_batch);

nlohmann::json logic_claims_json(const QueryAttentionClaim& query, const std::vector<FactReadingClaim>& facts);
std::string logic_claims_markdown(const QueryAttentionClaim& query, const std::vector<FactReadingClaim>& facts);

}  // namespace mechlens
