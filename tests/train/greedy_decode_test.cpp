// Greedy decoding with cached keys and values generates what decoding with a full forward per token
// generates, for learned and rotary positions; prompt hooks (steering while decoding) act as if the
// prompt itself had been changed, with and without the cache.
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

// A prompt hook that overwrites the embedding at one prompt position with another token's must decode
// exactly as the prompt with that token written there: the hook reaches every later step.
TEST(GreedyDecodeTest, PromptHooksActLikeAChangedPrompt) {
  for (bool cached : {true, false}) {
    ModelConfig config = testing::tiny_config();
    config.n_ctx = 24;
    if (!cached) config.orthogonal_noise = OrthogonalNoise::kQK;  // such models decode without a cache
    HookedTransformer model(config);
    const torch::Tensor prompts = testing::random_tokens(4, 6, config.d_vocab, 5);
    std::vector<Example> examples(4), changed(4);
    std::vector<int64_t> position = {1, 3, 0, 5};  // per example: where the hook writes
    for (int64_t i = 0; i < 4; ++i) {
      for (int64_t j = 0; j < 6; ++j) examples[size_t(i)].prompt.push_back(prompts[i][j].item<int64_t>());
      changed[size_t(i)] = examples[size_t(i)];
      changed[size_t(i)].prompt[size_t(position[size_t(i)])] =
          (prompts[i][position[size_t(i)]].item<int64_t>() + 7) % 23;
    }
    const torch::Tensor W_E = model->embed->W_E.detach();
    const PromptHooks overwrite = [&](const std::vector<size_t>& rows) {
      HookFn fn = [&, rows](const torch::Tensor& embedded, const HookPointImpl&) {
        torch::Tensor out = embedded.clone();  // [rows, pos, d_model]
        for (size_t r = 0; r < rows.size(); ++r) {
          const int64_t pos = position[rows[r]];
          out[int64_t(r)][pos] = W_E[changed[rows[r]].prompt[size_t(pos)]];
        }
        return out;
      };
      return std::vector<NamedHook>{{"hook_embed", fn}};
    };
    const auto hooked = greedy_decode(model, examples, /*max_new=*/6, /*eos=*/-1, false, overwrite);
    const auto reference = greedy_decode(model, changed, /*max_new=*/6, /*eos=*/-1);
    for (size_t i = 0; i < examples.size(); ++i) {
      const std::vector<int64_t> generated(hooked[i].begin() + 6, hooked[i].end());
      const std::vector<int64_t> expected(reference[i].begin() + 6, reference[i].end());
      EXPECT_EQ(generated, expected) << "example " << i << " cached " << cached;
    }
    const auto plain = greedy_decode(model, examples, 6, -1);
    EXPECT_NE(plain, hooked) << "the hook changed nothing: the test would not see a missing hook";
  }
}

TEST(GreedyDecodeTest, DecodedAnswerIsComparesTheWholeAnswer) {
  EXPECT_TRUE(decoded_answer_is({1, 2, 7, 8, 9}, {1, 2}, {7, 8, 9}, /*eos=*/9));
  EXPECT_FALSE(decoded_answer_is({1, 2, 7, 8, 9, 9}, {1, 2}, {7, 8, 9}, 9));  // longer than the answer
  EXPECT_FALSE(decoded_answer_is({1, 2, 7, 5, 9}, {1, 2}, {7, 8, 9}, 9));
  EXPECT_FALSE(decoded_answer_is({1, 3, 7, 8, 9}, {1, 2}, {7, 8, 9}, 9));  // another prompt
  EXPECT_TRUE(decoded_answer_is({1, 2, 7, 8, 4, 4}, {1, 2}, {7, 8}, -1));  // no end token: its length
  EXPECT_FALSE(decoded_answer_is({1, 2, 7}, {1, 2}, {7, 8}, -1));
}

}  // namespace
}  // namespace mechlens
