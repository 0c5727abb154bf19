// Direct logit attribution sums to the logit difference exactly, for every norm the runtime has;
// each head's split over source positions sums to the head; the logit lens's last stage is the
// model's own prediction; post-LN models are refused.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "heads/logit_attribution.h"
#include "test_util.h"
#include "util/error.h"

namespace mechlens {
namespace {

AnswerPrompts random_prompts(const ModelConfig& config, int64_t batch, int64_t n_pos, bool with_wrong) {
  AnswerPrompts prompts;
  prompts.tokens = torch::randint(0, config.d_vocab, {batch, n_pos}, torch::kLong);
  prompts.answer_pos = torch::randint(0, n_pos, {batch}, torch::kLong);
  prompts.correct = torch::randint(0, config.d_vocab, {batch}, torch::kLong);
  if (with_wrong) prompts.wrong = (prompts.correct + 1) % config.d_vocab;
  return prompts;
}

torch::Tensor total(const LogitAttribution& dla) {
  return dla.embed + dla.pos_embed + dla.head.sum(torch::IntArrayRef{0, 1}) + dla.attn_bias.sum(0) + dla.mlp.sum(0) +
         dla.constant;
}

const testing::ConfigVariant kVariants[] = {
    testing::kPreLn,
    testing::kAttnOnly,
    testing::kRotary,
    testing::kNoNorm,
    {"rms_gqa_gated",
     [](ModelConfig& c) {
       c.normalization_type = NormType::kRMS;
       c.n_key_value_heads = 2;
       c.gated_mlp = true;
       c.act_fn = ActFn::kSiLU;
     }},
    {"tied_no_bias",
     [](ModelConfig& c) {
       c.tie_embeddings = true;
       c.attn_bias = false;
       c.mlp_bias = false;
       c.unembed_bias = false;
     }},
};

class LogitAttributionVariants : public ::testing::TestWithParam<testing::ConfigVariant> {};

TEST_P(LogitAttributionVariants, ComponentsSumToTheLogitDifference) {
  ModelConfig config = testing::tiny_config();
  GetParam().apply(config);
  HookedTransformer model(config);
  model->eval();
  {
    // Non-zero biases, so that the constant and bias terms are exercised.
    torch::NoGradGuard no_grad;
    for (auto& item : model->named_parameters()) {
      if (item.key().find(".b") != std::string::npos || item.key().find("ln_final") != std::string::npos)
        item.value().normal_(0.0, 0.3);
    }
  }
  for (bool with_wrong : {true, false}) {
    const AnswerPrompts prompts = random_prompts(config, 7, 9, with_wrong);
    const LogitAttribution dla = direct_logit_attribution(model, prompts, /*max_batch=*/3);
    EXPECT_EQ(dla.logit_difference, with_wrong);
    const torch::Tensor sum = total(dla);
    EXPECT_TRUE(torch::allclose(sum, dla.metric, 1e-4, 1e-4)) << GetParam().name << "\n" << sum << dla.metric;
    EXPECT_TRUE(torch::allclose(dla.head_by_source.sum(2), dla.head, 1e-4, 1e-5)) << GetParam().name;
  }
}

INSTANTIATE_TEST_SUITE_P(Variants, LogitAttributionVariants, ::testing::ValuesIn(kVariants), testing::variant_name);

TEST(LogitAttributionTest, PostLayerNormModelsAreRefusedByName) {
  ModelConfig config = testing::tiny_config();
  config.norm_placement = NormPlacement::kPost;
  HookedTransformer model(config);
  try {
    direct_logit_attribution(model, random_prompts(config, 2, 5, true));
    FAIL() << "a post-LN model was accepted";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("post-LN"), std::string::npos) << e.what();
  }
  AnswerPrompts bad = random_prompts(config, 2, 5, true);
  bad.answer_pos[0] = 9;
  HookedTransformer pre(testing::tiny_config());
  EXPECT_THROW(direct_logit_attribution(pre, bad), InputError);
}

TEST(LogitLensTest, LastStageIsTheModelsPredictionAndEarlierStagesDecodeTheResidual) {
  ModelConfig config = testing::tiny_config();
  HookedTransformer model(config);
  model->eval();
  const AnswerPrompts prompts = random_prompts(config, 6, 7, false);
  const LogitLens lens = logit_lens(model, prompts, 3, /*max_batch=*/4);
  torch::NoGradGuard no_grad;
  const torch::Tensor logits = model->forward(prompts.tokens);
  const torch::Tensor rows = torch::arange(6);
  const torch::Tensor probs = logits.index({rows, prompts.answer_pos}).softmax(-1);  // [b, vocab]
  const int64_t last = config.n_layers;
  EXPECT_TRUE(torch::allclose(lens.answer_prob[last], probs.gather(1, prompts.correct.unsqueeze(1)).squeeze(1), 1e-5));
  EXPECT_TRUE(torch::allclose(lens.kl_to_final[last], torch::zeros({6}), 0, 1e-5));
  EXPECT_TRUE(lens.top_tokens[last].select(1, 0).equal(probs.argmax(1)));
  const torch::Tensor rank = probs.gt(probs.gather(1, prompts.correct.unsqueeze(1))).sum(1);
  EXPECT_TRUE(lens.answer_rank[last].equal(rank));
  // Stage 0 decodes the embeddings alone: the residual before layer 0.
  const auto cache = model->run_with_cache(prompts.tokens, model->names_filter({"blocks.0.hook_resid_pre"})).second;
  const torch::Tensor resid0 = cache.at("blocks.0.hook_resid_pre").index({rows, prompts.answer_pos});
  const torch::Tensor p0 = model->logits_from_resid(resid0).softmax(-1);
  EXPECT_TRUE(torch::allclose(lens.answer_prob[0], p0.gather(1, prompts.correct.unsqueeze(1)).squeeze(1), 1e-5));
  EXPECT_TRUE(torch::allclose(lens.top_probs[0].select(1, 0), std::get<0>(p0.max(1)), 1e-5));
  EXPECT_THROW(logit_lens(model, prompts, 0), InputError);
}

}  // namespace
}  // namespace mechlens
