// Multi-step reasoning by matching (Wang et al. 2024, arXiv 2405.15302): shuffled (parent, child)
// pairs, then a start node; the answer is the node k hops later. Vocabulary 201: 0 = PAD; nodes
// 1..99 in distribution and 101..199 out of it, as the authors' generator draws them (ranges=paper),
// or 1..100 and 101..200 (ranges=full, what mechlens used before; the shipped matching checkpoints
// were trained on it). Train edges have (child - parent) mod 5 in
// {0,1,4}, test edges in {2,3}, so test pairs never occur in training.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "tasks/task.h"

namespace mechlens {

enum class MatchingLayout {
  kSingleChain,           // one chain, shuffled edges, then [x_i] -> x_{i+k}
  kNoisedDoubleChain,     // two chains, one distractor edge into each, query k hops before an end
  kSingleChainWithOrder,  // one chain, then [x_i, k] -> x_{i+k}
};
// kOodDecoy: as kOod, plus one chain edge off the path shifted into distribution too (annotation
// "decoy": its parent and child), so that a model answering "the child of the in-distribution edge"
// scores about half where one that follows the chain from the start does not drop.
enum class MatchingSplit { kTrain, kTest, kOod, kOodDecoy };
enum class MatchingRanges { kPaper, kFull };  // node ids 1..99 / 101..199, or 1..100 / 101..200

struct MatchingSettings {
  MatchingLayout layout = MatchingLayout::kSingleChain;
  MatchingSplit split = MatchingSplit::kTrain;
  std::vector<int64_t> orders = {2};  // hop counts k, one drawn per example (mixed orders)
  int64_t seq_len = 13;               // input tokens; sets the number of edges per layout
  MatchingRanges ranges = MatchingRanges::kPaper;
};

class MatchingTask : public Task {
 public:
  static constexpr int64_t kVocab = 201;
  static constexpr int64_t kPad = 0;

  explicit MatchingTask(MatchingSettings settings);

  std::string name() const override { return "matching"; }
  std::string settings_json() const override;
  std::vector<std::string> token_strings() const override;
  int64_t vocab_size() const override { return kVocab; }
  int64_t max_sequence_length() const override { return settings_.seq_len + 1; }
  Example sample(Rng& rng) const override;
  Example counterfactual(const Example& clean, Rng& rng) const override;
  std::string counterfactual_kind() const override { return "query-node"; }
  std::string render(const Example& example) const override;
  std::map<std::string, std::vector<std::string>> annotation_dims() const override;
  std::vector<std::string> span_names() const override;
  std::vector<std::pair<int64_t, int64_t>> span_positions(const Example& example) const override;

  /// Edges per chain for the configured layout and sequence length.
  int64_t edges_per_chain() const;

  const MatchingSettings& settings() const { return settings_; }

  /// Mixed hop counts in a layout whose prompt does not say which is asked (single_chain ends with the
  /// start node only): no model can tell such problems apart.
  bool hop_count_ambiguous() const {
    return settings_.layout == MatchingLayout::kSingleChain && settings_.orders.size() > 1;
  }

  /// Whether these settings with split=ood_decoy can place a decoy edge apart from every order's path
  /// (one chain of E edges needs k + 2 <= E; the double chain puts it on the other chain).
  bool decoy_fits() const;

 private:
  std::vector<int64_t> make_chain(Rng& rng, int64_t n_nodes, std::vector<bool>& used, bool ood) const;

  MatchingSettings settings_;
};

MatchingLayout parse_matching_layout(const std::string& text);
MatchingSplit parse_matching_split(const std::string& text);
MatchingRanges parse_matching_ranges(const std::string& text);  // paper | full

/// Node ids in distribution (1..99, or 1..100 with full ranges) or out of it (101..199 or 101..200).
std::vector<int64_t> matching_node_ids(MatchingRanges ranges, bool ood);

/// The ranges a task's settings JSON (a checkpoint's "task" metadata) names; nothing when the settings
/// are another task's. A matching task's settings written before the option existed name none: those
/// tasks drew from the full ranges. Throws InputError naming `what` when the JSON is malformed.
std::optional<MatchingRanges> matching_ranges_of(const std::string& settings_json, const std::string& what);

}  // namespace mechlens
