// Reads any mechlens HDF5 file (a record or an analysis result): its kind and version, root
// attributes, the tree of groups and datasets, each tensor with its dimension names and label
// datasets, and the vocabulary. One reader for every tool that consumes mechlens files (export,
// view, the analyses that read earlier results); errors name the file, the object and what was
// expected.
#pragma once

#include <H5Cpp.h>
#include <torch/types.h>  // torch::Tensor

#include <nlohmann/json.hpp>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace mechlens {

/// A dataset's values with the names of its dimensions ("layer", "pos", "head"; empty when the
/// file does not name them).
struct LabelledTensor {
  torch::Tensor values;  // int64 or float32
  std::vector<std::string> dims;
};

class ResultReader {
 public:
  /// Opens PATH read-only. Throws StoreError when it is missing (pointing at an unfinished
  /// PATH.partial), not HDF5, or not a mechlens file (no "format" attribute "mechlens-...").
  explicit ResultReader(const std::string& path);
  ~ResultReader();
  ResultReader(ResultReader&&) noexcept;
  ResultReader& operator=(ResultReader&&) noexcept;

  const std::string& path() const { return path_; }
  /// "mechlens-record", "mechlens-patching", ...
  const std::string& format() const { return format_; }
  int64_t format_version() const { return format_version_; }

  bool has_attribute(const std::string& name, const std::string& object = "/") const;
  /// A string attribute of `object` (a group or dataset path). Throws StoreError naming both.
  std::string attribute(const std::string& name, const std::string& object = "/") const;
  double number_attribute(const std::string& name, const std::string& object = "/") const;
  /// Every attribute of `object` as JSON: strings, integers, floats (and 1-D arrays of them).
  nlohmann::json attributes(const std::string& object = "/") const;

  bool exists(const std::string& object) const;
  /// Names of the groups and of the datasets directly under `group`, in file order.
  std::vector<std::string> groups(const std::string& group) const;
  std::vector<std::string> datasets(const std::string& group) const;
  /// Every dataset's path in the file ("/results/head_z/normalised"), depth first, in file order.
  std::vector<std::string> all_datasets() const;

  /// A numeric dataset with its dims (rows [start, start + count) of the first axis; -1: all).
  LabelledTensor read(const std::string& dataset, int64_t start = 0, int64_t count = -1) const;
  /// A dataset's shape without reading it.
  std::vector<int64_t> shape(const std::string& dataset) const;
  /// A 1-D string dataset.
  std::vector<std::string> strings(const std::string& dataset) const;
  /// Token strings by id (/vocab), empty when the file has none.
  std::vector<std::string> vocab() const;

 private:
  void require_dataset(const std::string& full) const;  // throws StoreError unless `full` is a dataset

  std::string path_, format_;
  int64_t format_version_ = 0;
  std::unique_ptr<H5::H5File> file_;
};

}  // namespace mechlens
