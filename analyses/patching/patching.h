// Activation patching sweeps over a saved model: every patched run of a component (each layer,
// position and head) scored by a metric at the answer position. The fast path packs many runs into
// one batch, starts each at the patched layer from the cached residual stream, recomputes only the
// positions a patch can reach (causal attention: positions >= the patched one, attending to the
// cached keys and values of earlier positions) and unembeds only the answer positions.
#pragma once

#include <torch/types.h>  // torch::Tensor

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "core/selection.h"
#include "engine/shared_plan.h"
#include "hooks/activation_cache.h"
#include "patching/components.h"
#include "patching/metrics.h"
#include "runtime/model.h"

namespace mechlens {

/// Replaces the patch source: zero, the mean over the clean prompts (per position), or another
/// clean prompt's activation (seeded, never the prompt's own). The patched run is the clean run.
enum class Ablation { kNone, kZero, kMean, kResample };
Ablation parse_ablation(const std::string& text);  // none | zero | mean | resample
std::string ablation_name(Ablation ablation);

struct PatchOptions {
  Direction direction = Direction::kDenoising;  // ablations always run on the clean prompts
  Ablation ablation = Ablation::kNone;
  std::vector<int64_t> layers;      // empty: every layer
  std::vector<int64_t> positions;   // absolute positions for by-position components; empty: all
  std::vector<PositionSpan> spans;  // if set, by-position components patch whole spans: a "span" axis
  int64_t max_batch = 512;          // sequences (patched runs x prompts) per forward: bounds memory
  uint64_t seed = 0;                // resample ablation
  bool skip_unchanged = true;       // skip (run, prompt) pairs whose source equals the target value
  bool progress = false;            // progress bar on stderr
  /// The ranks sharing the sweep, and where finished shards are saved (engine/shared_plan.h);
  /// default: this process alone, nothing saved.
  PlanSharing sharing;
};

struct PatchResult {
  Component component;
  std::vector<std::string> dims;             // e.g. {"layer", "pos", "head"}
  std::vector<std::vector<int64_t>> labels;  // per dim: the layer, position or head of each index
  torch::Tensor metric;                      // float [dims...]: metric of each patched run (batch mean)
  torch::Tensor normalised;                  // same shape; see normalise()
  torch::Tensor per_prompt;                  // float [dims..., batch]: metric per patched run and prompt
                                             // (exact and naive; undefined for attribution)
  double clean_metric = 0, corrupted_metric = 0;
  Direction direction = Direction::kDenoising;
  MetricKind metric_kind = MetricKind::kLogitDiff;
  Ablation ablation = Ablation::kNone;
  std::string method = "exact";         // "exact", "naive" or "attribution"
  std::vector<std::string> span_names;  // the "span" axis' labels, when patched by span
  /// What each absolute position is in every prompt ("query", "'Answer:'"), "" where unknown; set
  /// by the caller for summaries and files (position_roles in core/selection.h).
  std::vector<std::string> position_roles;
  // What the batched sweep computed (run() only): rows recomputed, and their cost in FLOPs by the
  // model's cost model (block_flops_per_token over the recomputed layers and positions, plus the
  // unembedding of each row's answer position).
  int64_t rows_computed = 0;
  double flops = 0;
};

class PatchingSession {
 public:
  /// Runs the clean and corrupted prompts once and caches what every sweep reuses (`progress`: a
  /// bar on stderr for these two runs). Inputs without answers get each run's own top token.
  PatchingSession(HookedTransformer model, PatchingInputs inputs, MetricKind metric, bool progress = false);

  /// The batched, layer-skipping sweep.
  PatchResult run(const Component& component, const PatchOptions& options);
  /// Reference: one full forward per patched index, as TransformerLens does.
  PatchResult run_naive(const Component& component, const PatchOptions& options);
  /// Attribution patching: (source - target activation) . d metric / d activation from one forward
  /// and one backward pass of the patched-into run; `metric` holds the linear estimate.
  PatchResult attribution(const Component& component, const PatchOptions& options);

  /// Takes the clean run's activations from an HDF5 record of these clean prompts (every position and
  /// head, from `mechlens record`) instead of recomputing them; returns the hooks taken. Throws
  /// StoreError/InputError naming the file and hook when tokens or shapes do not match, or when the
  /// record names another checkpoint than `checkpoint_sha256` (empty: not checked).
  std::vector<std::string> use_clean_record(const std::string& path, const std::string& checkpoint_sha256 = "");

  double clean_metric() const { return clean_metric_; }
  double corrupted_metric() const { return corrupted_metric_; }
  /// The unpatched runs' metric per prompt: float [batch].
  const torch::Tensor& clean_per_prompt() const { return clean_per_prompt_; }
  const torch::Tensor& corrupted_per_prompt() const { return corrupted_per_prompt_; }
  /// The inputs, with the default answers filled in when none were given.
  const PatchingInputs& inputs() const { return inputs_; }
  HookedTransformer& model() { return model_; }
  const Metric& metric() const { return metric_; }
  /// Activations of every layer for the hook suffix ("attn.hook_z") on the clean or corrupted prompts.
  const torch::Tensor& activation(bool clean, const std::string& hook_name);

 private:
  struct Layout;
  Layout layout(const Component& component, const PatchOptions& options) const;
  void ensure_cached(const std::string& hook_suffix);
  torch::Tensor source_activation(const Component& component, int64_t layer, const PatchOptions& options);
  PatchResult empty_result(const Component& component, const PatchOptions& options, const Layout& layout) const;
  torch::Tensor answer_logits(const torch::Tensor& logits) const;  // [batch,pos,V] -> [batch,V]

  HookedTransformer model_;
  PatchingInputs inputs_;
  Metric metric_;
  ActivationCache clean_cache_, corrupted_cache_;
  torch::Tensor clean_logits_, corrupted_logits_;  // [batch, d_vocab] at the answer positions
  double clean_metric_ = 0, corrupted_metric_ = 0;
  torch::Tensor clean_per_prompt_, corrupted_per_prompt_;  // float [batch]
};

/// Pearson correlation of two equally shaped results (attribution vs exact).
double correlation(const torch::Tensor& a, const torch::Tensor& b);

}  // namespace mechlens
