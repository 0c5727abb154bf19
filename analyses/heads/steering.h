// Steering: α · direction added to the residual stream entering a layer (blocks.L.hook_resid_pre) at
// chosen positions of every prompt, for a sweep of α, scored at each prompt's answer. The sweep runs
// through the shared plan executor (each α one intervened run; rows start at layer L from the cached
// run and recompute only positions from the first steered one); α = 0 rows are skipped, keeping the
// unsteered scores exactly. `steer_naive` is the reference: one full forward per α.
#pragma once

#include <torch/types.h>

#include <cstdint>
#include <utility>
#include <vector>

#include "runtime/model.h"
#include "tracing/knockout.h"  // AnswerPrompts

namespace mechlens {

struct SteeringOptions {
  int64_t layer = 0;                                   // steer blocks.{layer}.hook_resid_pre
  std::vector<double> alphas;                          // the sweep
  std::vector<std::pair<int64_t, int64_t>> positions;  // per prompt: [begin, end) steered
  int64_t max_batch = 512;                             // rows per forward
  bool progress = false;
};

struct SteeringResult {
  std::vector<double> alphas;
  torch::Tensor prob;        // [alpha, batch]: probability of the correct answer
  torch::Tensor logit_diff;  // [alpha, batch]: correct − wrong logit
  torch::Tensor correct;     // [alpha, batch]: 1 where the correct answer is the top token
  torch::Tensor to_wrong;    // [alpha, batch]: 1 where `wrong` (the counterfactual's answer) is the top token
};

/// Throws InputError naming the problem for a direction that is not [d_model], a layer out of range,
/// or positions that do not fit the prompts.
SteeringResult steer(HookedTransformer& model, const AnswerPrompts& prompts, const torch::Tensor& direction,
                     const SteeringOptions& options);
SteeringResult steer_naive(HookedTransformer& model, const AnswerPrompts& prompts, const torch::Tensor& direction,
                           const SteeringOptions& options);

/// Options that steer one position per prompt: positions long [batch] -> spans [p, p + 1).
SteeringOptions steering_at(const torch::Tensor& positions, int64_t layer, std::vector<double> alphas,
                            int64_t max_batch);

/// The residual stream entering `layer` (blocks.L.hook_resid_pre) at positions[b] of every prompt:
/// [batch, d_model]; the forwards stop there.
torch::Tensor residual_entering(HookedTransformer& model, const torch::Tensor& tokens, const torch::Tensor& positions,
                                int64_t layer, int64_t max_batch);

/// The difference of the mean activation of the prompts labelled 1 and those labelled 0 (labels long
/// [batch] of 0/1; activations [batch, d_model]): a steering direction from two groups.
torch::Tensor mean_difference(const torch::Tensor& activations, const torch::Tensor& labels);

/// A linear probe's direction for the same two groups: the gradient of its logit difference (class 1 −
/// class 0) with respect to the raw activation, (w1 − w0) / feature scale, rescaled to the length of
/// mean_difference so that α means the same distance along either direction. `test_accuracy` (optional)
/// receives the probe's held-out accuracy (seeded 80/20 split).
torch::Tensor probe_direction(const torch::Tensor& activations, const torch::Tensor& labels, uint64_t seed,
                              double* test_accuracy = nullptr);

}  // namespace mechlens
