// Position selections: numbers and named spans through one parser, with the exact error classes.
#include "core/selection.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "test_util.h"
#include "util/error.h"

namespace mechlens {
namespace {

// Two spans over three prompts: "query" (width 2 everywhere) and "rule" (width 1, 2, 1).
std::vector<PositionSpan> known_spans() {
  return {{"query", {{5, 7}, {6, 8}, {4, 6}}}, {"rule", {{0, 1}, {1, 3}, {2, 3}}}};
}

TEST(SelectionTest, NumbersResolvePerPromptFromEachPromptsEnd) {
  const PositionSelection last_two = PositionSelection::parse("-2:", "--positions", nullptr);
  EXPECT_FALSE(last_two.named());
  EXPECT_FALSE(last_two.is_all());
  const auto kept = last_two.per_prompt({4, 6});
  EXPECT_EQ(kept, (std::vector<std::vector<int64_t>>{{2, 3}, {4, 5}}));
  EXPECT_TRUE(PositionSelection::parse("all", "--positions", nullptr).is_all());
}

TEST(SelectionTest, NamedSpansAreTakenInTheOrderNamed) {
  const auto known = known_spans();
  const PositionSelection chosen = PositionSelection::parse("rule,query", "--positions", &known);
  ASSERT_TRUE(chosen.named());
  ASSERT_EQ(chosen.spans().size(), 2u);
  EXPECT_EQ(chosen.spans()[0].name, "rule");
  EXPECT_EQ(chosen.spans()[1].name, "query");
  EXPECT_EQ(PositionSelection::parse("spans", "--positions", &known).spans().size(), 2u);
}

TEST(SelectionTest, FixedWidthSpansResolveToTheirPositions) {
  const auto known = known_spans();
  const auto kept = PositionSelection::parse("query", "--positions", &known).per_prompt({9, 9, 9});
  EXPECT_EQ(kept, (std::vector<std::vector<int64_t>>{{5, 6}, {6, 7}, {4, 5}}));
}

TEST(SelectionTest, SpansOfVaryingWidthCannotMakeARectangularSelection) {
  const auto known = known_spans();
  EXPECT_TRUE(testing::throws_with<InputError>(
      [&] {
        PositionSelection::parse("rule", "--positions", &known).per_prompt({9, 9, 9});
      },
      "span 'rule' covers 1 positions in prompt 0 but 2 in prompt 1"));
}

TEST(SelectionTest, ASpanPastAShortPromptIsRefused) {
  const auto known = known_spans();
  EXPECT_TRUE(testing::throws_with<InputError>(
      [&] {
        PositionSelection::parse("query", "--positions", &known).per_prompt({9, 7, 9});
      },
      "span 'query' of prompt 1 is [6, 8), outside its 7 tokens"));
}

TEST(SelectionTest, UnknownSpanNamesTheKnownOnes) {
  const auto known = known_spans();
  EXPECT_TRUE(testing::throws_with<InputError>([&] { PositionSelection::parse("query,rules", "--positions", &known); },
                                               "unknown span 'rules'; these prompts name query, rule"));
}

TEST(SelectionTest, NamesWithoutATaskPointToTheTaskOption) {
  EXPECT_TRUE(testing::throws_with<InputError>([] { PositionSelection::parse("query", "--positions", nullptr); },
                                               "use --task"));
}

TEST(SelectionTest, AMalformedIndexIsAParseErrorNamingTheBadPart) {
  const auto known = known_spans();
  EXPECT_TRUE(testing::throws_with<InputError>([&] { PositionSelection::parse("3:x", "--positions", &known); },
                                               "'x' is not an integer"));
}

TEST(SelectionTest, NumbersKeepingDifferentCountsPerPromptAreRefused) {
  EXPECT_TRUE(testing::throws_with<InputError>(
      [] {
        PositionSelection::parse("2:", "--positions", nullptr).per_prompt({4, 6});
      },
      "keeps 2 positions of prompt 0 but 4 of prompt 1"));
}

TEST(SelectionTest, PositionsAreNamedByTheNarrowestSpanHoldingThemInEveryPrompt) {
  // "query" is [5, 7) / [5, 8) / [4, 6): only position 5 is in it for every prompt.
  std::vector<PositionSpan> spans = known_spans();
  spans[0].per_prompt[1] = {5, 8};
  spans.push_back({"wide", {{0, 9}, {0, 9}, {0, 9}}});
  const auto roles = position_roles(spans, 9);
  EXPECT_EQ(roles[5], "query");  // narrower than "wide"
  EXPECT_EQ(roles[6], "wide");   // prompt 2's query ends at 6
  EXPECT_EQ(roles[2], "wide");   // "rule" moves: [0, 1), [1, 3), [2, 3) share no position
  EXPECT_EQ(roles[8], "wide");
  EXPECT_EQ(position_roles(known_spans(), 9)[2], "");
}

TEST(SelectionTest, SpansAreValidatedAgainstTheBatch) {
  EXPECT_THROW(validate_spans(known_spans(), 2, 9), InputError);  // three prompts' spans for two prompts
  EXPECT_THROW(validate_spans(known_spans(), 3, 7), InputError);  // query of prompt 1 ends at 8
  EXPECT_NO_THROW(validate_spans(known_spans(), 3, 9));
}

}  // namespace
}  // namespace mechlens

namespace mechlens {
namespace {

TEST(SelectionTest, SpanMaskMarksEachPromptsRangeAndNothingForAnEmptyOne) {
  const torch::Tensor mask = span_mask({{1, 3}, {0, 0}, {4, 5}}, 5);
  const torch::Tensor expected = torch::tensor({{0, 1, 1, 0, 0}, {0, 0, 0, 0, 0}, {0, 0, 0, 0, 1}}).to(torch::kBool);
  EXPECT_TRUE(torch::equal(mask, expected));
}

}  // namespace
}  // namespace mechlens
