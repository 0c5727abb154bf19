// Tracing results on disk: one HDF5 file (format "mechlens-trace", h5py-readable; layout in
// docs/TRACING.md) holding the prompts and whichever analyses ran: span attention statistics,
// knock-out grid, information flow with its span-level view, rollout and the pruned graph of one
// prompt. Written atomically like every result file (store/result_file.h).
#pragma once

#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/grouping.h"
#include "core/selection.h"
#include "store/result_file.h"
#include "tracing/edge_check.h"
#include "tracing/graph.h"
#include "tracing/information_flow.h"
#include "tracing/knockout.h"
#include "tracing/knockout_path.h"
#include "tracing/span_attention.h"

namespace mechlens {

inline constexpr int64_t kTraceFormatVersion = 1;

struct TraceFileContents {
  AnswerPrompts prompts;
  std::vector<std::pair<std::string, torch::Tensor>> annotations;  // name -> [batch, ...]
  std::map<std::string, std::vector<std::string>> annotation_dims;
  std::vector<std::string> prompt_groups;  // [batch]: the task's data group, if any
  std::vector<PositionSpan> spans;         // the task's named spans
  std::optional<PromptGroups> groups;      // --group-by
  std::vector<double> quantile_levels;
  std::string destination;  // what the destination was ("answer_position", "pos 12")

  std::optional<SpanAttention> span_attention;
  std::optional<KnockoutResult> knockout;
  std::optional<KnockoutPath> path;
  std::string path_start;
  double path_min_drop = 0;
  std::optional<InformationFlow> flow;
  torch::Tensor span_flow;            // [layer, head, dest_span, src_span, batch], over `spans`
  torch::Tensor rollout;              // [batch, layer, dest, src]
  std::vector<int64_t> flow_prompts;  // prompts whose full flow and rollout are kept (all, unless too large)
  torch::Tensor attention_flow;       // [src]: the graph prompt's attention flow from its answer position
  std::optional<TraceGraph> graph;
  int64_t graph_prompt = 0;
  std::string pruning;                  // how the graph was pruned
  std::optional<EdgeCheck> edge_check;  // --verify
};

void write_trace_file(const std::string& path, const TraceFileContents& contents, const Provenance& provenance);

}  // namespace mechlens
