// Tensors as HDF5 datasets, the one way every mechlens file stores them: int64 or float32 (float16
// where a record asks for it), with the dimension names in a "dims" attribute ("batch,pos,head").
#pragma once

#include <H5Cpp.h>
#include <torch/types.h>  // torch::Tensor

#include <cstdint>
#include <string>
#include <vector>

namespace mechlens::h5 {

/// A tensor as a dataset (int64, or float32 for floating types) with a "dims" attribute if given.
void write_tensor(const H5::Group& group, const std::string& name, const torch::Tensor& tensor,
                  const std::vector<std::string>& dims = {});

/// Rows [start, start + count) of a numeric dataset (count < 0: to the end) as int64 or float32
/// (float16 storage is widened). `what` ("FILE: /results/x") names it in errors. Throws StoreError
/// for string or compound data and for rows outside the dataset.
torch::Tensor read_tensor(const H5::DataSet& dataset, const std::string& what, int64_t start = 0, int64_t count = -1);

/// A 1-D dataset of strings (variable or fixed length). Throws StoreError naming `what` otherwise.
std::vector<std::string> read_strings(const H5::DataSet& dataset, const std::string& what);

}  // namespace mechlens::h5
