// What `--positions` selects, for every command and analysis: numbers the Python way (IndexSpec:
// all, 3, -1, 2:6, -5:, 0,4) or the names of a task's prompt regions ("query,queried_rule"; "spans"
// for every one). One parser, so that `record`, `patch` and the analyses that follow accept the same
// text and refuse it with the same messages.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <torch/types.h>  // torch::Tensor

#include "util/index_spec.h"

namespace mechlens {

/// A named prompt region ("query", "queried_rule") whose positions may differ per prompt.
struct PositionSpan {
  std::string name;
  std::vector<std::pair<int64_t, int64_t>> per_prompt;  // [batch]: [begin, end); begin == end: absent
};

/// Throws InputError naming the span and prompt when `spans` do not hold one [begin, end) within
/// 0..n_pos per prompt.
void validate_spans(const std::vector<PositionSpan>& spans, int64_t batch, int64_t n_pos);

/// Where each prompt's [begin, end) range lies: bool [batch, n_pos] (ranges as in a PositionSpan).
torch::Tensor span_mask(const std::vector<std::pair<int64_t, int64_t>>& per_prompt, int64_t n_pos);

/// What each absolute position 0..n_pos-1 is in every prompt: the name of the narrowest span that
/// holds it in all of them, "" where none does (spans move between prompts, or no span covers it).
/// For labelling summaries ("pos 34 (query)").
std::vector<std::string> position_roles(const std::vector<PositionSpan>& spans, int64_t n_pos);

class PositionSelection {
 public:
  /// Parses `text` given to option `what`. The text names spans when every comma-separated part is
  /// an identifier ("3:x" is a malformed index selection, reported with its bad part); `known` are
  /// the spans the prompts carry (nullptr: prompts without annotations, where names are refused
  /// with a hint to use --task). Throws InputError for an unknown span (naming the known ones) or a
  /// malformed index or names without a task.
  static PositionSelection parse(const std::string& text, const std::string& what,
                                 const std::vector<PositionSpan>* known);

  const std::string& text() const { return text_; }
  bool is_all() const { return !named() && indices_->is_all(); }
  bool named() const { return !spans_.empty(); }
  /// The chosen spans, in the order named (named() only).
  const std::vector<PositionSpan>& spans() const { return spans_; }
  /// The index selection (not named() only).
  const IndexSpec& indices() const { return *indices_; }

  /// Absolute positions kept per prompt [N][K] for prompts of `lengths`, the same count K in
  /// every prompt (a record keeps a rectangular [N, K]). Named spans: their positions concatenated
  /// in the order named. Throws InputError naming the prompt and span when counts differ.
  std::vector<std::vector<int64_t>> per_prompt(const std::vector<int64_t>& lengths) const;

 private:
  std::string text_, what_;
  std::optional<IndexSpec> indices_;
  std::vector<PositionSpan> spans_;
};

}  // namespace mechlens
