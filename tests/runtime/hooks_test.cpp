// The hook API of HookedTransformer: identity, caching, replacement, selection and errors.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "runtime/model.h"
#include "test_util.h"
#include "util/error.h"

namespace mechlens {
namespace {

class ModelHooksTest : public ::testing::Test {
 protected:
  ModelHooksTest() : model(testing::tiny_config()) { model->eval(); }
  torch::NoGradGuard no_grad;
  HookedTransformer model;
  torch::Tensor tokens = testing::random_tokens(3, 10, 23);
};

TEST_F(ModelHooksTest, IdentityHooksOnEveryPointLeaveLogitsBitIdentical) {
  const torch::Tensor plain = model->forward(tokens);
  std::vector<NamedHook> hooks;
  for (const auto& name : model->hook_names()) {
    // Returning a copy (not the input) proves values, not object identity, are preserved.
    hooks.emplace_back(name, [](const torch::Tensor& act, const HookPointImpl&) { return act.clone(); });
  }
  EXPECT_TRUE(testing::tensors_equal(model->run_with_hooks(tokens, hooks), plain));
  EXPECT_FALSE(model->hook_point("hook_embed")->has_hooks());  // removed after the run
}

TEST_F(ModelHooksTest, CacheHoldsEveryHookWithTransformerLensShapes) {
  auto [logits, cache] = model->run_with_cache(tokens);
  EXPECT_EQ(logits.sizes(), (std::vector<int64_t>{3, 10, 23}));
  EXPECT_FALSE(cache.contains("blocks.0.attn.hook_result"));  // only on request, as TransformerLens
  for (const auto& name : cache.names()) {
    EXPECT_EQ(cache.at(name).sizes().vec(), model->hook_shape(name, 3, 10)) << name;
  }
  EXPECT_EQ(cache.at("blocks.1.attn.hook_q").sizes(), (std::vector<int64_t>{3, 10, 4, 4}));
  EXPECT_EQ(cache.at("blocks.1.attn.hook_pattern").sizes(), (std::vector<int64_t>{3, 4, 10, 10}));
  EXPECT_EQ(cache.at("blocks.0.ln1.hook_scale").sizes(), (std::vector<int64_t>{3, 10, 1}));
  EXPECT_EQ(cache.at("blocks.0.mlp.hook_post").sizes(), (std::vector<int64_t>{3, 10, 32}));
  EXPECT_EQ(cache.dims("blocks.0.attn.hook_pattern"), (std::vector<std::string>{"batch", "head", "dest", "src"}));
  EXPECT_EQ(cache.names().front(), "hook_embed");  // forward order
  EXPECT_EQ(cache.names().back(), "ln_final.hook_normalized");
}

TEST_F(ModelHooksTest, PatchingAnActivationWithItselfChangesNothing) {
  auto [clean_logits, cache] = model->run_with_cache(tokens);
  std::vector<NamedHook> hooks;
  for (const auto& name : cache.names()) {
    hooks.emplace_back(
        name, [&cache](const torch::Tensor&, const HookPointImpl& hook) { return cache.at(hook.name()).clone(); });
  }
  EXPECT_TRUE(testing::tensors_equal(model->run_with_hooks(tokens, hooks), clean_logits));
}

TEST_F(ModelHooksTest, ReplacementTakesEffectDownstream) {
  const torch::Tensor clean = model->forward(tokens);
  // Zeroing layer 1's residual input must give exactly what starting layer 1 from zeros gives.
  auto zero = [](const torch::Tensor& act, const HookPointImpl&) { return torch::zeros_like(act); };
  const torch::Tensor patched = model->run_with_hooks(tokens, {{"blocks.1.hook_resid_pre", zero}});
  ForwardOptions from_layer_1;
  from_layer_1.start_at_layer = 1;
  const torch::Tensor expected = model->forward(torch::zeros({3, 10, 16}), from_layer_1);
  EXPECT_TRUE(testing::tensors_equal(patched, expected));
  EXPECT_GT((patched - clean).abs().max().item<double>(), 1e-3);
}

TEST_F(ModelHooksTest, PatternPatchChangesOnlyLaterOutputs) {
  // Patching head 2's pattern at layer 1 changes z of head 2 only.
  auto uniform = [](const torch::Tensor& act, const HookPointImpl&) {
    torch::Tensor out = act.clone();
    out.select(1, 2).fill_(0.0).select(-1, 0).fill_(1.0);  // head 2 attends to position 0 only
    return out;
  };
  auto [clean_logits, clean] = model->run_with_cache(tokens, model->names_filter({"blocks.1.attn.hook_z"}));
  ActivationCache patched;
  {
    auto scope = model->with_hooks({{"blocks.1.attn.hook_pattern", uniform}});
    patched = model->run_with_cache(tokens, model->names_filter({"blocks.1.attn.hook_z"})).second;
  }
  const torch::Tensor z_clean = clean.at("blocks.1.attn.hook_z"), z_patched = patched.at("blocks.1.attn.hook_z");
  for (int64_t head = 0; head < 4; ++head) {
    const bool same = torch::equal(z_clean.select(2, head), z_patched.select(2, head));
    EXPECT_EQ(same, head != 2) << "head " << head;
  }
}

TEST_F(ModelHooksTest, SelectionByNameGlobShorthandAndPredicate) {
  EXPECT_EQ(model->resolve_hooks({"blocks.*.attn.hook_pattern"}),
            (std::vector<std::string>{"blocks.0.attn.hook_pattern", "blocks.1.attn.hook_pattern"}));
  EXPECT_EQ(model->resolve_hooks({"pattern"}), model->resolve_hooks({"blocks.*.attn.hook_pattern"}));
  EXPECT_EQ(model->resolve_hooks({"blocks.1.hook_resid_post", "hook_embed"}),
            (std::vector<std::string>{"hook_embed", "blocks.1.hook_resid_post"}));
  auto [logits, cache] =
      model->run_with_cache(tokens, [](const std::string& name) { return name.find("ln1") != std::string::npos; });
  EXPECT_EQ(cache.size(), 4u);  // hook_scale and hook_normalized in two layers
}

TEST_F(ModelHooksTest, UnknownHooksFailWithSuggestions) {
  EXPECT_TRUE(testing::throws_with<HookError>([&] { model->hook_point("blocks.5.attn.hook_pattern"); },
                                              "unknown hook 'blocks.5.attn.hook_pattern' (model has 2 layers"));
  EXPECT_TRUE(testing::throws_with<HookError>([&] { model->resolve_hooks({"blocks.0.attn.hook_patern"}); },
                                              "closest: blocks.0.attn.hook_pattern"));
  EXPECT_TRUE(
      testing::throws_with<HookError>([&] { model->resolve_hooks({"blocks.*.attn.hook_rot_q"}); }, "matches none"));
}

TEST_F(ModelHooksTest, CacheOnRequestedDeviceAndDetached) {
  CacheOptions options;
  options.device = torch::Device(torch::kCPU);
  torch::Tensor tokens_local = tokens;
  torch::AutoGradMode grad(true);
  auto [logits, cache] = model->run_with_cache(tokens_local, model->names_filter({"hook_embed"}), {}, options);
  EXPECT_FALSE(cache.at("hook_embed").requires_grad());
  EXPECT_TRUE(logits.requires_grad());
}

TEST_F(ModelHooksTest, BadTokensGiveClearErrors) {
  torch::Tensor bad = tokens.clone();
  bad[1][4] = 23;
  EXPECT_TRUE(testing::throws_with<InputError>([&] { model->forward(bad); },
                                               "token id 23 at [batch 1, pos 4] is out of range: d_vocab=23"));
  EXPECT_TRUE(testing::throws_with<InputError>([&] { model->forward(testing::random_tokens(1, 13, 23)); },
                                               "13 tokens, more than the model's n_ctx=12"));
  EXPECT_TRUE(testing::throws_with<InputError>([&] { model->forward(torch::zeros({2, 3})); }, "integer ids"));
}

}  // namespace
}  // namespace mechlens
