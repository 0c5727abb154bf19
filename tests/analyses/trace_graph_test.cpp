// Tracing graphs: rollout and flow equal hand-computed small cases; both pruning engines keep what a
// hand-made graph says they must; the information-flow graph of a hand-built copy head holds exactly
// the one route the head provably takes.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "constructed_models.h"
#include "test_util.h"
#include "tracing/flow_graph.h"
#include "tracing/graph.h"
#include "tracing/rollout.h"
#include "util/error.h"

namespace mechlens {
namespace {

torch::Tensor two_layer_patterns() {
  const torch::Tensor layer = torch::tensor({{1.0, 0.0}, {0.5, 0.5}}).view({1, 1, 2, 2});
  return torch::cat({layer, layer});  // [layer, head, dest, src]
}

TEST(RolloutTest, RolloutAndFlowEqualHandComputedCases) {
  // A~ = 0.5 A + 0.5 I = [[1, 0], [0.25, 0.75]]; two layers: A~ A~ = [[1, 0], [0.4375, 0.5625]].
  const torch::Tensor rollout = attention_rollout(two_layer_patterns());
  EXPECT_TRUE(testing::tensors_close(rollout[0], torch::tensor({{1.0, 0.0}, {0.25, 0.75}}), 1e-6));
  EXPECT_TRUE(testing::tensors_close(rollout[1], torch::tensor({{1.0, 0.0}, {0.4375, 0.5625}}), 1e-6));
  // Flow from the last output at position 1: to input 0 through (1,0) 0.25 and through (1,1)
  // min(0.75, 0.25); to input 1 min(0.75, 0.75): [0.5, 0.75] normalised.
  EXPECT_TRUE(testing::tensors_close(attention_flow(two_layer_patterns(), 1), torch::tensor({0.4, 0.6}), 1e-6));
  EXPECT_TRUE(testing::tensors_close(attention_flow(two_layer_patterns().narrow(0, 0, 1), 1),
                                     torch::tensor({0.25, 0.75}), 1e-6));
  EXPECT_TRUE(testing::throws_with<InputError>([] { attention_flow(two_layer_patterns(), 1, 1); }, "limit 1"));
  EXPECT_TRUE(testing::throws_with<InputError>(
      [] {
        attention_rollout(torch::zeros({2, 2}));
      },
      "[layer, head, dest, src]"));
}

// inputs x0, x1, x2; a <- x0 (0.9), x1 (0.1); b <- x2 (1.0); root r <- a (0.95), b (0.05)
TraceGraph hand_graph() {
  TraceGraph graph;
  for (const char* id : {"x0", "x1", "x2"}) graph.nodes.push_back({id, "embedding", -1, 0, ""});
  for (const char* id : {"a", "b", "r"}) graph.nodes.push_back({id, "attention", 0, 0, ""});
  graph.edges = {{0, 3, 0.9, "attention", {}},
                 {1, 3, 0.1, "attention", {}},
                 {2, 4, 1.0, "attention", {}},
                 {3, 5, 0.95, "attention", {}},
                 {4, 5, 0.05, "attention", {}}};
  graph.roots = {5};
  graph.root_weights = {1.0};
  return graph;
}

std::vector<std::string> edge_names(const TraceGraph& graph) {
  std::vector<std::string> names;
  for (const GraphEdge& e : graph.edges)
    names.push_back(graph.nodes[size_t(e.source)].id + ">" + graph.nodes[size_t(e.target)].id);
  return names;
}

TEST(TraceGraphTest, ThresholdPruningKeepsTheRoutesAboveTauFromTheRoot) {
  const TraceGraph pruned = prune_by_threshold(hand_graph(), 0.2);
  EXPECT_EQ(edge_names(pruned), (std::vector<std::string>{"x0>a", "a>r"}));
  EXPECT_EQ(pruned.nodes.size(), 3u);
  EXPECT_EQ(pruned.nodes[size_t(pruned.roots[0])].id, "r");
}

TEST(TraceGraphTest, InfluencePruningFollowsCircuitTracersCumulativeThresholds) {
  const std::vector<double> influence = node_influence(hand_graph());
  const std::vector<double> expected{0.855, 0.095, 0.05, 0.95, 0.05, 0.0};
  for (size_t i = 0; i < expected.size(); ++i) EXPECT_NEAR(influence[i], expected[i], 1e-12) << i;
  // Nodes: 0.8 of the cumulative influence 2.0 is reached by a and x0: b goes; inputs and root stay.
  // Edges on the pruned graph: r<-a 1.0, a<-x0 0.9, a<-x1 0.1 (of 2.0): 0.98 keeps all three, 0.9 two.
  InfluencePruning options;
  TraceGraph pruned = prune_by_influence(hand_graph(), options);
  EXPECT_EQ(edge_names(pruned), (std::vector<std::string>{"x0>a", "x1>a", "a>r"}));
  EXPECT_THROW(pruned.node_index("b"), InputError);
  options.edge_threshold = 0.9;
  pruned = prune_by_influence(hand_graph(), options);
  EXPECT_EQ(edge_names(pruned), (std::vector<std::string>{"x0>a", "a>r"}));
  EXPECT_EQ(pruned.nodes.size(), 5u);  // x1, x2 are inputs: always kept
  options.node_threshold = 1.5;
  EXPECT_TRUE(testing::throws_with<InputError>([&] { prune_by_influence(hand_graph(), options); }, "(0, 1]"));
}

TEST(TraceGraphTest, TheFlowGraphOfACopyHeadHoldsOnlyItsRoute) {
  HookedTransformer model = testing::copy_first_token_model();
  const torch::Tensor tokens = torch::tensor({{3, 1, 4, 1, 5, 2}}, torch::kLong);
  const InformationFlow flow = information_flow(model, tokens);
  const TraceGraph graph = flow_graph(flow, 0, 5, {"3", "1", "4", "1", "5", "2"});
  const TraceGraph pruned = prune_by_threshold(graph, 0.04);
  EXPECT_EQ(edge_names(pruned), (std::vector<std::string>{"X0_0>A0_5", "X0_5>A0_5"}));
  EXPECT_EQ(pruned.edges[0].kind, "attention");
  EXPECT_EQ(pruned.edges[1].kind, "residual");
  EXPECT_EQ(pruned.nodes[0].label, "3");
  ASSERT_EQ(pruned.edges[0].heads.size(), 1u);
  EXPECT_NEAR(pruned.edges[0].heads[0], pruned.edges[0].weight, 1e-6);
}

}  // namespace
}  // namespace mechlens
