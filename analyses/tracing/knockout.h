// Attention knock-out (Geva et al. 2023, "Dissecting Recall of Factual Associations"): block the
// destination positions (by default each prompt's answer position) from attending to a set of
// source positions, for one head, every head of a layer, or every head of a window of k layers,
// by setting the pre-softmax scores to -inf (blocks.L.attn.hook_attn_scores), and measure what the
// prediction loses. A grid of (window, head, source set) knock-outs runs through the batched plan
// executor: many knocked-out runs per forward pass, each starting at its window's first layer from
// the cached clean run and recomputing only the destination positions onwards.
//
// When a knock-out blocks every source a destination can see, the head's softmax has no finite
// score; its attention there is taken as zero (the head writes only its bias), not NaN.
#pragma once

#include <torch/types.h>  // torch::Tensor

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "core/selection.h"
#include "engine/shared_plan.h"
#include "runtime/model.h"

namespace mechlens {

/// Prompts with the answer each should predict.
struct AnswerPrompts {
  torch::Tensor tokens;      // long [batch, pos]
  torch::Tensor answer_pos;  // long [batch]: the position whose logits predict the answer
  torch::Tensor correct;     // long [batch]: the answer token
  torch::Tensor wrong;       // long [batch]: a contrast token for the logit difference; undefined: none

  int64_t batch() const { return tokens.size(0); }
  int64_t positions() const { return tokens.size(1); }
  /// Every defined tensor moved to `device` (where the model runs); no copy when already there.
  void move_to(const torch::Device& device) {
    for (torch::Tensor* t : {&tokens, &answer_pos, &correct, &wrong})
      if (t->defined()) *t = t->to(device);
  }
};

/// Throws InputError naming the field when shapes or token ids do not fit each other or the model.
void validate_answer_prompts(const AnswerPrompts& prompts, const ModelConfig& config);

/// Scores of answer logits [rows, d_vocab] for the prompts `prompt_of_row` (long [rows]): the correct
/// token's probability, the logit difference to `wrong` (0 without it), and whether the correct token
/// is the top one — each float [rows] on the CPU.
std::vector<torch::Tensor> score_answers(const AnswerPrompts& prompts, const torch::Tensor& logits,
                                         const torch::Tensor& prompt_of_row);

/// Source positions one knock-out blocks, per prompt.
struct SourceSet {
  std::string name;       // "pos 3", "query", "all but query"
  torch::Tensor blocked;  // bool [batch, pos], on the host
  /// Destinations [begin, end) per prompt for this set alone (an edge dest -> source); empty: the
  /// options' destinations.
  std::vector<std::pair<int64_t, int64_t>> destinations;
};

/// Position `pos` in every prompt.
SourceSet source_at_position(int64_t pos, int64_t batch, int64_t n_pos);
/// The span's positions in each prompt, or (all_but) every other position.
SourceSet source_from_span(const PositionSpan& span, int64_t n_pos, bool all_but = false);

/// A control for the knock-out of an edge into `destinations` (per prompt [begin, end)): in each
/// prompt one random source (seeded; drawn in prompt order) among the positions before the
/// destination's end that are neither a destination nor `excluded` (bool [batch, pos]). A prompt with
/// no destination or no candidate blocks nothing.
SourceSet random_control_source(std::string name, const std::vector<std::pair<int64_t, int64_t>>& destinations,
                                const torch::Tensor& excluded, uint64_t seed);

struct KnockoutOptions {
  std::vector<int64_t> layers;  // first layer of each window; empty: every start 0..n_layers - window
  int64_t window = 1;           // layers knocked out together: [layer, layer + window) clipped to the model
  bool per_head = false;        // one run per head (in heads); else every head of the window at once
  std::vector<int64_t> heads;   // with per_head; empty: every head
  std::vector<SourceSet> sources;
  /// Destination positions [begin, end) per prompt; empty: each prompt's answer position.
  std::vector<std::pair<int64_t, int64_t>> destinations;
  int64_t max_batch = 512;     // rows (runs x prompts) per forward
  bool skip_unchanged = true;  // skip rows where no blocked source is visible to a destination (exact)
  bool progress = false;
  /// The ranks sharing the grid and where finished shards are saved (engine/shared_plan.h);
  /// default: this process alone, nothing saved.
  PlanSharing sharing;
};

struct KnockoutResult {
  std::vector<std::string> dims;             // {"layer", "source"} or {"layer", "head", "source"}
  std::vector<std::vector<int64_t>> labels;  // per dim: window start, head, source-set index
  std::vector<std::string> source_names;
  int64_t window = 1;
  // Per knocked-out run and prompt [dims..., batch]: answer probability, logit difference (correct
  // minus wrong; undefined without a contrast token) and whether the top token is the answer (0/1).
  torch::Tensor prob, logit_diff, correct;
  torch::Tensor base_prob, base_logit_diff, base_correct;  // [batch]: the run without knock-out
  // Over prompts [dims...]: mean relative change of the answer probability, (p - p0) / p0; mean
  // change of the logit difference; accuracy.
  torch::Tensor relative_prob_change, logit_diff_change, accuracy;
  double base_accuracy = 0;
  int64_t rows_computed = 0;  // rows the batched sweep recomputed (skipped rows are exact copies)
  double flops = 0;
  std::string method = "exact";  // "exact" (batched) or "naive" (one full forward per run)
};

class KnockoutSession {
 public:
  /// Runs the prompts once, caching what every knock-out starts from.
  KnockoutSession(HookedTransformer model, AnswerPrompts prompts);

  /// The batched grid (the plan executor).
  KnockoutResult run(const KnockoutOptions& options);
  /// Reference: one full forward per knocked-out run.
  KnockoutResult run_naive(const KnockoutOptions& options);

  const AnswerPrompts& prompts() const { return prompts_; }
  HookedTransformer& model() { return model_; }

 private:
  struct Grid;
  Grid grid(const KnockoutOptions& options) const;
  KnockoutResult finish(const Grid& grid, const KnockoutOptions& options, torch::Tensor prob, torch::Tensor logit_diff,
                        torch::Tensor correct) const;
  // Per-prompt scores of answer logits [rows, V] of prompts `prompt_of_row`: prob, logit diff, correct.
  std::vector<torch::Tensor> score(const torch::Tensor& logits, const torch::Tensor& prompt_of_row) const;

  HookedTransformer model_;
  AnswerPrompts prompts_;
  ActivationCache cache_;
  std::vector<torch::Tensor> base_;  // prob, logit diff, correct: float [batch]
};

}  // namespace mechlens
