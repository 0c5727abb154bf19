// The confound scan: η² equals a hand computation, the variable a statistic follows is found, and a
// correlated variable that only seems to matter is explained away by it.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "core/confound_scan.h"
#include "util/error.h"

namespace mechlens {
namespace {

TEST(ConfoundScanTest, EtaSquaredIsBetweenGroupVarianceOverTotal) {
  // Groups {1, 3} and {5, 7, 9}: mean 5, total SS 40.
  const torch::Tensor values = torch::tensor({{1.0, 3.0, 5.0, 7.0, 9.0}});
  const std::vector<ScanVariable> variables = {{"g", torch::tensor({0, 0, 1, 1, 1}, torch::kLong), 2}};
  const ConfoundScan scan = confound_scan(values, variables);
  const double between = 2 * std::pow(2.0 - 5.0, 2) + 3 * std::pow(7.0 - 5.0, 2);  // 18 + 12 = 30
  EXPECT_NEAR(scan.eta2[0][0].item<float>(), between / 40.0, 1e-6);
  EXPECT_EQ(scan.best[0].item<int64_t>(), 0);
  // A constant statistic has no best variable; a NaN prompt is left out.
  const ConfoundScan flat = confound_scan(torch::full({1, 5}, 2.0), variables);
  EXPECT_EQ(flat.best[0].item<int64_t>(), -1);
  const torch::Tensor with_nan = torch::tensor({{1.0, 3.0, 5.0, 7.0, 9.0, std::nan("")}});
  const ConfoundScan skipped = confound_scan(with_nan, {{"g", torch::tensor({0, 0, 1, 1, 1, 0}, torch::kLong), 2}});
  EXPECT_NEAR(skipped.eta2[0][0].item<float>(), between / 40.0, 1e-6);
}

TEST(ConfoundScanTest, FindsTheVariableAStatisticFollowsAndExplainsAwayACorrelatedOne) {
  torch::manual_seed(3);
  const int64_t n = 4000;
  const torch::Tensor b = torch::randint(0, 2, {n}, torch::kLong);  // the cause
  const torch::Tensor flip = torch::rand({n}).lt(0.15).to(torch::kLong);
  const torch::Tensor a = (b + flip) % 2;  // agrees with b 85% of the time
  const torch::Tensor unrelated = torch::randint(0, 3, {n}, torch::kLong);
  const torch::Tensor stat = b.to(torch::kFloat64) * 2.0 + 0.3 * torch::randn({n}, torch::kFloat64);
  const std::vector<ScanVariable> variables = {{"a", a, 2}, {"b", b, 2}, {"unrelated", unrelated, 3}};
  const ConfoundScan scan = confound_scan(stat.unsqueeze(0), variables);
  EXPECT_EQ(scan.best[0].item<int64_t>(), 1);
  EXPECT_GT(scan.eta2[0][1].item<float>(), 0.9f);
  EXPECT_GT(scan.eta2[0][0].item<float>(), 0.3f);              // a seems to matter...
  EXPECT_LT(scan.eta2_given_best[0][0].item<float>(), 0.01f);  // ...but not within b's groups
  EXPECT_LT(scan.eta2[0][2].item<float>(), 0.01f);
  // The other way round: a statistic that follows a is not explained away by b.
  const torch::Tensor follows_a = a.to(torch::kFloat64) * 2.0 + 0.3 * torch::randn({n}, torch::kFloat64);
  const ConfoundScan other = confound_scan(follows_a.unsqueeze(0), variables);
  EXPECT_EQ(other.best[0].item<int64_t>(), 0);
  EXPECT_LT(other.eta2_given_best[0][1].item<float>(), 0.01f);
}

TEST(ConfoundScanTest, VariablesComeFromAnnotationColumnsWithFewLevels) {
  const std::vector<std::pair<std::string, torch::Tensor>> annotations = {
      {"queried_chain", torch::tensor({{0}, {1}, {0}, {1}}, torch::kLong)},
      {"truths", torch::tensor({{1, 0}, {0, 0}, {1, 0}, {1, 0}}, torch::kLong)},  // column 1 is constant
      {"position", torch::arange(4).unsqueeze(1) * 7},                            // 4 levels > max 3
      {"flipped", torch::tensor({{5}, {2}, {5}, {2}}, torch::kLong)},             // queried_chain renamed
  };
  const std::vector<ScanVariable> variables = scan_variables(annotations, {"x", "y", "x", "x"}, 3);
  std::vector<std::string> names;
  for (const ScanVariable& v : variables) names.push_back(v.name);
  EXPECT_EQ(names, (std::vector<std::string>{"queried_chain=flipped", "truths[0]", "group"}));
  EXPECT_TRUE(variables[1].codes.equal(torch::tensor({1, 0, 1, 1}, torch::kLong)));
  EXPECT_THROW(confound_scan(torch::zeros({1, 3}), variables), InputError);
}

}  // namespace
}  // namespace mechlens
