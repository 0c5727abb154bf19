// The confound scan: for per-prompt statistics (a head's attention on a span, its logit attribution),
// how much of each statistic's variance every per-prompt variable explains (η², the correlation
// ratio), which variable explains it best, and how much each other variable still explains within
// the best one's groups (η² of A given B). A statistic that seems to follow A but follows a correlated
// B shows a large η²(A) and a near-zero η²(A | B). Needs no model.
#pragma once

#include <torch/types.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace mechlens {

/// A categorical per-prompt variable: its levels coded 0..levels-1.
struct ScanVariable {
  std::string name;     // "queried_chain", "truths[1]", "group"
  torch::Tensor codes;  // long [batch]
  int64_t levels = 0;
};

/// Variables from annotations ([batch] or [batch, k]: one variable per column, "name[c]" when k > 1)
/// and the data groups (variable "group", when given), keeping those with 2..max_levels distinct
/// values (a token id or position with many values is not a grouping). Variables that split the
/// prompts identically become one, named "a=b".
std::vector<ScanVariable> scan_variables(const std::vector<std::pair<std::string, torch::Tensor>>& annotations,
                                         const std::vector<std::string>& groups, int64_t max_levels = 20);

struct ConfoundScan {
  std::vector<std::string> variables;
  torch::Tensor eta2;             // [stat, variable]: share of the statistic's variance between the variable's groups
  torch::Tensor best;             // [stat] long: the variable with the largest η² (−1: a constant statistic)
  torch::Tensor eta2_given_best;  // [stat, variable]: η² of the variable within the best variable's groups
};

/// `values` [stat, batch] (NaN: no value for that prompt, left out). Throws InputError when a
/// variable's length differs from the batch.
ConfoundScan confound_scan(const torch::Tensor& values, const std::vector<ScanVariable>& variables);

}  // namespace mechlens
