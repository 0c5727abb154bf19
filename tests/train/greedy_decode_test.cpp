// Greedy decoding with cached keys and values generates what decoding with a full forward per token
// generates, for learned and rotary positions.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "test_util.h"
#include "train/evaluation.h"

namespace mechlens {
namespace {

// Reference: one full forward over the whole sequence per generated token.
std::vector<int64_t> decode_by_full_forward(HookedTransformer& model, std::vector<int64_t> tokens, int64_t steps) {
  torch::NoGradGuard no_grad;
  for (int64_t step = 0; step < steps; ++step) {
    const torch::Tensor input = torch::tensor(tokens, torch::kLong).unsqueeze(0);
    tokens.push_back(model->forward(input).select(1, -1).argmax(-1).item<int64_t>());
  }
  return tokens;
}

TEST(GreedyDecodeTest, CachedKeysAndValuesGiveTheFullForwardsTokens) {
  for (bool rotary : {false, true}) {
    ModelConfig config = testing::tiny_config();
    config.n_ctx = 24;
    if (rotary) config.positional_embedding_type = PositionalEmbedding::kRotary;
    HookedTransformer model(config);
    std::vector<Example> examples(5);
    const torch::Tensor prompts = testing::random_tokens(5, 7, config.d_vocab, 11);
    for (int64_t i = 0; i < 5; ++i) {
      for (int64_t j = 0; j < (i % 2 ? 7 : 5); ++j) examples[size_t(i)].prompt.push_back(prompts[i][j].item<int64_t>());
    }
    const auto decoded = greedy_decode(model, examples, /*max_new=*/8, /*eos=*/-1);
    for (size_t i = 0; i < examples.size(); ++i) {
      EXPECT_EQ(decoded[i], decode_by_full_forward(model, examples[i].prompt, 8))
          << "example " << i << " rotary " << rotary;
    }
  }
}

}  // namespace
}  // namespace mechlens
