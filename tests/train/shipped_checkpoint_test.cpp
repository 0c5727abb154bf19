// The shipped checkpoints do what data/checkpoints/README.md says: the logic model solves held-out
// problems exactly (greedy decoding agrees with the teacher-forced exact-match metric the trainer
// reports); the post-LN matching model answers 2-hop test problems by the paper's matching mechanism,
// and its pre-LN counterpart does not; trained with one shared embedding norm it also answers out of
// distribution; the 4-layer matching model answers 4-hop problems, and the 5-layer double-chain model 5.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <algorithm>

#include "io/checkpoint.h"
#include "tasks/logic_task.h"
#include "tasks/matching_task.h"
#include "train/evaluation.h"

namespace mechlens {
namespace {

TEST(ShippedCheckpointTest, LogicModelProvesHeldOutProblemsExactly) {
  HookedTransformer model = load_checkpoint(MECHLENS_SOURCE_DIR "/data/checkpoints/logic_3l3h.safetensors");
  EXPECT_EQ(model->config().n_layers, 3);
  EXPECT_EQ(model->config().n_heads, 3);
  const LogicTask task{LogicSettings{}};
  const auto examples = generate_examples(task, 300, /*seed=*/987654);
  const auto metrics = evaluate(model, examples);
  EXPECT_EQ(metrics.at("all").exact_match, 1.0);
  EXPECT_EQ(metrics.at("linear").first_token_accuracy, 1.0);
  const auto decoded = greedy_decode(model, examples, 40, logic_tokens::kEos);
  for (size_t i = 0; i < examples.size(); ++i) {
    EXPECT_TRUE(decoded_answer_is(decoded[i], examples[i].prompt, examples[i].answer, logic_tokens::kEos))
        << task.render(examples[i]);
  }
}

// The model trained on the authors' proof spelling (format=authors: no EOS, so decoding runs to the
// answer's length) proves held-out problems exactly too.
TEST(ShippedCheckpointTest, AuthorsFormatLogicModelProvesHeldOutProblemsExactly) {
  HookedTransformer model = load_checkpoint(MECHLENS_SOURCE_DIR "/data/checkpoints/logic_3l3h_authors.safetensors");
  LogicSettings settings;
  settings.format = LogicFormat::kAuthors;
  const LogicTask task{settings};
  const auto examples = generate_examples(task, 300, /*seed=*/987654);
  const auto metrics = evaluate(model, examples);
  EXPECT_EQ(metrics.at("all").exact_match, 1.0);
  EXPECT_EQ(metrics.at("linear").first_token_accuracy, 1.0);
  int64_t longest = 0;
  for (const Example& example : examples) longest = std::max<int64_t>(longest, int64_t(example.answer.size()));
  const auto decoded = greedy_decode(model, examples, longest, task.end_token());
  for (size_t i = 0; i < examples.size(); ++i) {
    EXPECT_TRUE(decoded_answer_is(decoded[i], examples[i].prompt, examples[i].answer, task.end_token()))
        << task.render(examples[i]);
  }
}

// Position of the child in the pair (parent, child); pairs sit at (2i, 2i+1) of the prompt.
int64_t child_position(const std::vector<int64_t>& prompt, int64_t parent, int64_t child) {
  for (size_t p = 1; p + 1 < prompt.size(); p += 2) {
    if (prompt[p - 1] == parent && prompt[p] == child) return static_cast<int64_t>(p);
  }
  return -1;
}

// Every layer's attention pattern over `examples` (prompts of one length), [batch, head, dest, src] each.
std::vector<torch::Tensor> attention_patterns(HookedTransformer& model, const std::vector<Example>& examples) {
  std::vector<torch::Tensor> rows;
  for (const auto& e : examples) rows.push_back(torch::tensor(e.prompt, torch::kLong));
  torch::NoGradGuard no_grad;
  auto [logits, cache] = model->run_with_cache(
      torch::stack(rows), [](const std::string& name) { return name.find("hook_pattern") != std::string::npos; });
  std::vector<torch::Tensor> patterns;
  for (int64_t layer = 0; layer < model->config().n_layers; ++layer)
    patterns.push_back(cache.at(fmt::format("blocks.{}.attn.hook_pattern", layer)));
  return patterns;
}

// Mean attention of the last position (head 0 of `layer`) on the child of each example's hop-th path edge.
double hop_attention(const std::vector<torch::Tensor>& patterns, const std::vector<Example>& examples, int64_t layer,
                     int64_t hop) {
  const int64_t last = static_cast<int64_t>(examples[0].prompt.size()) - 1;
  double total = 0;
  for (size_t i = 0; i < examples.size(); ++i) {
    const auto& path = examples[i].annotations.at("path");  // start, then the nodes 1, 2, ... hops away
    const int64_t child = child_position(examples[i].prompt, path[size_t(hop - 1)], path[size_t(hop)]);
    total += patterns[size_t(layer)][int64_t(i)][0][last][child].item<double>();
  }
  return total / static_cast<double>(examples.size());
}

// First-token accuracy on 500 problems of `settings` drawn from `split`.
double accuracy_on(HookedTransformer& model, MatchingSettings settings, MatchingSplit split) {
  settings.split = split;
  return evaluate(model, generate_examples(MatchingTask{settings}, 500, /*seed=*/987654))
      .at("all")
      .first_token_accuracy;
}

TEST(ShippedCheckpointTest, PostLnMatchingModelHopsByMatching) {
  HookedTransformer model =
      load_checkpoint(MECHLENS_SOURCE_DIR "/data/checkpoints/matching_3l1h_post_ln_gamma1.safetensors");
  EXPECT_EQ(model->config().n_layers, 3);
  EXPECT_EQ(model->config().n_heads, 1);
  MatchingSettings settings;
  settings.split = MatchingSplit::kTest;
  const MatchingTask task{settings};
  const auto examples = generate_examples(task, 500, /*seed=*/987654);
  EXPECT_GE(evaluate(model, examples).at("all").first_token_accuracy, 0.99);

  // Attention of the single head per layer (Wang et al. 2024's picture): layer 0 joins each pair,
  // layer 1 takes the first hop from the last token, layer 2 the second.
  const std::vector<torch::Tensor> patterns = attention_patterns(model, examples);
  const int64_t last = static_cast<int64_t>(examples[0].prompt.size()) - 1;
  double pair_fusion = 0;
  int64_t pairs = 0;
  for (size_t i = 0; i < examples.size(); ++i) {
    for (int64_t child = 1; child < last; child += 2, ++pairs) {
      pair_fusion += patterns[0][int64_t(i)][0][child][child - 1].item<double>();
    }
  }
  EXPECT_GT(pair_fusion / static_cast<double>(pairs), 0.9);
  EXPECT_GT(hop_attention(patterns, examples, /*layer=*/1, /*hop=*/1), 0.8);
  EXPECT_GT(hop_attention(patterns, examples, /*layer=*/2, /*hop=*/2), 0.8);
}

// Out of distribution the post-LN model fails only because unseen tokens keep their small initial
// embedding norm: with those rows of W_E set to the trained rows' mean norm, and nothing else changed,
// it follows chains of unseen tokens, also with a decoy edge in distribution (docs/MATCHING.md).
TEST(ShippedCheckpointTest, PostLnMatchingModelTransfersOnceUnseenTokensHaveTheTrainedNorm) {
  HookedTransformer model =
      load_checkpoint(MECHLENS_SOURCE_DIR "/data/checkpoints/matching_3l1h_post_ln_gamma1.safetensors");
  const MatchingSettings settings;
  EXPECT_LT(accuracy_on(model, settings, MatchingSplit::kOod), 0.3);
  {
    torch::NoGradGuard no_grad;
    // The model was trained on ids 1..100 (ranges=full); 101..200 never occurred in a prompt.
    const torch::Tensor trained = model->embed->W_E.slice(0, 1, 101), unseen = model->embed->W_E.slice(0, 101, 201);
    unseen.mul_(trained.norm(2, -1).mean() / unseen.norm(2, -1, /*keepdim=*/true));
  }
  EXPECT_GE(accuracy_on(model, settings, MatchingSplit::kOod), 0.9);
  EXPECT_GE(accuracy_on(model, settings, MatchingSplit::kOodDecoy), 0.85);
}

// Trained with one shared embedding norm, the same 3L1H model generalises out of distribution: unseen
// tokens enter at the trained ones' scale, so the hops match on them too, also with a decoy edge.
TEST(ShippedCheckpointTest, SharedEmbedNormMatchingModelGeneralisesOutOfDistribution) {
  HookedTransformer model =
      load_checkpoint(MECHLENS_SOURCE_DIR "/data/checkpoints/matching_3l1h_shared_embed_norm.safetensors");
  EXPECT_TRUE(model->config().shared_embed_norm);
  MatchingSettings settings;
  EXPECT_GE(accuracy_on(model, settings, MatchingSplit::kTest), 0.99);
  EXPECT_GE(accuracy_on(model, settings, MatchingSplit::kOod), 0.85);
  EXPECT_GE(accuracy_on(model, settings, MatchingSplit::kOodDecoy), 0.8);

  // Hop by hop: layer 1 reads the first hop's child, layer 2 the second's; out of distribution less
  // sharply (0.46 and 0.58 on these problems) but several times the 1/13 of uniform attention.
  for (const auto& [split, least] : {std::pair{MatchingSplit::kTest, 0.8}, std::pair{MatchingSplit::kOod, 0.3}}) {
    settings.split = split;
    const auto examples = generate_examples(MatchingTask{settings}, 500, /*seed=*/987654);
    const std::vector<torch::Tensor> patterns = attention_patterns(model, examples);
    EXPECT_GT(hop_attention(patterns, examples, /*layer=*/1, /*hop=*/1), least);
    EXPECT_GT(hop_attention(patterns, examples, /*layer=*/2, /*hop=*/2), least);
  }
}

// Four layers answer 4-hop problems (more than the one hop per layer after pair fusion); the answer
// position takes hop 1 in layer 1 and reaches hop 4 in layer 3. Out of distribution it scores by a
// shortcut (the answer's edge is the only in-distribution one), which a decoy edge takes away.
TEST(ShippedCheckpointTest, FourLayerMatchingModelAnswersFourHops) {
  HookedTransformer model = load_checkpoint(MECHLENS_SOURCE_DIR "/data/checkpoints/matching_4l1h_4hop.safetensors");
  EXPECT_EQ(model->config().n_layers, 4);
  MatchingSettings settings;
  settings.orders = {4};
  settings.split = MatchingSplit::kTest;
  const auto examples = generate_examples(MatchingTask{settings}, 500, /*seed=*/987654);
  EXPECT_GE(evaluate(model, examples).at("all").first_token_accuracy, 0.8);
  EXPECT_GE(accuracy_on(model, settings, MatchingSplit::kOod), 0.95);
  EXPECT_LT(accuracy_on(model, settings, MatchingSplit::kOodDecoy), 0.75);

  const std::vector<torch::Tensor> patterns = attention_patterns(model, examples);
  EXPECT_GT(hop_attention(patterns, examples, /*layer=*/1, /*hop=*/1), 0.8);
  EXPECT_GT(hop_attention(patterns, examples, /*layer=*/3, /*hop=*/4), 0.4);
}

// Five layers answer 5-hop double-chain problems, one hop more than one per layer after pair fusion
// allows: in layer 1 every chain edge's child position reads the next edge's child (where that edge
// comes earlier in the prompt), a two-hop pointer the query uses for its last hop.
TEST(ShippedCheckpointTest, FiveLayerDoubleChainModelAnswersFiveHopsWithTwoHopPointers) {
  HookedTransformer model =
      load_checkpoint(MECHLENS_SOURCE_DIR "/data/checkpoints/matching_5l1h_type2_5hop.safetensors");
  EXPECT_EQ(model->config().n_layers, 5);
  MatchingSettings settings;
  settings.layout = MatchingLayout::kNoisedDoubleChain;
  settings.seq_len = 29;
  settings.orders = {5};
  settings.split = MatchingSplit::kTest;
  const auto examples = generate_examples(MatchingTask{settings}, 500, /*seed=*/987654);
  EXPECT_GE(evaluate(model, examples).at("all").first_token_accuracy, 0.85);

  const std::vector<torch::Tensor> patterns = attention_patterns(model, examples);
  EXPECT_GT(hop_attention(patterns, examples, /*layer=*/1, /*hop=*/1), 0.9);
  double ahead = 0;
  int64_t visible = 0;
  for (size_t i = 0; i < examples.size(); ++i) {
    const auto& chain = examples[i].annotations.at("chain");  // c_0 ... c_E, the queried chain
    for (size_t j = 0; j + 2 < chain.size(); ++j) {
      const int64_t child = child_position(examples[i].prompt, chain[j], chain[j + 1]);
      const int64_t next = child_position(examples[i].prompt, chain[j + 1], chain[j + 2]);
      if (next > child) continue;  // the causal mask hides a later edge
      ahead += patterns[1][int64_t(i)][0][child][next].item<double>();
      ++visible;
    }
  }
  ASSERT_GT(visible, 0);
  EXPECT_GT(ahead / double(visible), 0.8);
}

TEST(ShippedCheckpointTest, PreLnMatchingCounterpartStaysOnThePlateau) {
  // The paper's comparison, as documented: same budget, pre-LN with gamma = 0.5, no 2-hop solution.
  HookedTransformer model =
      load_checkpoint(MECHLENS_SOURCE_DIR "/data/checkpoints/matching_3l1h_pre_ln_gamma05.safetensors");
  EXPECT_EQ(model->config().norm_placement, NormPlacement::kPre);
  EXPECT_DOUBLE_EQ(model->config().init_gamma, 0.5);
  MatchingSettings settings;
  settings.split = MatchingSplit::kTest;
  const auto examples = generate_examples(MatchingTask{settings}, 500, /*seed=*/987654);
  EXPECT_LT(evaluate(model, examples).at("all").first_token_accuracy, 0.3);
}

}  // namespace
}  // namespace mechlens
