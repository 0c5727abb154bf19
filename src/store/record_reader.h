// Reads a mechlens record (HDF5) back into tensors: hooks, tokens, lengths, annotations, and slices
// of examples, positions and heads. Used by analyses (e.g. patching takes clean activations here).
#pragma once

#include <H5Cpp.h>
#include <torch/types.h>  // torch::Tensor

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace mechlens {

class RecordReader {
 public:
  /// Opens and validates a record: format name and version, completeness. Throws StoreError naming
  /// the file and what is wrong (not HDF5, truncated, other format version, incomplete).
  explicit RecordReader(const std::string& path);

  const std::string& path() const { return path_; }
  int64_t n_examples() const { return n_examples_; }
  std::vector<std::string> hooks() const;
  std::vector<std::string> annotations() const;
  bool has_hook(const std::string& name) const;

  /// Dimension names of a hook's dataset ("batch", "head", "dest", "src", ...).
  std::vector<std::string> dims(const std::string& hook) const;
  /// Dimension names of an annotation's dataset.
  std::vector<std::string> annotation_dims(const std::string& name) const;
  /// Full shape of a hook's dataset, examples first.
  std::vector<int64_t> shape(const std::string& hook) const;
  /// A root attribute stored as a string (model_config, checkpoint_sha256, dtype, ...).
  std::string attribute(const std::string& name) const;

  /// Examples [start, start + count) of a hook as float32 (count -1: to the end).
  torch::Tensor read_hook(const std::string& hook, int64_t start = 0, int64_t count = -1) const;
  /// As read_hook, keeping only `heads` along the dimension named "head" (empty: all).
  torch::Tensor read_hook_heads(const std::string& hook, const std::vector<int64_t>& heads, int64_t start = 0,
                                int64_t count = -1) const;
  torch::Tensor read_tokens(int64_t start = 0, int64_t count = -1) const;   // [n, T] int64
  torch::Tensor read_lengths(int64_t start = 0, int64_t count = -1) const;  // [n] int64
  /// Absolute positions kept per example [n, P], or undefined when every position was recorded.
  torch::Tensor read_positions(int64_t start = 0, int64_t count = -1) const;
  torch::Tensor read_annotation(const std::string& name, int64_t start = 0, int64_t count = -1) const;

 private:
  void require_layout(const std::vector<hsize_t>& tokens_shape) const;
  torch::Tensor read_rows(const std::string& dataset_path, int64_t start, int64_t count) const;

  std::string path_;
  std::unique_ptr<H5::H5File> file_;
  int64_t n_examples_ = 0;
};

}  // namespace mechlens
