#include "heads/logic_claims.h"

#include <fmt/format.h>
#include <torch/torch.h>

#include <algorithm>

#include "engine/activations_at.h"
#include "heads/probes.h"
#include "heads/steering.h"
#include "patching/components.h"
#include "patching/patching.h"
#include "util/error.h"

namespace mechlens {
namespace {

// Heads ranked by effect, largest first: (layer, head, effect).
std::vector<std::tuple<int64_t, int64_t, double>> ranked(const torch::Tensor& effect) {
  std::vector<std::tuple<int64_t, int64_t, double>> out;
  for (int64_t l = 0; l < effect.size(0); ++l) {
    for (int64_t h = 0; h < effect.size(1); ++h) out.emplace_back(l, h, effect[l][h].item<double>());
  }
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return std::get<2>(a) > std::get<2>(b); });
  return out;
}

std::string step_name(int64_t proof_prefix) {
  return proof_prefix == 0 ? "which fact to cite (proof token 0)" : "the cited fact's truth value (proof token 1)";
}

}  // namespace

QueryAttentionClaim query_attention_claim(const torch::Tensor& answer_to_query, const torch::Tensor& queried_chain,
                                          double linear_min, double logop_max) {
  MECHLENS_CHECK(
      InputError,
      answer_to_query.dim() == 3 && queried_chain.dim() == 1 && answer_to_query.size(2) == queried_chain.size(0),
      "query_attention_claim: expected [layer, head, batch] scores and [batch] chains");
  QueryAttentionClaim claim;
  claim.linear_min = linear_min;
  claim.logop_max = logop_max;
  claim.layer = answer_to_query.size(0) - 1;
  const torch::Tensor last = answer_to_query[claim.layer].to(torch::kFloat64);  // [head, batch]
  const torch::Tensor linear = queried_chain.eq(1), logop = queried_chain.eq(0);
  claim.n_linear = linear.sum().item<int64_t>();
  claim.n_logop = logop.sum().item<int64_t>();
  double best = -2;
  for (int64_t h = 0; h < last.size(0); ++h) {
    const double on_linear = claim.n_linear ? last[h].masked_select(linear).mean().item<double>() : std::nan("");
    const double on_logop = claim.n_logop ? last[h].masked_select(logop).mean().item<double>() : std::nan("");
    claim.linear.push_back(on_linear);
    claim.logop.push_back(on_logop);
    if (on_linear - on_logop > best) {
      best = on_linear - on_logop;
      claim.best_head = h;
    }
    claim.holds = claim.holds || (on_linear > linear_min && on_logop < logop_max);
  }
  return claim;
}

FactReadingClaim fact_reading_claim(HookedTransformer& model, const PatchingInputs& pairs, int64_t proof_prefix,
                                    int64_t max_batch) {
  FactReadingClaim claim;
  claim.proof_prefix = proof_prefix;
  claim.n_pairs = pairs.batch();
  PatchingSession session(model, pairs, MetricKind::kLogitDiff);
  PatchOptions options;
  options.direction = Direction::kNoising;
  options.positions = {pairs.positions() - 1};
  options.max_batch = max_batch;
  const PatchResult result = session.run(parse_components("head_z", model->config()).front(), options);
  claim.effect = result.normalised.select(1, 0).to(torch::kFloat64);  // [layer, pos = 1, head] -> [layer, head]
  claim.clean_metric = result.clean_metric;
  claim.corrupted_metric = result.corrupted_metric;
  return claim;
}

StartProbeClaim start_probe_claim(HookedTransformer& model, const torch::Tensor& tokens, const torch::Tensor& start,
                                  int64_t max_batch, uint64_t seed, double threshold) {
  StartProbeClaim claim;
  claim.threshold = threshold;
  claim.n_prompts = tokens.size(0);
  const int64_t n_layers = model->config().n_layers;
  claim.stage = std::min<int64_t>(2, n_layers);
  // Labels 0..k-1 for the start variables that occur.
  const auto [values, labels] = at::_unique(start.to(torch::kLong), /*sorted=*/true, /*return_inverse=*/true);
  claim.classes = values.size(0);
  const torch::Tensor positions = torch::full({tokens.size(0)}, tokens.size(1) - 1, torch::kLong);
  const std::vector<torch::Tensor> stages =
      activations_at(model, tokens, positions, residual_stage_hooks(n_layers), max_batch);
  ProbeOptions options;
  options.seed = seed;
  const ProbeSplit split = probe_split(claim.n_prompts, options.train_share, seed);
  claim.majority = majority_baseline(labels, split);
  for (const torch::Tensor& features : stages) {
    claim.accuracy.push_back(fit_probe(features, labels, split, options).test_accuracy);
  }
  claim.holds = claim.accuracy[size_t(claim.stage)] > threshold;
  return claim;
}

SteeringClaim routing_steering_claim(HookedTransformer& model, const AnswerPrompts& prompts,
                                     const torch::Tensor& query_positions, const torch::Tensor& queried_chain,
                                     int64_t layer, const std::vector<double>& alphas, int64_t max_batch) {
  SteeringClaim claim;
  claim.layer = layer;
  claim.alphas = alphas;
  MECHLENS_CHECK(InputError, prompts.wrong.defined(), "routing_steering_claim needs the counterfactual answers");
  const torch::Tensor resid = residual_entering(model, prompts.tokens, query_positions, layer, max_batch);
  const torch::Tensor chains = queried_chain.to(torch::kLong);
  const SteeringResult result =
      steer(model, prompts, mean_difference(resid, chains), steering_at(query_positions, layer, alphas, max_batch));
  for (size_t a = 0; a < alphas.size(); ++a) {
    const torch::Tensor flips = result.to_wrong[int64_t(a)].to(torch::kFloat64);
    claim.linear_flips.push_back(flips.masked_select(chains.eq(1)).mean().item<double>());
    claim.logop_flips.push_back(flips.masked_select(chains.eq(0)).mean().item<double>());
  }
  return claim;
}

