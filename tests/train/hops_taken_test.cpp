// Which hop a matching model answers: the hand-built solution with H hop layers provably takes H hops
// whatever the problem's order, so every prediction lands H hops from the start.
#include <gtest/gtest.h>

#include <algorithm>

#include "matching/matching_solution.h"
#include "tasks/task_factory.h"
#include "test_util.h"
#include "train/hops_taken.h"
#include "util/error.h"

namespace mechlens {
namespace {

HookedTransformer two_hop_solution() {
  MatchingSolutionOptions options;
  options.hops = 2;
  return build_matching_solution(options);
}

TEST(HopsTakenTest, TheHandBuiltSolutionTakesAsManyHopsAsItHasHopLayers) {
  HookedTransformer model = two_hop_solution();
  std::unique_ptr<Task> task = make_task("matching", {"orders=1,2,3", "split=test"});
  const std::vector<Example> examples = generate_examples(*task, 300, 7);
  const HopsTaken hops = hops_taken(model, examples, /*batch_size=*/64);  // several batches
  EXPECT_EQ(hops.n.at("all"), 300);
  ASSERT_EQ(hops.share.at("all").size(), size_t(hops.max_distance + 1));
  for (const char* group : {"test/order2", "test/order3"}) {
    ASSERT_TRUE(hops.share.count(group)) << group;
    EXPECT_GE(hops.share.at(group)[2], 0.98) << group;  // two hops, also on three-hop problems
    EXPECT_LE(hops.share.at(group)[3], 0.02) << group;
  }
  // One-hop problems: two hops on, wherever the chain goes on that far.
  int64_t one_hop = 0, two_further = 0;
  for (const Example& e : examples) {
    if (e.annotations.at("order")[0] != 1) continue;
    const std::vector<int64_t>& chain = e.annotations.at("chain");
    const auto start = std::find(chain.begin(), chain.end(), e.annotations.at("path")[0]);
    ++one_hop;
    two_further += chain.end() - start > 2;
  }
  ASSERT_GT(two_further, 0);
  EXPECT_GE(hops.share.at("test/order1")[2], double(two_further) / double(one_hop) - 0.02);
  double total = hops.elsewhere.at("all");
  for (double share : hops.share.at("all")) total += share;
  EXPECT_NEAR(total, 1.0, 1e-9);
  EXPECT_NE(format_hops_taken(hops).find("test/order3"), std::string::npos);
}

// A model that follows the chain is not drawn to the decoy edge of ood_decoy problems.
TEST(HopsTakenTest, TheDecoyShareCountsAnswersOfTheDecoyEdgesChild) {
  HookedTransformer model = two_hop_solution();
  std::unique_ptr<Task> task = make_task("matching", {"orders=2", "split=ood_decoy"});
  const std::vector<Example> examples = generate_examples(*task, 200, 9);
  const HopsTaken hops = hops_taken(model, examples);
  ASSERT_TRUE(hops.decoy.count("ood_decoy"));
  EXPECT_GE(hops.share.at("ood_decoy")[2], 0.98);
  EXPECT_LE(hops.decoy.at("ood_decoy"), 0.02);
  EXPECT_NE(format_hops_taken(hops).find("decoy"), std::string::npos);

  // Predictions equal to the decoy's child are what the share counts: hand-check on one example each.
  std::vector<Example> answered_by_decoy = examples;
  for (Example& e : answered_by_decoy) e.annotations["decoy"][1] = e.answer[0];  // the model's answer
  const HopsTaken relabelled = hops_taken(model, answered_by_decoy);
  EXPECT_NEAR(relabelled.decoy.at("ood_decoy"), hops.share.at("ood_decoy")[2], 1e-9);
  EXPECT_TRUE(hops_taken(model, generate_examples(*make_task("matching", {"split=ood"}), 20, 1)).decoy.empty());
}

// On double-chain problems the other chain's last node is the answer to the same question about the wrong
// chain: its share counts exactly the predictions equal to it.
TEST(HopsTakenTest, TheOtherEndShareCountsAnswersOfTheOtherChainsLastNode) {
  HookedTransformer model = two_hop_solution();
  std::unique_ptr<Task> task = make_task("matching", {"layout=noised_double_chain", "orders=1", "split=test"});
  const std::vector<Example> examples = generate_examples(*task, 100, 5);
  const HopsTaken hops = hops_taken(model, examples);
  ASSERT_TRUE(hops.other_end.count("test"));
  EXPECT_LE(hops.other_end.at("test"), hops.elsewhere.at("test") + 1e-12);  // the other chain is elsewhere
  EXPECT_NE(format_hops_taken(hops).find("other end"), std::string::npos);

  std::vector<Example> relabelled = examples;
  for (Example& e : relabelled) e.annotations["other_chain"].back() = e.answer[0];  // the right answer
  EXPECT_NEAR(hops_taken(model, relabelled).other_end.at("test"), hops.share.at("test")[1], 1e-12);
  EXPECT_TRUE(hops_taken(model, generate_examples(*make_task("matching", {}), 20, 1)).other_end.empty());
}

// Answers the prompt does not contain: none for a model that follows the chain, all for one that always
// predicts the padding token (all-zero logits: argmax takes id 0, which no prompt holds).
TEST(HopsTakenTest, TheNotInPromptShareCountsAnswersAbsentFromThePrompt) {
  HookedTransformer model = two_hop_solution();
  std::unique_ptr<Task> task = make_task("matching", {"orders=1,2,3", "split=test"});
  const std::vector<Example> examples = generate_examples(*task, 200, 3);
  const HopsTaken hops = hops_taken(model, examples);
  for (const char* group : {"all", "test/order1", "test/order2", "test/order3"}) {
    ASSERT_TRUE(hops.not_in_prompt.count(group)) << group;
    EXPECT_LE(hops.not_in_prompt.at(group), hops.elsewhere.at(group) + 1e-12) << group;
    EXPECT_LE(hops.not_in_prompt.at(group), 0.02) << group;  // two hops on: a node of the prompt
  }
  EXPECT_NE(format_hops_taken(hops).find("not in prompt"), std::string::npos);

  {
    torch::NoGradGuard no_grad;
    model->named_parameters()["unembed.W_U"].zero_();
  }
  const HopsTaken padding = hops_taken(model, examples);
  EXPECT_DOUBLE_EQ(padding.not_in_prompt.at("all"), 1.0);
  EXPECT_DOUBLE_EQ(padding.elsewhere.at("all"), 1.0);
}

TEST(HopsTakenTest, ExamplesWithoutChainsAreRefusedByName) {
  HookedTransformer model = build_matching_solution({});
  std::unique_ptr<Task> task = make_task("logic", {});
  const std::vector<Example> examples = generate_examples(*task, 3, 1);
  EXPECT_TRUE(testing::throws_with<InputError>([&] { hops_taken(model, examples); },
                                               "example 0 has no 'chain' and 'path' annotations"));
}

}  // namespace
}  // namespace mechlens
