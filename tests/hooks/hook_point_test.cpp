#include "hooks/hook_point.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "test_util.h"
#include "util/error.h"

namespace mechlens {
namespace {

HookPoint make_point() {
  HookPoint point(std::vector<std::string>{"batch", "pos", "d_model"});
  point->set_name("blocks.0.hook_resid_pre");
  return point;
}

TEST(HookPointTest, IdentityWithoutHooksReturnsSameTensor) {
  HookPoint point = make_point();
  torch::Tensor x = torch::randn({2, 3, 4});
  // Same TensorImpl: no copy, no allocation.
  EXPECT_TRUE(point(x).is_same(x));
}

TEST(HookPointTest, ReplacementFlowsOut) {
  HookPoint point = make_point();
  point->add_hook([](const torch::Tensor& act, const HookPointImpl&) { return act * 2; });
  torch::Tensor x = torch::ones({2, 3, 4});
  EXPECT_TRUE(testing::tensors_equal(point(x), torch::full({2, 3, 4}, 2.0f)));
}

TEST(HookPointTest, HooksRunInOrderAndSeeName) {
  HookPoint point = make_point();
  std::string seen;
  point->add_hook([](const torch::Tensor& act, const HookPointImpl&) { return act + 1; });
  point->add_hook([&seen](const torch::Tensor& act, const HookPointImpl& hook) {
    seen = hook.name();
    return act * 10;
  });
  EXPECT_TRUE(testing::tensors_equal(point(torch::zeros({1})), torch::full({1}, 10.0f)));
  EXPECT_EQ(seen, "blocks.0.hook_resid_pre");
}

TEST(HookPointTest, UndefinedReturnKeepsActivation) {
  HookPoint point = make_point();
  point->add_hook([](const torch::Tensor&, const HookPointImpl&) { return torch::Tensor(); });
  torch::Tensor x = torch::randn({2});
  EXPECT_TRUE(point(x).is_same(x));
}

TEST(HookPointTest, WrongShapeReplacementThrowsNamingHookAndShapes) {
  HookPoint point = make_point();
  point->add_hook([](const torch::Tensor&, const HookPointImpl&) { return torch::zeros({2, 3}); });
  EXPECT_TRUE(testing::throws_with<HookError>(
      [&] {
        point(torch::zeros({2, 3, 4}));
      },
      "hook on 'blocks.0.hook_resid_pre' returned shape [2, 3], "
      "expected [2, 3, 4]"));
}

TEST(HookPointTest, WrongDtypeReplacementThrows) {
  HookPoint point = make_point();
  point->add_hook([](const torch::Tensor& act, const HookPointImpl&) { return act.to(torch::kFloat64); });
  EXPECT_TRUE(
      testing::throws_with<HookError>([&] { point(torch::zeros({2})); }, "returned dtype Double, expected Float"));
}

TEST(HookPointTest, ScopeRemovesItsHooksOnly) {
  HookPoint point = make_point();
  point->add_hook([](const torch::Tensor& act, const HookPointImpl&) { return act + 1; });
  {
    HookScope scope;
    scope.add(point, [](const torch::Tensor& act, const HookPointImpl&) { return act * 3; });
    EXPECT_TRUE(testing::tensors_equal(point(torch::zeros({1})), torch::full({1}, 3.0f)));
  }
  EXPECT_TRUE(testing::tensors_equal(point(torch::zeros({1})), torch::full({1}, 1.0f)));
  point->clear_hooks();
  EXPECT_FALSE(point->has_hooks());
}

TEST(HookPointTest, ScopeReleasesWhenExceptionUnwinds) {
  HookPoint point = make_point();
  try {
    HookScope scope;
    scope.add(point, [](const torch::Tensor& act, const HookPointImpl&) { return act; });
    throw std::runtime_error("boom");
  } catch (const std::runtime_error&) {
  }
  EXPECT_FALSE(point->has_hooks());
}

}  // namespace
}  // namespace mechlens