nlohmann::json logic_claims_json(const LogicClaims& claims) {
  const QueryAttentionClaim& query = claims.query;
  const std::vector<FactReadingClaim>& facts = claims.facts;
  nlohmann::json out;
  out["query_attention"] = {
      {"claim", fmt::format("a layer-{} head attends from the answer position to QUERY > {} when the "
                            "linear chain is queried and < {} when the LogOp chain is",
                            query.layer, query.linear_min, query.logop_max)},
      {"layer", query.layer},
      {"linear", query.linear},
      {"logop", query.logop},
      {"n_linear", query.n_linear},
      {"n_logop", query.n_logop},
      {"holds", query.holds}};
  for (const FactReadingClaim& fact : facts) {
    nlohmann::json entry{{"proof_prefix", fact.proof_prefix},
                         {"changes", step_name(fact.proof_prefix)},
                         {"n_pairs", fact.n_pairs},
                         {"clean_metric", fact.clean_metric},
                         {"corrupted_metric", fact.corrupted_metric}};
    for (const auto& [l, h, value] : ranked(fact.effect)) {
      entry["heads"].push_back({{"layer", l}, {"head", h}, {"effect", value}});
    }
    out["fact_reading"].push_back(entry);
  }
  const StartProbeClaim& probe = claims.probe;
  out["start_probe"] = {{"claim", fmt::format("a linear probe at the answer position reads the linear chain's start "
                                              "after {} layers with accuracy > {}",
                                              probe.stage, probe.threshold)},
                        {"accuracy_by_stage", probe.accuracy},
                        {"stage", probe.stage},
                        {"majority", probe.majority},
                        {"classes", probe.classes},
                        {"n_prompts", probe.n_prompts},
                        {"holds", probe.holds}};
  for (const SteeringClaim& steering : claims.steering) {
    out["routing_steering"].push_back({{"layer", steering.layer},
                                       {"alphas", steering.alphas},
                                       {"linear_switched", steering.linear_flips},
                                       {"logop_switched", steering.logop_flips}});
  }
  return out;
}

std::string logic_claims_markdown(const LogicClaims& claims) {
  const QueryAttentionClaim& query = claims.query;
  const std::vector<FactReadingClaim>& facts = claims.facts;
  std::string out = "\n## The logic paper's claims\n\n";
  out += fmt::format(
      "**Attention on QUERY in the last layer** (layer {}, counting from 0; the paper's layer {}) from the answer "
      "position (paper: > {:.0f}% when the linear chain is queried, < {:.0f}% when the LogOp chain is): **{}**."
      "\n\n| head | linear queried (n={}) | LogOp queried (n={}) |\n|---|---|---|\n",
      query.layer, query.layer + 1, 100 * query.linear_min, 100 * query.logop_max,
      query.holds ? "holds" : "does not hold", query.n_linear, query.n_logop);
  for (size_t h = 0; h < query.linear.size(); ++h) {
    out += fmt::format("| L{}H{} | {:.3f} | {:.3f} |\n", query.layer, h, query.linear[h], query.logop[h]);
  }
  for (const FactReadingClaim& fact : facts) {
    out += fmt::format(
        "\n**Heads that read the facts: {}** — fact-flip pairs (n={}, proof_prefix={}), each head's output "
        "at the answer position noised (share of the logit difference {:.2f} → {:.2f} it moves):\n\n",
        step_name(fact.proof_prefix), fact.n_pairs, fact.proof_prefix, fact.clean_metric, fact.corrupted_metric);
    int shown = 0;
    for (const auto& [l, h, value] : ranked(fact.effect)) {
      if (shown++ == 4) break;
      out += fmt::format("- L{}H{}: {:+.3f}\n", l, h, value);
    }
  }
  const StartProbeClaim& probe = claims.probe;
  if (!probe.accuracy.empty()) {
    out += fmt::format(
        "\n**The linear chain's start, probed at the answer position** (linear queries, n={}, {} classes; held-out "
        "accuracy of a linear probe per residual stage; paper: > {:.0f}% after {} layers): **{}**.\n\n",
        probe.n_prompts, probe.classes, 100 * probe.threshold, probe.stage, probe.holds ? "holds" : "does not hold");
    for (size_t s = 0; s < probe.accuracy.size(); ++s) {
      out += fmt::format("- {}: {:.3f}\n",
                         s + 1 < probe.accuracy.size() ? fmt::format("before layer {}", s) : "after the last layer",
                         probe.accuracy[s]);
    }
    out += fmt::format("- majority baseline: {:.3f}\n", probe.majority);
  }
  for (const SteeringClaim& steering : claims.steering) {
    out += fmt::format(
        "\n**Steering the routing direction** (mean of linear-queried minus LogOp-queried prompts at QUERY, "
        "entering layer {}; the paper reports that it flips the chain, with no number): share of answers "
        "switched to the other chain's first token\n\n| α | linear queried | LogOp queried |\n|---|---|---|\n",
        steering.layer);
    for (size_t a = 0; a < steering.alphas.size(); ++a) {
      out += fmt::format("| {:g} | {:.3f} | {:.3f} |\n", steering.alphas[a], steering.linear_flips[a],
                         steering.logop_flips[a]);
    }
  }
  return out;
}

}  // namespace mechlens
