// The logic paper's head claims (Hong et al. 2024; docs/HEADS.md), each tested on a model with
// numbers and a verdict: (1) a last-layer head attends from the answer position to QUERY when the
// linear chain is queried (> 90% in the paper) and not when the LogOp chain is (< 5%); (2) which heads
// read the facts: noising every head's output at the answer position with fact-flip pairs, when the
// flip changes which fact to cite (proof token 0) and when it changes the cited fact's truth value
// (proof token 1); (3) a linear probe reads the linear chain's start from the answer position after two
// layers (> 97% in the paper); (4) steering along the routing direction at QUERY switches the chain.
#pragma once

#include <torch/types.h>
#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <vector>

#include "patching/metrics.h"
#include "runtime/model.h"
#include "tracing/knockout.h"  // AnswerPrompts

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

struct StartProbeClaim {
  int64_t n_prompts = 0, classes = 0;
  std::vector<double> accuracy;  // per residual stage (entering layer 0..L-1, after the last): held-out accuracy
  double majority = 0;           // the majority-class baseline on the same split
  int64_t stage = 2;             // the stage the paper's claim is about: after two layers
  double threshold = 0.97;       // the paper's number
  bool holds = false;
};

/// A linear probe per residual stage at the answer position for the linear chain's start (the first
/// proof token of linear-chain queries): tokens [batch, pos] of linear-queried problems, start [batch].
StartProbeClaim start_probe_claim(HookedTransformer& model, const torch::Tensor& tokens, const torch::Tensor& start,
                                  int64_t max_batch, uint64_t seed, double threshold = 0.97);

struct SteeringClaim {
  int64_t layer = 0;                 // steered: blocks.{layer}.hook_resid_pre at QUERY
  std::vector<double> alphas;        // along mean(linear queried) − mean(LogOp queried)
  std::vector<double> linear_flips;  // per α: share of linear-chain queries answered with the other chain's token
  std::vector<double> logop_flips;   // per α: the same for LogOp-chain queries
};

/// Steers the residual stream entering `layer` at each prompt's QUERY position along the difference of
/// the two chain types' mean activations there, and counts the answers that switch to the other chain's
/// first token (prompts.wrong, the query-flip counterfactual's answer). The paper gives no number.
SteeringClaim routing_steering_claim(HookedTransformer& model, const AnswerPrompts& prompts,
                                     const torch::Tensor& query_positions, const torch::Tensor& queried_chain,
                                     int64_t layer, const std::vector<double>& alphas, int64_t max_batch);

struct LogicClaims {
  QueryAttentionClaim query;
  std::vector<FactReadingClaim> facts;
  StartProbeClaim probe;
  std::vector<SteeringClaim> steering;
};

nlohmann::json logic_claims_json(const LogicClaims& claims);
std::string logic_claims_markdown(const LogicClaims& claims);

}  // namespace mechlens
