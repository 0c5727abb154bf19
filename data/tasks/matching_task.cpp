#include "tasks/matching_task.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include <algorithm>

#include "util/error.h"
#include "util/json_text.h"

namespace mechlens {
namespace {

constexpr int64_t kIdLow = 1, kOodLow = 101;
// The highest node id in distribution and out of it.
int64_t id_high(MatchingRanges ranges) { return ranges == MatchingRanges::kPaper ? 99 : 100; }
int64_t ood_high(MatchingRanges ranges) { return ranges == MatchingRanges::kPaper ? 199 : 200; }
constexpr int kMaxChainAttempts = 1000;

const char* layout_name(MatchingLayout layout) {
  switch (layout) {
    case MatchingLayout::kSingleChain:
      return "single_chain";
    case MatchingLayout::kNoisedDoubleChain:
      return "noised_double_chain";
    case MatchingLayout::kSingleChainWithOrder:
      return "single_chain_with_order";
  }
  return "?";
}

const char* split_name(MatchingSplit split) {
  switch (split) {
    case MatchingSplit::kTrain:
      return "train";
    case MatchingSplit::kTest:
      return "test";
    case MatchingSplit::kOod:
      return "ood";
    case MatchingSplit::kOodDecoy:
      return "ood_decoy";
  }
  return "?";
}

// Allowed (child - parent) mod 5 for the split (OOD chains, decoy or not, use every residue).
std::vector<int64_t> allowed_deltas(MatchingSplit split) {
  if (split == MatchingSplit::kTrain) return {0, 1, 4};
  if (split == MatchingSplit::kTest) return {2, 3};
  return {0, 1, 2, 3, 4};
}

// Moves chain node j from the OOD range into the ID range (id - 100), in the chain and in the edges
// already collected (the distractors that point at it).
void shift_into_distribution(std::vector<int64_t>& chain, int64_t j, std::vector<std::pair<int64_t, int64_t>>& pairs) {
  for (auto& [a, b] : pairs) {
    if (a == chain[size_t(j)]) a -= 100;
    if (b == chain[size_t(j)]) b -= 100;
  }
  chain[size_t(j)] -= 100;
}

// Single-chain starts that leave room for a decoy edge apart from the path start..start+k: one that
// ends before the start's parent edge (j + 1 <= start - 1) or begins two nodes past the answer
// (j >= start + k + 2), so that the decoy touches neither the answer nor the answer's child.
std::vector<int64_t> decoy_edges(int64_t edges, int64_t start, int64_t k) {
  std::vector<int64_t> js;
  for (int64_t j = 0; j < edges; ++j) {
    if (j + 1 <= start - 1 || j >= start + k + 2) js.push_back(j);
  }
  return js;
}

}  // namespace

MatchingLayout parse_matching_layout(const std::string& text) {
  for (auto layout :
       {MatchingLayout::kSingleChain, MatchingLayout::kNoisedDoubleChain, MatchingLayout::kSingleChainWithOrder}) {
    if (text == layout_name(layout)) return layout;
  }
  MECHLENS_FAIL(InputError,
                "matching layout '{}' is unknown; expected single_chain, noised_double_chain or "
                "single_chain_with_order",
                text);
}

MatchingSplit parse_matching_split(const std::string& text) {
  for (auto split : {MatchingSplit::kTrain, MatchingSplit::kTest, MatchingSplit::kOod, MatchingSplit::kOodDecoy}) {
    if (text == split_name(split)) return split;
  }
  MECHLENS_FAIL(InputError, "matching split '{}' is unknown; expected train, test, ood or ood_decoy", text);
}

MatchingRanges parse_matching_ranges(const std::string& text) {
  if (text == "paper") return MatchingRanges::kPaper;
  if (text == "full") return MatchingRanges::kFull;
  MECHLENS_FAIL(InputError,
                "matching ranges '{}' are unknown; expected paper (1..99, 101..199) or full (1..100, 101..200)", text);
}

std::vector<int64_t> matching_node_ids(MatchingRanges ranges, bool ood) {
  std::vector<int64_t> ids;
  for (int64_t id = ood ? kOodLow : kIdLow; id <= (ood ? ood_high(ranges) : id_high(ranges)); ++id) ids.push_back(id);
  return ids;
}

std::optional<MatchingRanges> matching_ranges_of(const std::string& settings_json, const std::string& what) {
  const nlohmann::json json = parse_json_text<InputError>(settings_json, what);
  if (!json.is_object() || json.value("task", "") != "matching") return std::nullopt;
  if (!json.contains("ranges")) return MatchingRanges::kFull;
  MECHLENS_CHECK(InputError, json["ranges"].is_string(), "{}: task field 'ranges' is not a string", what);
  return parse_matching_ranges(json["ranges"].get<std::string>());
}

MatchingTask::MatchingTask(MatchingSettings settings) : settings_(std::move(settings)) {
  MECHLENS_CHECK(InputError, !settings_.orders.empty(), "matching task needs at least one order (hop count)");
  const int64_t edges = edges_per_chain();
  MECHLENS_CHECK(InputError, edges >= 2, "matching seq_len {} leaves {} edges per chain for layout {}; too short",
                 settings_.seq_len, edges, layout_name(settings_.layout));
  for (int64_t k : settings_.orders) {
    MECHLENS_CHECK(InputError, k >= 1 && k < edges,
                   "matching order {} needs 1 <= k < {} (edges per chain at seq_len {})", k, edges, settings_.seq_len);
  }
  const int64_t longest = *std::max_element(settings_.orders.begin(), settings_.orders.end());
  MECHLENS_CHECK(InputError, settings_.split != MatchingSplit::kOodDecoy || decoy_fits(),
                 "matching split ood_decoy with order {} needs at least {} edges per chain (a decoy edge apart "
                 "from the path); seq_len {} gives {}",
                 longest, longest + 2, settings_.seq_len, edges);
  if (settings_.layout == MatchingLayout::kNoisedDoubleChain) {
    MECHLENS_CHECK(InputError, (settings_.seq_len - 5) % 4 == 0, "noised_double_chain needs seq_len = 4E+5, got {}",
                   settings_.seq_len);
  } else if (settings_.layout == MatchingLayout::kSingleChainWithOrder) {
    MECHLENS_CHECK(InputError, settings_.seq_len % 2 == 0, "single_chain_with_order needs an even seq_len, got {}",
                   settings_.seq_len);
  } else {
    MECHLENS_CHECK(InputError, settings_.seq_len % 2 == 1, "single_chain needs an odd seq_len (2E+1), got {}",
                   settings_.seq_len);
  }
}

bool MatchingTask::decoy_fits() const {
  // One chain must hold the path and, apart from it, the decoy edge: a start >= 2 needs k + 2 edges.
  if (settings_.layout == MatchingLayout::kNoisedDoubleChain) return true;
  const int64_t longest = *std::max_element(settings_.orders.begin(), settings_.orders.end());
  return longest + 2 <= edges_per_chain();
}

int64_t MatchingTask::edges_per_chain() const {
  switch (settings_.layout) {
    case MatchingLayout::kSingleChain:
      return (settings_.seq_len - 1) / 2;
    case MatchingLayout::kNoisedDoubleChain:
      return (settings_.seq_len - 5) / 4;
    case MatchingLayout::kSingleChainWithOrder:
      return (settings_.seq_len - 2) / 2;
  }
  return 0;
}

std::string MatchingTask::settings_json() const {
  nlohmann::ordered_json json;
  json["task"] = "matching";
  json["layout"] = layout_name(settings_.layout);
  json["split"] = split_name(settings_.split);
  json["orders"] = settings_.orders;
  json["seq_len"] = settings_.seq_len;
  json["ranges"] = settings_.ranges == MatchingRanges::kPaper ? "paper" : "full";
  return json.dump();
}

std::vector<int64_t> MatchingTask::make_chain(Rng& rng, int64_t n_nodes, std::vector<bool>& used, bool ood) const {
  const int64_t low = ood ? kOodLow : kIdLow, high = ood ? ood_high(settings_.ranges) : id_high(settings_.ranges);
  const std::vector<int64_t> deltas = allowed_deltas(settings_.split);
  for (int attempt = 0; attempt < kMaxChainAttempts; ++attempt) {
    std::vector<bool> taken = used;
    std::vector<int64_t> chain;
    int64_t x = 0;
    do x = rng.between(low, high);
    while (taken[x]);
    chain.push_back(x);
    taken[x] = true;
    while (static_cast<int64_t>(chain.size()) < n_nodes) {
      bool placed = false;
      for (int tries = 0; tries < 200 && !placed; ++tries) {
        // y keeps the block of a uniform r and takes its residue from the parent: (y - x) mod 5 = delta.
        const int64_t r = rng.between(low, high);
        const int64_t y = 5 * (r / 5) + (x + rng.pick(deltas)) % 5;
        if (y >= low && y <= high && !taken[y]) {
          chain.push_back(y);
          taken[y] = true;
          x = y;
          placed = true;
        }
      }
      if (!placed) break;
    }
    if (static_cast<int64_t>(chain.size()) == n_nodes) {
      used = taken;
      return chain;
    }
  }
  MECHLENS_FAIL(InputError, "could not build a chain of {} nodes in {}..{}", n_nodes, low, high);
}

Example MatchingTask::sample(Rng& rng) const {
  const bool decoy = settings_.split == MatchingSplit::kOodDecoy;
  const bool ood = settings_.split == MatchingSplit::kOod || decoy;
  const int64_t edges = edges_per_chain();
  const int64_t k = rng.pick(settings_.orders);
  std::vector<bool> used(kVocab, false);
  used[kPad] = true;
  std::vector<std::vector<int64_t>> chains{make_chain(rng, edges + 1, used, ood)};
  std::vector<std::pair<int64_t, int64_t>> pairs;
  int64_t queried = 0, start = 0;
  if (settings_.layout == MatchingLayout::kNoisedDoubleChain) {
    chains.push_back(make_chain(rng, edges + 1, used, ood));
    for (const auto& chain : chains) {
      // One distractor edge n -> c_j into an interior node of each chain.
      const std::vector<int64_t> distractor = make_chain(rng, 1, used, ood);
      pairs.emplace_back(distractor[0], chain[rng.between(1, edges - 1)]);
    }
    queried = rng.below(2);
    start = edges - k;
  } else if (!decoy) {
    start = rng.between(0, edges - k);
  } else {
    std::vector<int64_t> starts;  // those with room for a decoy edge
    for (int64_t s = 0; s <= edges - k; ++s) {
      if (!decoy_edges(edges, s, k).empty()) starts.push_back(s);
    }
    start = rng.pick(starts);
  }
  std::pair<int64_t, int64_t> decoy_edge{-1, -1};
  if (ood) {
    // Only the answer and its parent come back into the in-distribution range, and with a decoy one
    // more edge off the path: then "the child of the in-distribution edge" is no longer the answer.
    for (int64_t j : {start + k - 1, start + k}) shift_into_distribution(chains[queried], j, pairs);
    if (decoy) {
      const bool other = chains.size() == 2;
      auto& chain = chains[other ? 1 - queried : queried];
      const int64_t j = other ? rng.between(0, edges - 1) : rng.pick(decoy_edges(edges, start, k));
      shift_into_distribution(chain, j, pairs);
      shift_into_distribution(chain, j + 1, pairs);
      decoy_edge = {chain[size_t(j)], chain[size_t(j + 1)]};
    }
  }
  for (const auto& chain : chains) {
    for (int64_t j = 0; j < edges; ++j) pairs.emplace_back(chain[j], chain[j + 1]);
  }
  rng.shuffle(pairs);

  Example example;
  for (const auto& [parent, child] : pairs) {
    example.prompt.push_back(parent);
    example.prompt.push_back(child);
  }
  const auto& chain = chains[queried];
  example.prompt.push_back(chain[start]);
  const int64_t query_pos = static_cast<int64_t>(example.prompt.size()) - 1;
  if (settings_.layout == MatchingLayout::kSingleChainWithOrder) example.prompt.push_back(k);
  example.answer = {chain[start + k]};
  example.group = split_name(settings_.split);
  const int64_t max_k = *std::max_element(settings_.orders.begin(), settings_.orders.end());
  std::vector<int64_t> path(max_k + 1, -1);
  for (int64_t j = 0; j <= k; ++j) path[j] = chain[start + j];
  example.annotations["query_pos"] = {query_pos};
  example.annotations["answer"] = example.answer;
  example.annotations["order"] = {k};
  example.annotations["path"] = path;
  example.annotations["chain"] = chain;
  if (chains.size() == 2) example.annotations["other_chain"] = chains[1 - queried];
  if (decoy) example.annotations["decoy"] = {decoy_edge.first, decoy_edge.second};
  return example;
}

Example MatchingTask::counterfactual(const Example& clean, Rng& rng) const {
  const int64_t k = clean.annotations.at("order")[0];
  const int64_t query_pos = clean.annotations.at("query_pos")[0];
  std::vector<int64_t> chain = clean.annotations.at("chain");
  int64_t start = 0;
  if (settings_.layout == MatchingLayout::kNoisedDoubleChain) {
    // The other chain's node k hops before its end: same question about the other chain.
    chain = clean.annotations.at("other_chain");
    start = static_cast<int64_t>(chain.size()) - 1 - k;
  } else {
    const int64_t clean_start = std::find(chain.begin(), chain.end(), clean.prompt[query_pos]) - chain.begin();
    const int64_t choices = static_cast<int64_t>(chain.size()) - k;  // valid starts 0..edges-k
    start = rng.below(choices - 1);
    if (start >= clean_start) ++start;  // any valid start but the clean one
  }
  Example corrupt = clean;
  corrupt.prompt[query_pos] = chain[start];
  corrupt.answer = {chain[start + k]};
  corrupt.annotations["answer"] = corrupt.answer;
  std::vector<int64_t>& path = corrupt.annotations["path"];
  std::fill(path.begin(), path.end(), -1);
  for (int64_t j = 0; j <= k; ++j) path[j] = chain[start + j];
  if (settings_.layout == MatchingLayout::kNoisedDoubleChain) {
    corrupt.annotations["other_chain"] = clean.annotations.at("chain");
    corrupt.annotations["chain"] = chain;
  }
  return corrupt;
}

std::vector<std::string> MatchingTask::token_strings() const {
  std::vector<std::string> strings{"<pad>"};  // ids 1..200 are node names (and hop counts) as numbers
  for (int64_t token = 1; token < kVocab; ++token) strings.push_back(std::to_string(token));
  return strings;
}

std::string MatchingTask::render(const Example& example) const {
  std::vector<std::string> edges;
  const int64_t query_pos = example.annotations.at("query_pos")[0];
  for (int64_t i = 0; i + 1 < query_pos; i += 2)
    edges.push_back(fmt::format("{}->{}", example.prompt[i], example.prompt[i + 1]));
  return fmt::format("{} | start {}, {} hops -> {}", fmt::join(edges, " "), example.prompt[query_pos],
                     example.annotations.at("order")[0], example.answer[0]);
}

std::map<std::string, std::vector<std::string>> MatchingTask::annotation_dims() const {
  std::map<std::string, std::vector<std::string>> dims{{"query_pos", {"batch", "one"}},
                                                       {"answer", {"batch", "one"}},
                                                       {"order", {"batch", "one"}},
                                                       {"path", {"batch", "hop"}},
                                                       {"chain", {"batch", "node"}}};
  if (settings_.layout == MatchingLayout::kNoisedDoubleChain) dims["other_chain"] = {"batch", "node"};
  if (settings_.split == MatchingSplit::kOodDecoy) dims["decoy"] = {"batch", "edge"};
  return dims;
}

// hopJ_edge: the (parent, child) pair the J-th hop from the start node follows, hopJ_parent and
// hopJ_child its two positions; empty where the example's order is below J.
std::vector<std::string> MatchingTask::span_names() const {
  std::vector<std::string> names{"query"};
  const int64_t max_k = *std::max_element(settings_.orders.begin(), settings_.orders.end());
  for (int64_t j = 1; j <= max_k; ++j) {
    names.push_back(fmt::format("hop{}_edge", j));
    names.push_back(fmt::format("hop{}_parent", j));
    names.push_back(fmt::format("hop{}_child", j));
  }
  if (settings_.layout == MatchingLayout::kSingleChainWithOrder) names.push_back("order_token");
  names.push_back("answer_position");
  return names;
}

std::vector<std::pair<int64_t, int64_t>> MatchingTask::span_positions(const Example& example) const {
  const int64_t query_pos = example.annotations.at("query_pos")[0];
  const std::vector<int64_t>& path = example.annotations.at("path");
  const int64_t k = example.annotations.at("order")[0];
  std::vector<std::pair<int64_t, int64_t>> spans{{query_pos, query_pos + 1}};
  for (int64_t j = 1; j < int64_t(path.size()); ++j) {
    std::pair<int64_t, int64_t> edge{0, 0};
    for (int64_t i = 0; j <= k && i + 1 < query_pos; i += 2) {
      if (example.prompt[size_t(i)] == path[size_t(j - 1)] && example.prompt[size_t(i + 1)] == path[size_t(j)]) {
        edge = {i, i + 2};
        break;
      }
    }
    spans.push_back(edge);
    spans.push_back(edge.second > edge.first ? std::pair{edge.first, edge.first + 1} : edge);
    spans.push_back(edge.second > edge.first ? std::pair{edge.first + 1, edge.second} : edge);
  }
  if (settings_.layout == MatchingLayout::kSingleChainWithOrder) spans.push_back({query_pos + 1, query_pos + 2});
  const int64_t last = int64_t(example.prompt.size()) - 1;
  spans.push_back({last, last + 1});
  return spans;
}

}  // namespace mechlens
