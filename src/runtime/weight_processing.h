// TransformerLens's weight processing (HookedTransformer.process_weights_ / from_pretrained's
// defaults), applied to a loaded model in TransformerLens's order. Each step leaves what the model
// computes unchanged — fold_ln, center_writing_weights and fold_value_biases exactly, center_unembed
// up to a constant per position added to the logits (log-probabilities are unchanged) — while making
// the weights easier to read: norms without learned scale or bias, residual writes with zero mean.
// A step that would change the computation on this architecture is refused, not skipped.
#pragma once

#include <nlohmann/json_fwd.hpp>

#include "runtime/model.h"

namespace mechlens {

struct WeightProcessing {
  bool fold_ln = false;                 // norm scale (and LayerNorm bias) into the next layer's weights
  bool center_writing_weights = false;  // W_E, W_pos, W_O, b_O, W_out, b_out: mean over d_model removed
  bool center_unembed = false;          // W_U, b_U: mean over the vocabulary removed
  bool fold_value_biases = false;       // sum_h b_V[h] W_O[h] moved into b_O; b_V = 0

  bool any() const { return fold_ln || center_writing_weights || center_unembed || fold_value_biases; }
  nlohmann::json to_json() const;
};

/// Applies `processing` to `model`'s parameters in place. Throws ConfigError naming the step and the
/// architectural reason when it cannot be exact (post-norm blocks, tied embeddings, orthogonal noise,
/// a LayerNorm bias with nowhere to fold into, centring without LayerNorm).
void process_weights(HookedTransformer& model, const WeightProcessing& processing);

}  // namespace mechlens
