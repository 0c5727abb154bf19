// Span attention statistics: how much attention each head sends from a destination (each prompt's
// answer position, or a named span) onto labelled source spans (query, queried rule, facts, chain
// edges), per layer, head and prompt; summarised as mean, std and quantiles over prompts, and split
// by any per-prompt annotation (core/grouping.h) so that one sees which variable the attention
// follows. Computed in forward passes over chunks of prompts, reduced inside the pattern hook: no
// pattern is kept, so memory stays one chunk's forward.
#pragma once

#include <torch/types.h>  // torch::Tensor

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "core/grouping.h"
#include "core/selection.h"
#include "runtime/model.h"

namespace mechlens {

struct SpanAttentionOptions {
  std::vector<PositionSpan> sources;  // labelled source regions (may overlap)
  /// Destination positions [begin, end) per prompt (mass is averaged over them); empty: `answer_pos`.
  std::vector<std::pair<int64_t, int64_t>> destinations;
  torch::Tensor answer_pos;  // long [batch], when destinations is empty
  /// The region a head's mass is normalised by ("share"); empty per_prompt: the union of `sources`.
  PositionSpan region;
  std::vector<int64_t> layers;  // empty: every layer
  int64_t max_batch = 64;       // prompts per forward pass
  bool progress = false;
};

struct SpanAttention {
  std::vector<int64_t> layers;
  std::vector<std::string> source_names;
  std::string region_name;
  // float [layer, head, source, batch]: attention mass from the destination onto each source span
  // (sum over the span's positions, mean over destination positions); share: mass divided by the
  // head's mass on the region (0 where the head sends the region nothing).
  torch::Tensor mass, share;
};

/// Runs the model over `tokens` [batch, pos] and measures every head's attention onto each span.
SpanAttention span_attention(HookedTransformer& model, const torch::Tensor& tokens,
                             const SpanAttentionOptions& options);

}  // namespace mechlens
