#include "heads/probes.h"

#include <torch/torch.h>

#include <algorithm>
#include <numeric>
#include <random>

#include "util/error.h"

namespace mechlens {
namespace {

// A uniform double in [0, 1) from a 64-bit generator (the generator's output is standardised, so the
// draws are the same on every platform).
double uniform(std::mt19937_64& gen) { return double(gen() >> 11) * 0x1.0p-53; }

double accuracy(const torch::Tensor& predicted, const torch::Tensor& labels) {
  return labels.numel() == 0 ? 0.0 : predicted.eq(labels).to(torch::kFloat64).mean().item<double>();
}

}  // namespace

ProbeSplit probe_split(int64_t n, double train_share, uint64_t seed) {
  MECHLENS_CHECK(InputError, n >= 2, "a probe needs at least 2 prompts, got {}", n);
  MECHLENS_CHECK(InputError, train_share > 0 && train_share < 1, "probe train share {} is outside (0, 1)", train_share);
  std::vector<int64_t> order(static_cast<size_t>(n));
  std::iota(order.begin(), order.end(), 0);
  std::mt19937_64 gen(seed);
  for (int64_t i = n - 1; i > 0; --i)
    std::swap(order[size_t(i)], order[size_t(gen() % uint64_t(i + 1))]);  // Fisher–Yates
  const int64_t n_train = std::clamp<int64_t>(int64_t(double(n) * train_share + 0.5), 1, n - 1);
  std::vector<int64_t> train(order.begin(), order.begin() + n_train), test(order.begin() + n_train, order.end());
  std::sort(train.begin(), train.end());
  std::sort(test.begin(), test.end());
  return {torch::tensor(train, torch::kLong), torch::tensor(test, torch::kLong)};
}

torch::Tensor control_labels(const torch::Tensor& types, const torch::Tensor& labels, uint64_t seed) {
  MECHLENS_CHECK(InputError, types.dim() == 1 && labels.dim() == 1 && types.numel() == labels.numel(),
                 "control task: {} input types for {} labels", types.numel(), labels.numel());
  const auto [type_values, type_codes] = at::_unique(types.to(torch::kLong), true, true);
  const int64_t classes = labels.max().item<int64_t>() + 1;
  const torch::Tensor frequency = torch::bincount(labels, {}, classes).to(torch::kFloat64) / double(labels.numel());
  const torch::Tensor cumulative = frequency.cumsum(0);
  std::mt19937_64 gen(seed ^ 0xC0A7u);
  std::vector<int64_t> label_of_type(size_t(type_values.numel()));
  for (auto& label : label_of_type) {
    const double u = uniform(gen);
    label = std::min<int64_t>(classes - 1, torch::searchsorted(cumulative, torch::tensor(u, torch::kFloat64), false,
                                                               /*right=*/true)
                                               .item<int64_t>());
  }
  return torch::tensor(label_of_type, torch::kLong).index_select(0, type_codes);
}

ProbeFit fit_probe(const torch::Tensor& features, const torch::Tensor& labels, const ProbeSplit& split,
                   const ProbeOptions& options) {
  MECHLENS_CHECK(InputError, features.dim() == 2 && labels.dim() == 1 && features.size(0) == labels.size(0),
                 "probe: features [batch, features] and labels [batch] disagree: {} vs {} rows", features.size(0),
                 labels.size(0));
  MECHLENS_CHECK(InputError, labels.numel() > 0 && labels.min().item<int64_t>() >= 0, "probe: labels must be 0..k-1");
  MECHLENS_CHECK(InputError, options.max_iterations >= 1 && options.weight_decay >= 0,
                 "probe: iterations must be >= 1 and weight decay >= 0");
  const int64_t classes = labels.max().item<int64_t>() + 1, n_features = features.size(1);
  const torch::Tensor x = features.to(torch::kFloat32);
  const torch::Tensor x_train = x.index_select(0, split.train), y_train = labels.index_select(0, split.train);
  ProbeFit fit;
  fit.mean = x_train.mean(0);
  fit.scale = x_train.std(0, /*unbiased=*/false).clamp_min(1e-6);
  const torch::Tensor z_train = (x_train - fit.mean) / fit.scale;
  torch::Tensor weight = torch::zeros({classes, n_features}, torch::requires_grad());
  torch::Tensor bias = torch::zeros({classes}, torch::requires_grad());
  torch::optim::LBFGS optimizer({weight, bias}, torch::optim::LBFGSOptions(1.0)
                                                    .max_iter(options.max_iterations)
                                                    .tolerance_grad(1e-6)
                                                    .tolerance_change(1e-9)
                                                    .line_search_fn("strong_wolfe"));
  auto closure = [&]() {
    optimizer.zero_grad();
    const torch::Tensor loss = torch::nn::functional::cross_entropy(z_train.matmul(weight.t()) + bias, y_train) +
                               0.5 * options.weight_decay * weight.pow(2).sum();
    loss.backward();
    return loss;
  };
  optimizer.step(closure);
  fit.weight = weight.detach();
  fit.bias = bias.detach();
  fit.train_accuracy = accuracy(probe_predict(fit, x_train), y_train);
  fit.test_accuracy = accuracy(probe_predict(fit, x.index_select(0, split.test)), labels.index_select(0, split.test));
  return fit;
}

torch::Tensor probe_predict(const ProbeFit& fit, const torch::Tensor& features) {
  torch::NoGradGuard no_grad;
  const torch::Tensor z = (features.to(torch::kFloat32) - fit.mean) / fit.scale;
  return (z.matmul(fit.weight.t()) + fit.bias).argmax(1);
}

double majority_baseline(const torch::Tensor& labels, const ProbeSplit& split) {
  const torch::Tensor train = labels.index_select(0, split.train), test = labels.index_select(0, split.test);
  const int64_t majority = torch::bincount(train).argmax().item<int64_t>();
  return accuracy(torch::full_like(test, majority), test);
}

}  // namespace mechlens
