// Pieces every page kind's JSON is made of, read from any mechlens file.
#pragma once

#include <torch/types.h>  // torch::Tensor

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "store/result_reader.h"

namespace mechlens {

/// Row `row` of a [batch, pos] token dataset as text ("" when the dataset is absent); ids without
/// a vocabulary entry are written as numbers.
std::string decoded_prompt(const ResultReader& reader, const std::string& dataset,
                           const std::vector<std::string>& vocab, int64_t row = 0);

/// The values of a tensor, row-major, as doubles (NaN as 0: JSON has no NaN).
std::vector<double> flat_values(const torch::Tensor& tensor);

/// Throws InputError naming the file and the datasets when the per-item arrays of `group`
/// ({name, length}) disagree in length.
void check_lengths(const ResultReader& reader, const std::string& group,
                   const std::vector<std::pair<std::string, size_t>>& arrays);

/// An integer dataset's values as text labels ("0", "1", ...).
std::vector<std::string> long_labels(const ResultReader& reader, const std::string& dataset);

}  // namespace mechlens
