// The papers' task generators: formats, the split and OOD rules, semantics, annotations, pairs.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <set>

#include "tasks/logic_task.h"
#include "tasks/matching_task.h"
#include "tasks/task_factory.h"
#include "test_util.h"
#include "util/error.h"

namespace mechlens {
namespace {

// Follows `k` edges from `start` through the (parent, child) pairs of a matching prompt.
int64_t follow(const std::vector<int64_t>& prompt, int64_t n_pairs, int64_t start, int64_t k) {
  std::map<int64_t, int64_t> child;
  for (int64_t i = 0; i < n_pairs; ++i) child[prompt[2 * i]] = prompt[2 * i + 1];
  for (int64_t hop = 0; hop < k; ++hop) start = child.at(start);
  return start;
}

TEST(MatchingTaskTest, WorkedExampleShapeAndSplitRule) {
  MatchingTask train({MatchingLayout::kSingleChain, MatchingSplit::kTrain, {2}, 13});
  MatchingTask test({MatchingLayout::kSingleChain, MatchingSplit::kTest, {2}, 13});
  const auto train_examples = generate_examples(train, 300, 1);
  const auto test_examples = generate_examples(test, 300, 1);
  for (const auto* set : {&train_examples, &test_examples}) {
    const bool is_train = set == &train_examples;
    for (const auto& e : *set) {
      ASSERT_EQ(e.prompt.size(), 13u);
      ASSERT_EQ(e.answer.size(), 1u);
      for (int i = 0; i < 6; ++i) {
        const int64_t residue = ((e.prompt[2 * i + 1] - e.prompt[2 * i]) % 5 + 5) % 5;
        const bool in_train_set = residue == 0 || residue == 1 || residue == 4;
        EXPECT_EQ(in_train_set, is_train) << train.render(e);
        EXPECT_GE(e.prompt[2 * i], 1);
        EXPECT_LE(e.prompt[2 * i + 1], 100);
      }
      EXPECT_EQ(follow(e.prompt, 6, e.prompt[12], 2), e.answer[0]) << train.render(e);
      EXPECT_EQ(e.annotations.at("query_pos")[0], 12);
      EXPECT_EQ(e.annotations.at("path")[2], e.answer[0]);
    }
  }
}

TEST(MatchingTaskTest, OodKeepsOnlyAnswerAndParentInDistribution) {
  MatchingTask ood({MatchingLayout::kSingleChain, MatchingSplit::kOod, {2}, 13});
  for (const auto& e : generate_examples(ood, 200, 3)) {
    const auto& path = e.annotations.at("path");  // query, parent of the answer, answer
    std::set<int64_t> in_distribution;
    for (int64_t token : e.prompt) {
      if (token <= 100) in_distribution.insert(token);
    }
    EXPECT_EQ(in_distribution, (std::set<int64_t>{path[1], path[2]})) << ood.render(e);
    EXPECT_GT(e.prompt.back(), 100);
    EXPECT_EQ(follow(e.prompt, 6, e.prompt[12], 2), e.answer[0]);
  }
}

// The decoy split: the answer, its parent and one more edge off the path are in distribution, so the
// answer is no longer "the child of the in-distribution edge"; the chain still leads to it.
TEST(MatchingTaskTest, OodDecoyAddsOneInDistributionEdgeApartFromThePath) {
  struct Case {
    MatchingLayout layout;
    int64_t k, seq_len;
  };
  for (const Case c : {Case{MatchingLayout::kSingleChain, 2, 13}, Case{MatchingLayout::kSingleChain, 4, 13},
                       Case{MatchingLayout::kNoisedDoubleChain, 2, 25}}) {
    MatchingTask task({c.layout, MatchingSplit::kOodDecoy, {c.k}, c.seq_len});
    std::set<int64_t> decoy_children;
    for (const auto& e : generate_examples(task, 300, 4)) {
      const auto& path = e.annotations.at("path");
      const auto& decoy = e.annotations.at("decoy");  // parent, child
      ASSERT_EQ(decoy.size(), 2u);
      std::set<int64_t> in_distribution;
      for (int64_t token : e.prompt) {
        if (token <= 100) in_distribution.insert(token);
      }
      EXPECT_EQ(in_distribution, (std::set<int64_t>{path[c.k - 1], path[c.k], decoy[0], decoy[1]})) << task.render(e);
      bool decoy_is_an_edge = false;
      for (size_t i = 0; i + 1 < e.prompt.size(); i += 2) {
        decoy_is_an_edge |= e.prompt[i] == decoy[0] && e.prompt[i + 1] == decoy[1];
        // Apart from the path: the decoy does not start at the answer's child.
        if (e.prompt[i] == path[c.k]) {
          EXPECT_NE(e.prompt[i + 1], decoy[0]) << task.render(e);
        }
      }
      EXPECT_TRUE(decoy_is_an_edge) << task.render(e);
      EXPECT_EQ(std::count(path.begin(), path.end(), decoy[0]) + std::count(path.begin(), path.end(), decoy[1]), 0);
      const int64_t query_pos = e.annotations.at("query_pos")[0];
      EXPECT_GT(e.prompt[size_t(query_pos)], 100);
      if (c.layout == MatchingLayout::kSingleChain) {
        EXPECT_EQ(follow(e.prompt, 6, e.prompt[12], c.k), e.answer[0]) << task.render(e);
      }
      decoy_children.insert(decoy[1]);
    }
    EXPECT_GT(decoy_children.size(), 50u);  // drawn, not fixed
  }
  // One chain of 6 edges cannot hold a 5-hop path and a decoy apart from it.
  EXPECT_TRUE(testing::throws_with<InputError>(
      [] {
        MatchingTask({MatchingLayout::kSingleChain, MatchingSplit::kOodDecoy, {5}, 13});
      },
      "ood_decoy with order 5 needs at least 7 edges per chain"));
  EXPECT_TRUE(testing::throws_with<InputError>([] { make_task("matching", {"split=decoy"}); },
                                               "expected train, test, ood or ood_decoy"));
}

TEST(MatchingTaskTest, LayoutsAndMixedOrders) {
  MatchingTask doubled({MatchingLayout::kNoisedDoubleChain, MatchingSplit::kTrain, {1, 2, 3}, 25});
  std::set<int64_t> orders;
  for (const auto& e : generate_examples(doubled, 200, 5)) {
    ASSERT_EQ(e.prompt.size(), 25u);
    const int64_t k = e.annotations.at("order")[0];
    orders.insert(k);
    EXPECT_EQ(e.answer[0], e.annotations.at("chain").back());  // k hops to the chain's end
    // With a distractor edge into the chain, the start still has one path forward.
    EXPECT_EQ(follow(e.prompt, 12, e.prompt[24], k), e.answer[0]) << doubled.render(e);
  }
  EXPECT_EQ(orders, (std::set<int64_t>{1, 2, 3}));
  MatchingTask with_order({MatchingLayout::kSingleChainWithOrder, MatchingSplit::kTrain, {1, 3}, 14});
  for (const auto& e : generate_examples(with_order, 50, 6)) {
    ASSERT_EQ(e.prompt.size(), 14u);
    EXPECT_EQ(e.prompt[13], e.annotations.at("order")[0]);  // the step count is a token
    EXPECT_EQ(follow(e.prompt, 6, e.prompt[12], e.prompt[13]), e.answer[0]);
  }
}

TEST(MatchingTaskTest, CounterfactualChangesOnlyTheStartAndTheAnswer) {
  for (auto layout : {MatchingLayout::kSingleChain, MatchingLayout::kNoisedDoubleChain}) {
    MatchingTask task({layout, MatchingSplit::kTrain, {2}, layout == MatchingLayout::kSingleChain ? 13 : 25});
    const auto clean = generate_examples(task, 100, 8);
    const auto corrupt = generate_counterfactuals(task, clean, 8);
    for (size_t i = 0; i < clean.size(); ++i) {
      const int64_t q = clean[i].annotations.at("query_pos")[0];
      ASSERT_EQ(corrupt[i].prompt.size(), clean[i].prompt.size());
      for (size_t j = 0; j < clean[i].prompt.size(); ++j) {
        EXPECT_EQ(corrupt[i].prompt[j] != clean[i].prompt[j], static_cast<int64_t>(j) == q);
      }
      EXPECT_NE(corrupt[i].answer[0], clean[i].answer[0]);
      EXPECT_EQ(follow(corrupt[i].prompt, q / 2, corrupt[i].prompt[q], 2), corrupt[i].answer[0]);
    }
  }
}

TEST(LogicTaskTest, ReproducesThePapersWorkedExample) {
  LogicTask task({3, 0.8, LogicOperator::kOr});
  // Y=24 G=6 F=5 (branch 1), X=23 J=9 (branch 2), Z=25 R=17 T=19 (linear); "J or G implies F".
  const Example e = task.make_problem({24, 6, 5}, {23, 9, 0}, {25, 17, 19}, /*disjuncts_swapped=*/true,
                                      /*logop_first=*/true, /*fact_order=*/{1, 0, 2}, {true, false, true},
                                      /*query_logop=*/true);
  EXPECT_EQ(e.prompt,
            (std::vector<int64_t>{24, 31, 6,  41, 23, 31, 9,  41, 9,  28, 6,  31, 5,  41, 25, 31, 17, 41, 17,
                                  31, 19, 41, 34, 23, 37, 41, 24, 36, 41, 25, 36, 41, 35, 39, 5,  41, 40, 42}));
  EXPECT_EQ(e.answer, (std::vector<int64_t>{24, 36, 41, 24, 31, 6, 43, 6, 36, 41, 9, 28, 6, 31, 5, 43, 5, 36, 41, 44}));
  EXPECT_EQ(task.render(e),
            "Y implies G. X implies J. J or G implies F. Z implies R. R implies T. Facts: X false. "
            "Y true. Z true. Query F. Answer: Y true. Y implies G; G true. J or G implies F; F true. <eos>");
  EXPECT_EQ(e.annotations.at("queried_first"), std::vector<int64_t>{1});  // the LogOp chain, listed first
  Rng rng(0);
  const Example flipped = task.counterfactual(e, rng);
  EXPECT_EQ(flipped.prompt[34], 19);                                            // Query T
  EXPECT_EQ(flipped.annotations.at("queried_first"), std::vector<int64_t>{0});  // the linear chain, listed second
  EXPECT_EQ(task.render(flipped).substr(task.render(flipped).find("Answer:")),
            "Answer: Z true. Z implies R; R true. R implies T; T true. <eos>");
}

TEST(LogicTaskTest, AnnotationsPointAtTheRightTokens) {
  LogicTask task({3, 0.8, LogicOperator::kOr});
  int64_t logop = 0;
  const auto examples = generate_examples(task, 2000, 11);
  for (const auto& e : examples) {
    const auto& a = e.annotations;
    ASSERT_EQ(e.prompt.size(), 38u);
    EXPECT_EQ(e.prompt.back(), logic_tokens::kAnswer);
    const int64_t q = a.at("query_pos")[0];
    EXPECT_EQ(e.prompt[q - 1], logic_tokens::kStartQuery);
    logop += a.at("queried_chain")[0] == 0;
    // The queried rule concludes the query variable; the correct fact starts with the first answer.
    const auto& rule = a.at("queried_rule");
    EXPECT_EQ(e.prompt[rule[1] - 2], e.prompt[q]);
    EXPECT_EQ(e.prompt[a.at("correct_fact")[0]], e.answer[0]);
    EXPECT_EQ(a.at("first_answer")[0], e.answer[0]);
    const auto& facts = a.at("fact_spans");
    for (int f = 0; f < 3; ++f) EXPECT_EQ(e.prompt[facts[2 * f + 1] - 1], logic_tokens::kSep);
    EXPECT_EQ(a.at("answer_length")[0], static_cast<int64_t>(e.answer.size()));
    EXPECT_EQ(e.answer.back(), logic_tokens::kEos);
    // Semantics: the query is TRUE iff its chain has a TRUE source (OR: either branch).
    const auto& t = a.at("truths");
    const bool expected = a.at("queried_chain")[0] == 0 ? (t[0] || t[1]) : t[2] != 0;
    EXPECT_EQ(e.answer[e.answer.size() - 3], expected ? logic_tokens::kTrue : logic_tokens::kUndetermined);
  }
  EXPECT_NEAR(static_cast<double>(logop) / 2000.0, 0.8, 0.03);
}

TEST(LogicTaskTest, NamedSpansCoverTheirRegions) {
  LogicTask task({3, 0.8, LogicOperator::kOr});
  const std::vector<std::string> names = task.span_names();
  auto span = [&](const std::vector<std::pair<int64_t, int64_t>>& spans, const std::string& name) {
    return spans[size_t(std::find(names.begin(), names.end(), name) - names.begin())];
  };
  for (const auto& e : generate_examples(task, 200, 12)) {
    const auto spans = task.span_positions(e);
    ASSERT_EQ(spans.size(), names.size());
    const int64_t q = e.annotations.at("query_pos")[0];
    EXPECT_EQ(span(spans, "query"), (std::pair<int64_t, int64_t>{q, q + 1}));
    EXPECT_EQ(span(spans, "answer_position").first, int64_t(e.prompt.size()) - 1);
    // The LogOp rule holds the OR token; the two chains' blocks tile the rules.
    const auto [op_begin, op_end] = span(spans, "logop_rule");
    EXPECT_EQ(e.prompt[size_t(op_begin + 1)], logic_tokens::kDisj);
    EXPECT_EQ(op_end - op_begin, 6);
    const auto logop = span(spans, "logop_chain_rules"), linear = span(spans, "linear_chain_rules");
    const auto rules = span(spans, "rules");
    EXPECT_EQ((logop.second - logop.first) + (linear.second - linear.first), rules.second - rules.first);
    EXPECT_EQ(std::min(logop.first, linear.first), rules.first);
    EXPECT_EQ(op_end, logop.second);
    EXPECT_EQ(span(spans, "queried_rule").first, e.annotations.at("queried_rule")[0]);
    EXPECT_EQ(e.prompt[size_t(span(spans, "facts").second)], logic_tokens::kEndFact);
  }
}

TEST(MatchingTaskTest, PaperRangesLeaveOut100And200AndFullRangesUseThem) {
  auto nodes = [](const std::string& ranges, const std::string& split) {
    std::vector<std::string> options{"split=" + split};
    if (!ranges.empty()) options.push_back("ranges=" + ranges);
    const std::unique_ptr<Task> task = make_task("matching", options);
    std::set<int64_t> seen;
    for (const auto& e : generate_examples(*task, 2000, 3)) {
      seen.insert(e.prompt.begin(), e.prompt.end());
      seen.insert(e.answer.begin(), e.answer.end());
    }
    return seen;
  };
  for (const std::string split : {"train", "test", "ood"}) {
    const std::set<int64_t> paper = nodes("", split);  // the default
    EXPECT_EQ(paper.count(100) + paper.count(200), 0u) << split;
    EXPECT_EQ(nodes("paper", split), paper) << split;
    EXPECT_LE(*paper.rbegin(), split == "ood" ? 199 : 99) << split;
  }
  EXPECT_EQ(nodes("full", "train").count(100), 1u);
  EXPECT_EQ(nodes("full", "ood").count(200), 1u);
  EXPECT_THROW(make_task("matching", {"ranges=wide"}), InputError);
}

TEST(MatchingTaskTest, NodeIdsFollowTheRangesTheTaskSettingsName) {
  // Every node a task draws lies in matching_node_ids of the ranges its settings JSON names.
  for (const std::string ranges : {"paper", "full"}) {
    for (const std::string split : {"train", "ood"}) {
      const std::unique_ptr<Task> task = make_task("matching", {"split=" + split, "ranges=" + ranges});
      const MatchingRanges named = matching_ranges_of(task->settings_json(), "test").value();
      EXPECT_EQ(named, parse_matching_ranges(ranges));
      const std::vector<int64_t> ids = matching_node_ids(named, split == "ood");
      const std::set<int64_t> allowed(ids.begin(), ids.end());
      for (const auto& e : generate_examples(*task, 500, 5)) {
        // OOD prompts keep the answer and its parent in distribution (tested above); the start is OOD.
        const int64_t start = e.prompt.back();
        EXPECT_EQ(allowed.count(start), 1u) << ranges << " " << split << ": start " << start;
      }
    }
  }
  EXPECT_EQ(matching_node_ids(MatchingRanges::kPaper, false).size(), 99u);
  EXPECT_EQ(matching_node_ids(MatchingRanges::kFull, true).back(), 200);
  // Settings written before the option existed name no ranges: those tasks drew from the full ones.
  EXPECT_EQ(matching_ranges_of(R"({"task":"matching","orders":[2]})", "old").value(), MatchingRanges::kFull);
  EXPECT_FALSE(matching_ranges_of(R"({"task":"logic"})", "x").has_value());
  EXPECT_THROW(matching_ranges_of("{", "x"), InputError);
  EXPECT_THROW(matching_ranges_of(R"({"task":"matching","ranges":3})", "x"), InputError);
  // The task says itself whether its problems state the hop count they ask for.
  EXPECT_TRUE(MatchingTask({MatchingLayout::kSingleChain, MatchingSplit::kTrain, {1, 2}, 13}).hop_count_ambiguous());
  EXPECT_FALSE(MatchingTask({MatchingLayout::kSingleChain, MatchingSplit::kTrain, {2}, 13}).hop_count_ambiguous());
  EXPECT_FALSE(
      MatchingTask({MatchingLayout::kSingleChainWithOrder, MatchingSplit::kTrain, {1, 2}, 14}).hop_count_ambiguous());
}

TEST(MatchingTaskTest, NamedSpansPointAtTheHopEdges) {
  MatchingTask task(MatchingSettings{});
  const std::vector<std::string> names = task.span_names();
  EXPECT_EQ(names, (std::vector<std::string>{"query", "hop1_edge", "hop1_parent", "hop1_child", "hop2_edge",
                                             "hop2_parent", "hop2_child", "answer_position"}));
  for (const auto& e : generate_examples(task, 200, 13)) {
    const auto spans = task.span_positions(e);
    const auto& path = e.annotations.at("path");
    for (int64_t j = 1; j <= 2; ++j) {
      const auto [begin, end] = spans[size_t(3 * j - 2)];  // hopJ_edge, then its parent and child
      ASSERT_EQ(end - begin, 2);
      EXPECT_EQ(e.prompt[size_t(begin)], path[size_t(j - 1)]);
      EXPECT_EQ(e.prompt[size_t(begin + 1)], path[size_t(j)]);
      EXPECT_EQ(spans[size_t(3 * j - 1)], (std::pair<int64_t, int64_t>{begin, begin + 1}));
      EXPECT_EQ(spans[size_t(3 * j)], (std::pair<int64_t, int64_t>{begin + 1, end}));
    }
    EXPECT_EQ(spans[0].first, e.annotations.at("query_pos")[0]);
  }
}

TEST(LogicTaskTest, MinimalProofCitesOnlyTheNeededBranch) {
  LogicTask task({3, 1.0, LogicOperator::kOr});
  auto answer_for = [&](bool t1, bool t2) {
    return task.make_problem({0, 1, 2}, {3, 4, 5}, {6, 7, 8}, false, true, {0, 1, 2}, {t1, t2, true}, true).answer;
  };
  EXPECT_EQ(answer_for(false, true)[0], 3);                     // only the TRUE branch (v2)
  EXPECT_EQ(answer_for(true, false)[0], 0);                     // only the TRUE branch (v1)
  EXPECT_EQ(answer_for(true, true).size(), 3u + 7 + 9 + 1);     // branch 1 alone
  EXPECT_EQ(answer_for(false, false).size(), 6u + 14 + 9 + 1);  // both facts, both branches
  LogicTask conj({3, 1.0, LogicOperator::kAnd});
  const auto both =
      conj.make_problem({0, 1, 2}, {3, 4, 5}, {6, 7, 8}, false, true, {0, 1, 2}, {true, true, true}, true);
  EXPECT_EQ(both.answer.size(), 6u + 14 + 9 + 1);
  EXPECT_EQ(both.prompt[9], logic_tokens::kConj);
}

TEST(LogicTaskTest, AuthorsFormatCitesTwoFactsAsOneStatementAndEndsWithoutEos) {
  using namespace logic_tokens;
  LogicSettings settings;
  settings.logop_share = 1.0;
  LogicTask ours(settings);
  settings.format = LogicFormat::kAuthors;
  LogicTask authors(settings);
  auto problem = [](const LogicTask& task, bool t1, bool t2) {
    return task.make_problem({0, 1, 2}, {3, 4, 5}, {6, 7, 8}, false, true, {0, 1, 2}, {t1, t2, true}, true);
  };
  // OR with both inputs FALSE: "A FALSE D FALSE ." where mechlens writes "A FALSE . D FALSE ."
  const Example both = problem(authors, false, false), both_ours = problem(ours, false, false);
  EXPECT_EQ(std::vector<int64_t>(both.answer.begin(), both.answer.begin() + 5),
            (std::vector<int64_t>{0, kFalse, 3, kFalse, kSep}));
  EXPECT_EQ(std::vector<int64_t>(both_ours.answer.begin(), both_ours.answer.begin() + 6),
            (std::vector<int64_t>{0, kFalse, kSep, 3, kFalse, kSep}));
  EXPECT_EQ(both.answer.size() + 2, both_ours.answer.size());  // one SEP and the EOS fewer
  EXPECT_NE(both.answer.back(), kEos);
  // One cited fact: the same proof without the EOS (the paper's worked example ends so).
  const Example one = problem(authors, true, false), one_ours = problem(ours, true, false);
  EXPECT_EQ(one.answer, std::vector<int64_t>(one_ours.answer.begin(), one_ours.answer.end() - 1));
  EXPECT_EQ(authors.end_token(), -1);
  EXPECT_EQ(ours.end_token(), kEos);
  EXPECT_NE(make_task("logic", {"format=authors"})->settings_json().find("\"format\":\"authors\""), std::string::npos);
  EXPECT_TRUE(testing::throws_with<InputError>([] { make_task("logic", {"format=paper"}); },
                                               "logic format 'paper' is unknown"));
}

TEST(LogicTaskTest, ProofPrefixMovesTheFirstProofTokensIntoThePrompt) {
  // Query flips draw no extra randomness: the same seed gives the same problems, with K proof tokens moved.
  const auto plain = generate_examples(*make_task("logic", {}), 200, 21);
  const auto task = make_task("logic", {"proof_prefix=3"});
  const auto moved = generate_examples(*task, 200, 21);
  const auto partners = generate_counterfactuals(*task, moved, 21);
  for (size_t i = 0; i < plain.size(); ++i) {
    std::vector<int64_t> prompt = plain[i].prompt;
    prompt.insert(prompt.end(), plain[i].answer.begin(), plain[i].answer.begin() + 3);
    ASSERT_EQ(moved[i].prompt, prompt);
    EXPECT_EQ(moved[i].answer, std::vector<int64_t>(plain[i].answer.begin() + 3, plain[i].answer.end()));
    EXPECT_EQ(moved[i].annotations.at("first_answer")[0], plain[i].answer[3]);
    EXPECT_EQ(moved[i].annotations.at("answer_length")[0], int64_t(plain[i].answer.size()) - 3);
    EXPECT_EQ(moved[i].annotations.at("query_pos"), plain[i].annotations.at("query_pos"));
    EXPECT_EQ(partners[i].prompt.size(), moved[i].prompt.size());
    EXPECT_NE(partners[i].annotations.at("queried_chain"), moved[i].annotations.at("queried_chain"));
  }
  EXPECT_NE(task->settings_json().find("\"proof_prefix\":3"), std::string::npos);
  EXPECT_EQ(make_task("logic", {})->settings_json().find("proof_prefix"), std::string::npos);
}

TEST(LogicTaskTest, FactFlipPairsDifferInOneTruthValueAndFirstDisagreeAtTheProofStepAsked) {
  using namespace logic_tokens;
  for (int64_t k : {0, 1}) {
    const auto task = make_task("logic", {"counterfactual=fact-flip", fmt::format("proof_prefix={}", k)});
    EXPECT_EQ(task->counterfactual_kind(), "fact-flip");
    const auto clean = generate_examples(*task, 300, 5);
    const auto flipped = generate_counterfactuals(*task, clean, 5);
    std::set<std::string> groups;
    for (size_t i = 0; i < clean.size(); ++i) {
      const Example &a = clean[i], &b = flipped[i];
      ASSERT_EQ(a.prompt.size(), b.prompt.size());
      // The one changed token is the truth value of the fact the clean proof cites first.
      std::vector<size_t> changed;
      for (size_t p = 0; p < a.prompt.size(); ++p) {
        if (a.prompt[p] != b.prompt[p]) changed.push_back(p);
      }
      const int64_t fact_begin = a.annotations.at("correct_fact")[0];
      ASSERT_EQ(changed, std::vector<size_t>{size_t(fact_begin + 1)}) << task->render(a) << " / " << task->render(b);
      const int64_t source = a.annotations.at("flipped_fact")[0];
      EXPECT_EQ(a.prompt[size_t(fact_begin)], a.annotations.at(source == 0 ? "v1" : source == 1 ? "v2" : "v3")[0]);
      EXPECT_EQ(b.annotations.at("flipped_fact"), a.annotations.at("flipped_fact"));
      // Same proof so far, a different next token.
      EXPECT_NE(a.answer[0], b.answer[0]);
      if (k == 1) {
        EXPECT_TRUE(a.answer[0] == kTrue || a.answer[0] == kFalse);
        EXPECT_EQ(a.prompt.back(), a.prompt[size_t(fact_begin)]);  // the cited fact's variable
      }
      groups.insert(a.group);
    }
    // A changed plan needs a LogOp query; a changed truth value comes from both kinds.
    const std::set<std::string> expected =
        k == 0 ? std::set<std::string>{"logop"} : std::set<std::string>{"logop", "linear"};
    EXPECT_EQ(groups, expected);
  }
  EXPECT_TRUE(testing::throws_with<InputError>(
      [] {
        make_task("logic", {"counterfactual=fact-flip", "proof_prefix=2"});
      },
      "proof_prefix must be 0 or 1"));
  EXPECT_TRUE(testing::throws_with<InputError>([] { make_task("logic", {"proof_prefix=18"}); },
                                               "logic proof_prefix 18 must be in 0..17"));
  EXPECT_TRUE(testing::throws_with<InputError>([] { make_task("logic", {"counterfactual=rule"}); },
                                               "logic counterfactual 'rule' is unknown"));
  EXPECT_TRUE(testing::throws_with<InputError>(
      [] {
        make_task("logic", {"counterfactual=fact-flip", "logop_share=0"});
      },
      "needs LogOp queries"));
}

// Rule-order and distractor pairs keep the answer (the proof does not depend on what they change),
// disjunct-order pairs keep it up to the restated rule, where the disjuncts trade places; all keep
// the prompt's length and change exactly what they name.
TEST(LogicTaskTest, AnswerKeepingPairsMoveOrRenameOnlyWhatTheProofDoesNotUse) {
  for (const char* kind : {"rule-order", "disjunct-order", "distractor"}) {
    const auto task = make_task("logic", {std::string("counterfactual=") + kind});
    EXPECT_EQ(task->counterfactual_kind(), kind);
    const auto clean = generate_examples(*task, 200, 9);
    const auto other = generate_counterfactuals(*task, clean, 9);
    int64_t prompts_changed = 0;
    for (size_t i = 0; i < clean.size(); ++i) {
      const Example &a = clean[i], &b = other[i];
      ASSERT_EQ(a.prompt.size(), b.prompt.size()) << kind;
      if (std::string(kind) == "disjunct-order") {
        // A LogOp proof restates the rule as written: its two disjuncts trade places there.
        ASSERT_EQ(a.answer.size(), b.answer.size());
        std::vector<size_t> differ;
        for (size_t p = 0; p < a.answer.size(); ++p) {
          if (a.answer[p] != b.answer[p]) differ.push_back(p);
        }
        ASSERT_TRUE(differ.empty() || differ.size() == 2) << task->render(a) << " / " << task->render(b);
        if (differ.size() == 2) {
          EXPECT_EQ(a.answer[differ[0]], b.answer[differ[1]]);
          EXPECT_EQ(a.answer[differ[1]], b.answer[differ[0]]);
          EXPECT_EQ(a.answer[differ[0] + 1], logic_tokens::kDisj);  // "X or H"
        }
      } else {
        EXPECT_EQ(a.answer, b.answer) << kind << ": " << task->render(a) << " / " << task->render(b);
      }
      prompts_changed += a.prompt != b.prompt;
      // The same multiset of tokens for the order swaps: only positions move.
      std::vector<int64_t> sorted_a = a.prompt, sorted_b = b.prompt;
      std::sort(sorted_a.begin(), sorted_a.end());
      std::sort(sorted_b.begin(), sorted_b.end());
      const bool queried_logop = a.annotations.at("queried_chain")[0] == 0;
      if (std::string(kind) != "distractor") {
        EXPECT_EQ(sorted_a, sorted_b) << kind;
        EXPECT_EQ(a.annotations.at("structure")[std::string(kind) == "rule-order" ? 1 : 0],
                  1 - b.annotations.at("structure")[std::string(kind) == "rule-order" ? 1 : 0]);
      } else {
        // The queried chain keeps its variables; the other chain's are all new to the problem.
        const std::vector<std::string> queried =
            queried_logop ? std::vector<std::string>{"v1", "v2"} : std::vector<std::string>{"v3"};
        const std::vector<std::string> renamed =
            queried_logop ? std::vector<std::string>{"v3"} : std::vector<std::string>{"v1", "v2"};
        for (const auto& name : queried) EXPECT_EQ(a.annotations.at(name), b.annotations.at(name));
        for (const auto& name : renamed) {
          for (int64_t v : b.annotations.at(name)) {
            for (const char* chain : {"v1", "v2", "v3"}) {
              const auto& used = a.annotations.at(chain);
              EXPECT_EQ(std::find(used.begin(), used.end(), v), used.end()) << "variable " << v << " reused";
            }
          }
        }
      }
    }
    // Every distractor and rule-order pair changes the prompt; disjunct order too.
    EXPECT_EQ(prompts_changed, int64_t(clean.size())) << kind;
  }
}

TEST(TaskFactoryTest, DeterministicAndValidated) {
  auto task = make_task("matching", {"orders=1,2", "seq_len=15"});
  const auto a = generate_examples(*task, 50, 4), b = generate_examples(*task, 50, 4),
             c = generate_examples(*task, 50, 5);
  bool differs = false;
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].prompt, b[i].prompt);
    differs = differs || a[i].prompt != c[i].prompt;
  }
  EXPECT_TRUE(differs);
  // A prefix of a larger run is the smaller run.
  EXPECT_EQ(generate_examples(*task, 10, 4)[9].prompt, a[9].prompt);
  EXPECT_TRUE(testing::throws_with<InputError>([] { make_task("matching", {"order=2"}); }, "no option 'order'"));
  EXPECT_TRUE(
      testing::throws_with<InputError>([] { make_task("matching", {"orders=6"}); }, "order 6 needs 1 <= k < 6"));
  EXPECT_TRUE(testing::throws_with<InputError>([] { make_task("logic", {"depth=9"}); }, "logic depth 9"));
  EXPECT_TRUE(testing::throws_with<InputError>([] { make_task("sudoku", {}); }, "unknown task 'sudoku'"));
}

