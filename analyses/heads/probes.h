// Linear probes on activations: multinomial logistic regression (LibTorch, full-batch L-BFGS on
// standardised features) from one hook's activation at one position per prompt to a per-prompt label,
// trained on a seeded split of the prompts and scored on the held-out rest, with Hewitt & Liang's
// control task (each input type — the token at the probed position — gets a seeded random label from
// the same label distribution) and its selectivity (task accuracy − control accuracy), and the
// majority-class baseline.
#pragma once

#include <torch/types.h>

#include <cstdint>
#include <string>
#include <vector>

namespace mechlens {

struct ProbeOptions {
  double train_share = 0.8;      // of the prompts; the rest is held out
  double weight_decay = 1e-3;    // L2 on the weights (not the bias), per example
  int64_t max_iterations = 100;  // L-BFGS iterations
  uint64_t seed = 0;             // the split and the control labels
};

/// A seeded split of `n` prompts: train and test indices (sorted).
struct ProbeSplit {
  torch::Tensor train;  // long [n_train]
  torch::Tensor test;   // long [n_test]
};
ProbeSplit probe_split(int64_t n, double train_share, uint64_t seed);

/// Labels 0..k-1 for each input type (types: long [batch], e.g. the token at the probed position),
/// one seeded random label per type drawn from the distribution of `labels`: the control task.
torch::Tensor control_labels(const torch::Tensor& types, const torch::Tensor& labels, uint64_t seed);

struct ProbeFit {
  torch::Tensor weight;       // [classes, features], on the standardised features
  torch::Tensor bias;         // [classes]
  torch::Tensor mean, scale;  // [features]: the standardisation learnt on the training rows
  double train_accuracy = 0, test_accuracy = 0;
};

/// Fits a probe on features [batch, features] and labels long [batch] (0..classes-1) over the split.
/// Throws InputError naming the mismatch when shapes or labels do not fit.
ProbeFit fit_probe(const torch::Tensor& features, const torch::Tensor& labels, const ProbeSplit& split,
                   const ProbeOptions& options);

/// Predicted classes of a fitted probe: long [batch].
torch::Tensor probe_predict(const ProbeFit& fit, const torch::Tensor& features);

/// The share of the test rows whose label is the training rows' most frequent one.
double majority_baseline(const torch::Tensor& labels, const ProbeSplit& split);

}  // namespace mechlens
