// The terminal summaries of `mechlens trace`: what each head reads (span statistics, per group),
// which knock-outs hurt the prediction, and the traced graph with its causal check.
#pragma once

#include <cstdio>
#include <optional>
#include <string>
#include <vector>

#include "core/grouping.h"
#include "tracing/edge_check.h"
#include "tracing/graph.h"
#include "tracing/knockout.h"
#include "tracing/knockout_path.h"
#include "tracing/span_attention.h"

namespace mechlens::cli {

/// Per layer and head: mean +- std of the attention mass on each source span, and the span each
/// head reads most; with groups, the same head's favourite span and mass per group.
void print_span_attention(std::FILE* out, const SpanAttention& spans, const std::string& destination,
                          const std::optional<PromptGroups>& groups);

/// The `top` knock-outs with the largest accuracy drop (ties: probability drop).
void print_knockout(std::FILE* out, const KnockoutResult& knockout, const std::string& destination, int64_t top);

/// The knock-out path, edge by edge, with each edge's control.
void print_path(std::FILE* out, const KnockoutPath& path, const std::string& start);

/// Span-level information flow into the destination span per layer (heads summed): mean shares.
void print_span_flow(std::FILE* out, const torch::Tensor& span_flow, const std::vector<std::string>& span_names,
                     int64_t dest_span);

/// The pruned graph's attention edges (strongest first), with their causal check (--verify): the
/// effect in the graph's prompt, and the accuracy over all prompts with the role edge and its control
/// knocked out.
void print_graph(std::FILE* out, const TraceGraph& graph, const std::optional<EdgeCheck>& check, int64_t top);

}  // namespace mechlens::cli