TEST(TaskOptionsTest, OverridesReplaceTheirKeyInPlaceAndAddNewKeys) {
  const std::vector<std::string> grid{"layout=single_chain_with_order", "seq_len=14", "orders=1,2,3,4,5"};
  EXPECT_EQ(override_task_options(grid, {}), grid);
  EXPECT_EQ(override_task_options(grid, {"orders=1", "split=test", "orders=2"}),
            (std::vector<std::string>{"layout=single_chain_with_order", "seq_len=14", "orders=2", "split=test"}));
  // A key is the text before '=': "seq_len" does not match "seq"; a word without '=' reaches make_task.
  EXPECT_EQ(override_task_options({"seq_len=14"}, {"seq=3", "junk"}),
            (std::vector<std::string>{"seq_len=14", "seq=3", "junk"}));
  // The merged options build the task the grid describes with the one setting changed.
  const auto task = make_task("matching", override_task_options(grid, {"orders=1"}));
  const auto& settings = dynamic_cast<const MatchingTask&>(*task).settings();
  EXPECT_EQ(settings.layout, MatchingLayout::kSingleChainWithOrder);
  EXPECT_EQ(settings.seq_len, 14);
  EXPECT_EQ(settings.orders, std::vector<int64_t>{1});
  EXPECT_TRUE(testing::throws_with<InputError>([&] { make_task("matching", override_task_options(grid, {"junk"})); },
                                               "task option 'junk' must be key=value"));
}

}  // namespace
}  // namespace mechlens
