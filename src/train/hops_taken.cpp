#include "train/hops_taken.h"

#include <fmt/format.h>
#include <torch/torch.h>

#include <algorithm>

#include "tasks/example_tensors.h"
#include "train/evaluation.h"
#include "util/error.h"

namespace mechlens {
namespace {

// The queried chain from the start on: chain[start index ...], so entry d is the node d hops away.
std::vector<int64_t> chain_from_start(const Example& example, size_t index) {
  const auto chain = example.annotations.find("chain"), path = example.annotations.find("path");
  MECHLENS_CHECK(InputError, chain != example.annotations.end() && path != example.annotations.end(),
                 "example {} has no 'chain' and 'path' annotations: which hop a model answers is defined for the "
                 "matching task",
                 index);
  const int64_t start = path->second.at(0);
  const auto at = std::find(chain->second.begin(), chain->second.end(), start);
  MECHLENS_CHECK(InputError, at != chain->second.end(), "example {}: its start node {} is not on its chain", index,
                 start);
  return {at, chain->second.end()};
}

}  // namespace

HopsTaken hops_taken(HookedTransformer& model, const std::vector<Example>& examples, int64_t batch_size) {
  MECHLENS_CHECK(InputError, !examples.empty(), "no examples to evaluate");
  std::vector<std::vector<int64_t>> chains;
  HopsTaken out;
  for (size_t i = 0; i < examples.size(); ++i) {
    chains.push_back(chain_from_start(examples[i], i));
    out.max_distance = std::max(out.max_distance, int64_t(chains.back().size()) - 1);
  }
  // The first answer token each example's prompt predicts: logits at its last prompt position.
  model->eval();
  torch::NoGradGuard no_grad;
  const PromptSet prompts = to_tensors(examples, /*with_answers=*/false);
  const int64_t total = prompts.tokens.size(0);
  std::vector<int64_t> predicted;
  for (int64_t begin = 0; begin < total; begin += batch_size) {
    const int64_t size = std::min(batch_size, total - begin);
    const torch::Tensor lengths = prompts.lengths.narrow(0, begin, size);
    const torch::Tensor tokens =
        prompts.tokens.narrow(0, begin, size).narrow(1, 0, lengths.max().item<int64_t>());  // [size, pos]
    const torch::Tensor logits = model->forward(tokens);                                    // [size, pos, vocab]
    const torch::Tensor rows = torch::arange(size, torch::TensorOptions().dtype(torch::kLong).device(logits.device()));
    const torch::Tensor last =
        logits.index({rows, (lengths - 1).to(logits.device())}).argmax(-1).to(torch::kCPU).contiguous();
    predicted.insert(predicted.end(), last.data_ptr<int64_t>(), last.data_ptr<int64_t>() + size);
  }

  std::map<std::string, std::vector<int64_t>> counts;  // group -> [distance..., elsewhere]
  std::map<std::string, int64_t> decoy_hits, other_end_hits, absent_hits;
  for (size_t i = 0; i < examples.size(); ++i) {
    const auto& chain = chains[i];
    const auto at = std::find(chain.begin(), chain.end(), predicted[i]);
    const size_t slot = at == chain.end() ? size_t(out.max_distance + 1) : size_t(at - chain.begin());
    const auto decoy = examples[i].annotations.find("decoy");  // [parent, child]
    const auto other = examples[i].annotations.find("other_chain");
    const std::vector<int64_t>& prompt = examples[i].prompt;
    const bool absent = std::find(prompt.begin(), prompt.end(), predicted[i]) == prompt.end();
    for (const std::string& group : example_groups(examples[i])) {
      auto& row = counts[group];
      row.resize(size_t(out.max_distance + 2), 0);
      ++row[slot];
      absent_hits[group] += absent;
      if (decoy != examples[i].annotations.end()) decoy_hits[group] += predicted[i] == decoy->second.at(1);
      if (other != examples[i].annotations.end()) other_end_hits[group] += predicted[i] == other->second.back();
    }
  }
  for (const auto& [group, row] : counts) {
    int64_t n = 0;
    for (int64_t c : row) n += c;
    out.n[group] = n;
    std::vector<double> shares;
    for (int64_t d = 0; d <= out.max_distance; ++d) shares.push_back(double(row[size_t(d)]) / double(n));
    out.share[group] = shares;
    out.elsewhere[group] = double(row.back()) / double(n);
    out.not_in_prompt[group] = double(absent_hits[group]) / double(n);
    if (decoy_hits.count(group)) out.decoy[group] = double(decoy_hits.at(group)) / double(n);
    if (other_end_hits.count(group)) out.other_end[group] = double(other_end_hits.at(group)) / double(n);
  }
  return out;
}

std::string format_hops_taken(const HopsTaken& hops) {
  std::string text = fmt::format("{:<16} {:>6}", "group", "n");
  for (int64_t d = 0; d <= hops.max_distance; ++d) text += fmt::format(" {:>7}", fmt::format("d={}", d));
  text += fmt::format(" {:>9} {:>13}", "elsewhere", "not in prompt");
  if (!hops.decoy.empty()) text += fmt::format(" {:>7}", "decoy");
  text += hops.other_end.empty() ? "\n" : fmt::format(" {:>9}\n", "other end");
  for (const auto& [group, shares] : hops.share) {
    text += fmt::format("{:<16} {:>6}", group, hops.n.at(group));
    for (double share : shares) text += fmt::format(" {:>7.3f}", share);
    text += fmt::format(" {:>9.3f} {:>13.3f}", hops.elsewhere.at(group), hops.not_in_prompt.at(group));
    // Optional columns: a value, "-" for a group without it, nothing when no group has it.
    const auto column = [&](const std::map<std::string, double>& values, int width) {
      if (values.empty()) return std::string();
      const auto value = values.find(group);
      return value == values.end() ? fmt::format(" {:>{}}", "-", width)
                                   : fmt::format(" {:>{}.3f}", value->second, width);
    };
    text += column(hops.decoy, 7) + column(hops.other_end, 9) + "\n";
  }
  return text;
}

}  // namespace mechlens
