// Linear probes: a linearly separable label is probed perfectly on held-out rows, its control task
// (random labels per input type) stays near chance, splits and control labels are seeded.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "heads/probes.h"
#include "util/error.h"

namespace mechlens {
namespace {

TEST(ProbesTest, SeparableLabelsAreProbedPerfectlyAndTheControlTaskIsNot) {
  torch::manual_seed(5);
  const int64_t n = 600, d = 16;
  const torch::Tensor labels = torch::randint(0, 3, {n}, torch::kLong);
  // Class k sits at +10 on feature k, plus unit noise everywhere: three clusters separated by a margin
  // far beyond the noise of 600 draws.
  torch::Tensor features = torch::randn({n, d});
  features.index_put_({torch::arange(n), labels}, features.index({torch::arange(n), labels}) + 10.0);
  const ProbeSplit split = probe_split(n, 0.8, 1);
  const ProbeFit fit = fit_probe(features, labels, split, ProbeOptions{});
  EXPECT_EQ(fit.test_accuracy, 1.0);
  EXPECT_EQ(fit.train_accuracy, 1.0);
  // Control task: each of 60 input types gets a random label; the features know nothing of types.
  const torch::Tensor types = torch::randint(0, 60, {n}, torch::kLong);
  const torch::Tensor control = control_labels(types, labels, 2);
  const ProbeFit control_fit = fit_probe(features, control, split, ProbeOptions{});
  EXPECT_LT(control_fit.test_accuracy, 0.55);                      // chance is about 1/3
  EXPECT_GT(fit.test_accuracy - control_fit.test_accuracy, 0.45);  // selectivity
  EXPECT_NEAR(majority_baseline(labels, split), 1.0 / 3.0, 0.1);
}

TEST(ProbesTest, SplitsAndControlLabelsAreSeeded) {
  const ProbeSplit a = probe_split(100, 0.8, 7), b = probe_split(100, 0.8, 7), c = probe_split(100, 0.8, 8);
  EXPECT_TRUE(a.train.equal(b.train));
  EXPECT_FALSE(a.train.equal(c.train));
  EXPECT_EQ(a.train.numel(), 80);
  EXPECT_EQ(a.test.numel(), 20);
  EXPECT_TRUE(std::get<0>(torch::cat({a.train, a.test}).sort()).equal(torch::arange(100)));
  const torch::Tensor types = torch::tensor({3, 5, 3, 9, 5, 3}, torch::kLong);
  const torch::Tensor labels = torch::tensor({0, 1, 0, 1, 1, 0}, torch::kLong);
  const torch::Tensor control = control_labels(types, labels, 4);
  EXPECT_TRUE(control.equal(control_labels(types, labels, 4)));
  EXPECT_EQ(control[0].item<int64_t>(), control[2].item<int64_t>());  // one label per type
  EXPECT_EQ(control[1].item<int64_t>(), control[4].item<int64_t>());
  EXPECT_THROW(probe_split(1, 0.8, 0), InputError);
  EXPECT_THROW(probe_split(10, 1.0, 0), InputError);
  EXPECT_THROW(fit_probe(torch::zeros({4, 2}), torch::zeros({3}, torch::kLong), a, ProbeOptions{}), InputError);
}

}  // namespace
}  // namespace mechlens
