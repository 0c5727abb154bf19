// The information-flow routes of one prompt as a graph (tracing/graph.h), named as the LLM
// Transparency Tool names them: X0_t the input at position t, A{l}_t the residual stream after
// layer l's attention, M{l}_t layer l's MLP block and I{l}_t the residual stream after it (for
// attention-only models A{l}_t is the layer's output). Edges carry the shares of
// tracing/information_flow.h: attention edges (summed over heads, each head's share kept),
// residual edges and MLP edges. The root is the layer output at the answer position.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/selection.h"
#include "tracing/graph.h"
#include "tracing/information_flow.h"

namespace mechlens {

/// Prompt `prompt` of `flow`, positions 0..answer_pos (later ones cannot reach the answer);
/// `labels[t]` names the token at t (may be empty). Edges of zero weight are left out.
TraceGraph flow_graph(const InformationFlow& flow, int64_t prompt, int64_t answer_pos,
                      const std::vector<std::string>& labels = {});

/// Information flow between named spans: the attention share that each destination span receives
/// from each source span, per layer and head (summed over the source span's positions, averaged
/// over the destination span's): float [layer, head, dest_span, src_span, batch]; a prompt where a
/// destination span is empty has 0 there.
torch::Tensor span_flow(const InformationFlow& flow, const std::vector<PositionSpan>& spans);

/// Id of layer `layer`'s output node at `pos` (layer -1: the input node X0_pos).
std::string layer_output_id(const InformationFlow& flow, int64_t layer, int64_t pos);

}  // namespace mechlens
