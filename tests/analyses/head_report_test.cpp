// Head naming: thresholds turn evidence into labels of the right kind, a head with pattern labels
// only is marked so, and the reports carry every number.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>

#include "heads/head_report.h"
#include "heads/logic_claims.h"

namespace mechlens {
namespace {

HeadEvidence two_heads() {
  HeadEvidence e;
  e.n_layers = 1, e.n_heads = 2, e.n_prompts = 10;
  e.detectors = {"previous_token", "answer->query"};
  e.detector_mean = torch::tensor({0.9f, 0.1f, 0.2f, 0.6f}).view({2, 1, 2});  // [detector, layer, head]
  e.dla_mean = torch::tensor({{0.5f, -3.0f}});
  e.metric_mean = 10.0;
  e.ablation_drop = torch::tensor({{0.05f, 0.5f}});
  e.ablation = "mean";
  e.matching_score = torch::tensor({{std::nanf(""), 0.7f}});
  return e;
}

bool markdown_mentions(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

TEST(HeadReportTest, ThresholdsGiveLabelsOfTheRightEvidenceKind) {
  const HeadEvidence e = two_heads();
  const std::vector<HeadRole> roles = name_heads(e, HeadThresholds{});
  ASSERT_EQ(roles.size(), 2u);
  // L0H0: a previous-token pattern, nothing else above threshold (DLA 0.05 of the metric, drop 0.05).
  ASSERT_EQ(roles[0].labels.size(), 1u);
  EXPECT_EQ(roles[0].labels[0].name, "previous_token");
  EXPECT_EQ(roles[0].labels[0].kind, "pattern");
  EXPECT_TRUE(roles[0].pattern_only());
  // L0H1: attends to the query, matches, suppresses the answer (−0.3 of it), needed.
  std::vector<std::string> names, kinds;
  for (const HeadLabel& label : roles[1].labels) names.push_back(label.name), kinds.push_back(label.kind);
  EXPECT_EQ(names, (std::vector<std::string>{"answer->query", "matches", "suppresses the answer", "needed"}));
  EXPECT_EQ(kinds, (std::vector<std::string>{"pattern", "weight", "attribution", "causal"}));
  EXPECT_FLOAT_EQ(float(roles[1].labels[2].value), -0.3f);
  EXPECT_FALSE(roles[1].pattern_only());
  // Stricter thresholds remove labels; a head without labels is not "pattern only".
  HeadThresholds strict;
  strict.pattern = 0.95, strict.matching = 0.8, strict.dla_share = 0.5, strict.ablation = 0.6;
  for (const HeadRole& role : name_heads(e, strict)) {
    EXPECT_TRUE(role.labels.empty());
    EXPECT_FALSE(role.pattern_only());
  }
}

TEST(HeadReportTest, ReportsCarryEveryNumberAndMarkPatternOnlyHeads) {
  const HeadEvidence e = two_heads();
  const std::vector<HeadRole> roles = name_heads(e, HeadThresholds{});
  const nlohmann::json json = heads_json(e, HeadThresholds{}, roles);
  EXPECT_EQ(json["heads"].size(), 2u);
  EXPECT_TRUE(json["heads"][0]["pattern_evidence_only"].get<bool>());
  EXPECT_TRUE(json["heads"][0]["matching_score"].is_null());  // NaN: not a hop layer
  EXPECT_FLOAT_EQ(json["heads"][1]["pattern_scores"]["answer->query"].get<float>(), 0.6f);
  EXPECT_FLOAT_EQ(json["heads"][1]["dla"].get<float>(), -3.0f);
  const std::string md = heads_markdown(e, HeadThresholds{}, roles, "Heads");
  EXPECT_NE(md.find("| L0H0 † | previous_token (pattern: 0.900) |"), std::string::npos) << md;
  EXPECT_NE(md.find("| L0H1 | 0.100 | 0.600 | -3.000 | 0.500 | 0.700 |"), std::string::npos) << md;
}

TEST(LogicClaimsTest, QueryAttentionHoldsOnlyWhenOneHeadMeetsBothNumbers) {
  // 2 layers x 2 heads x 4 prompts; prompts 0-1 query the linear chain, 2-3 the LogOp chain.
  const torch::Tensor chains = torch::tensor({1, 1, 0, 0}, torch::kLong);
  torch::Tensor scores = torch::full({2, 2, 4}, 0.5);
  scores[1][1] = torch::tensor({0.95, 0.93, 0.02, 0.04});  // the paper's head: last layer, head 1
  QueryAttentionClaim claim = query_attention_claim(scores, chains);
  EXPECT_EQ(claim.layer, 1);
  EXPECT_EQ(claim.n_linear, 2);
  EXPECT_EQ(claim.n_logop, 2);
  EXPECT_NEAR(claim.linear[1], 0.94, 1e-6);
  EXPECT_NEAR(claim.logop[1], 0.03, 1e-6);
  EXPECT_EQ(claim.best_head, 1);
  EXPECT_TRUE(claim.holds);
  // The same head on both chain types (attention set by something else): no verdict for the paper.
  scores[1][1] = torch::tensor({0.95, 0.93, 0.90, 0.94});
  EXPECT_FALSE(query_attention_claim(scores, chains).holds);
  // Stricter numbers are options.
  scores[1][1] = torch::tensor({0.95, 0.93, 0.02, 0.04});
  EXPECT_FALSE(query_attention_claim(scores, chains, 0.99, 0.05).holds);
  LogicClaims claims;
  claims.query = claim;
  EXPECT_TRUE(markdown_mentions(logic_claims_markdown(claims), "**holds**"));
}

}  // namespace
}  // namespace mechlens
