// Which hop a matching model answers: for each example of the matching task, whether the model's
// first answer token is the node d hops from the queried start along the queried chain (d = 0 is
// the start itself). Accuracy says whether a model answers k-hop problems; this says what it does
// when it does not: a model that always takes two hops answers d = 2 whatever the problem's order.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "runtime/model.h"
#include "tasks/task.h"

namespace mechlens {

struct HopsTaken {
  int64_t max_distance = 0;  // the longest chain's last node, in hops from a start
  /// Per example group ("all", "test", "test/order3", ...): examples, and the share of predictions
  /// equal to the node d hops from the start [max_distance + 1] (0 where the chain has no such node).
  std::map<std::string, int64_t> n;
  std::map<std::string, std::vector<double>> share;
  std::map<std::string, double> elsewhere;  // equal to none of them (another chain, a node before the start)
  /// Groups of ood_decoy examples only: the share of predictions equal to the decoy edge's child (counted
  /// in a distance or elsewhere too). Where a model takes "the child of the in-distribution edge" for the
  /// answer, the decoy draws about half of the answers.
  std::map<std::string, double> decoy;
  /// Groups of double-chain examples only (an `other_chain` annotation): the share of predictions equal to
  /// the other chain's last node, the answer of the same question about the wrong chain (counted elsewhere too).
  std::map<std::string, double> other_end;
  /// Every group: the share of predictions that occur nowhere in the prompt (counted elsewhere too), which
  /// separates answers taken from the prompt's other edges from tokens the model brings in itself.
  std::map<std::string, double> not_in_prompt;
};

/// Throws InputError naming the example when the examples lack the matching task's `chain` and
/// `path` annotations. Prompts are batched `batch_size` at a time.
HopsTaken hops_taken(HookedTransformer& model, const std::vector<Example>& examples, int64_t batch_size = 512);

/// One row per group: n, then the share at each distance and elsewhere.
std::string format_hops_taken(const HopsTaken& hops);

}  // namespace mechlens
