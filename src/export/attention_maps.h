// The attention patterns of a record, per prompt: what the CircuitsVis/bertviz exports and the
// viewer's attention page read. Checks that the record can give whole maps (every destination).
#pragma once

#include <torch/types.h>  // torch::Tensor

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "store/result_reader.h"

namespace mechlens {

class AttentionMaps {
 public:
  /// Throws InputError naming the file when it is not a record, holds no patterns
  /// (/acts/blocks.L.attn.hook_pattern), or kept only some positions.
  explicit AttentionMaps(const ResultReader& reader);

  int64_t n_prompts() const { return lengths_.size(0); }
  /// Recorded layers, ascending (the indices `pattern` takes are positions in this list).
  const std::vector<int64_t>& layers() const { return layers_; }
  /// Indices into layers() chosen by `--layers` text, and prompts chosen by `--examples` text
  /// (IndexSpec; errors name the option and the record's counts).
  std::vector<int64_t> select_layers(const std::string& spec) const;
  std::vector<int64_t> select_prompts(const std::string& spec) const;
  /// "L3H1", or where the record kept a subset of heads, the stored index and the selection.
  std::string head_name(int64_t layer, int64_t head) const;
  /// The prompt's tokens as strings (the record's vocabulary, else the ids), its own length only.
  std::vector<std::string> tokens(int64_t prompt) const;
  /// [head, n, n] float32 of the recorded layer at `layer_index`, cut to the prompt's n tokens.
  torch::Tensor pattern(int64_t layer_index, int64_t prompt) const;

 private:
  const ResultReader& reader_;
  std::vector<int64_t> layers_;
  std::vector<std::string> datasets_, vocab_;
  torch::Tensor lengths_;
  std::string heads_spec_;
};

}  // namespace mechlens
