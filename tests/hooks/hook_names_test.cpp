#include "hooks/hook_names.h"

#include <gtest/gtest.h>

#include "hooks/activation_cache.h"
#include "test_util.h"
#include "util/error.h"
#include "util/glob.h"

namespace mechlens {
namespace {

TEST(HookNamesTest, ShorthandExpandsToTransformerLensNames) {
  EXPECT_EQ(act_name("pattern", 3), "blocks.3.attn.hook_pattern");
  EXPECT_EQ(act_name("resid_pre", 0), "blocks.0.hook_resid_pre");
  EXPECT_EQ(act_name("z", 1), "blocks.1.attn.hook_z");
  EXPECT_EQ(act_name("post", 2), "blocks.2.mlp.hook_post");
  EXPECT_EQ(act_name("embed"), "hook_embed");
  EXPECT_EQ(act_name("scale"), "ln_final.hook_scale");
  EXPECT_EQ(act_name("blocks.1.hook_mlp_out"), "blocks.1.hook_mlp_out");
  EXPECT_THROW(act_name("nonsense", 1), HookError);
  EXPECT_THROW(act_name("pattern"), HookError);
}

TEST(HookNamesTest, ClosestNamesRankByEditDistance) {
  const std::vector<std::string> names{"blocks.0.attn.hook_pattern", "blocks.0.attn.hook_z", "hook_embed"};
  EXPECT_EQ(closest_names("blocks.0.attn.hook_patern", names, 1).front(), "blocks.0.attn.hook_pattern");
}

TEST(GlobTest, StarCrossesDotsAndQuestionMarkMatchesOne) {
  EXPECT_TRUE(glob_match("blocks.*.attn.hook_pattern", "blocks.12.attn.hook_pattern"));
  EXPECT_FALSE(glob_match("blocks.*.attn.hook_pattern", "blocks.1.attn.hook_z"));
  EXPECT_TRUE(glob_match("*", "hook_embed"));
  EXPECT_TRUE(glob_match("blocks.?.hook_resid_*", "blocks.3.hook_resid_mid"));
  EXPECT_FALSE(glob_match("blocks.?.hook_resid_*", "blocks.10.hook_resid_mid"));
  EXPECT_TRUE(glob_match("*hook_*_out", "blocks.0.hook_attn_out"));
  EXPECT_FALSE(glob_match("hook_embed", "hook_embed2"));
}

TEST(ActivationCacheTest, KeepsInsertionOrderAndReportsMissingNames) {
  ActivationCache cache;
  cache.insert("hook_embed", torch::ones({1}));
  cache.insert("blocks.0.hook_resid_pre", torch::zeros({1}));
  cache.insert("hook_embed", torch::full({1}, 2.0f));  // overwrite keeps position
  ASSERT_EQ(cache.names(), (std::vector<std::string>{"hook_embed", "blocks.0.hook_resid_pre"}));
  EXPECT_EQ(cache.at("hook_embed").item<float>(), 2.0f);
  EXPECT_EQ(cache.get("resid_pre", 0).item<float>(), 0.0f);
  EXPECT_TRUE(
      testing::throws_with<HookError>([&] { cache.at("blocks.0.hook_resid_pr"); }, "closest: blocks.0.hook_resid_pre"));
}

}  // namespace
}  // namespace mechlens
