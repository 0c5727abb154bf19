// Weights of a Hugging Face directory (one file or shards listed by an index, safetensors or
// torch.save) and the checked, by-name access every architecture's importer uses.
#pragma once

#include <c10/core/ScalarType.h>
#include <torch/types.h>

#include <functional>
#include <map>
#include <string>
#include <vector>

namespace mechlens {

/// Every tensor of the checkpoint by name, from one file or the shards an index lists: safetensors
/// (model.safetensors[.index.json]) when present, else torch.save files (pytorch_model.bin[.index.json]).
/// Throws CheckpointError when shards and index disagree.
std::map<std::string, torch::Tensor> read_all_weights(const std::string& dir);

// Takes tensors out of the checkpoint by their Hugging Face names, checking shapes; what is left at
// the end is reported.
class WeightSource {
 public:
  /// `prefix`: the base model's name prefix when the checkpoint holds the language-model class
  /// ("transformer.", "model.", "bert."); a bare base model's names have none.
  /// `dtype`: what every taken tensor is converted to (the model's weight dtype).
  WeightSource(std::map<std::string, torch::Tensor> tensors, std::string dir, const std::string& prefix,
               torch::ScalarType dtype = torch::kFloat32);

  /// Rearranges a stored tensor into mechlens's layout (a transpose, a split into heads).
  using Layout = std::function<torch::Tensor(const torch::Tensor&)>;

  /// The tensor in the weight dtype and, given `layout`, rearranged; contiguous. When that took a
  /// copy, the stored (memory-mapped) tensor's pages are released, so that loading holds each
  /// weight once. Throws CheckpointError when it is missing or has another shape.
  torch::Tensor take(const std::string& name, const std::vector<int64_t>& shape, const Layout& layout = nullptr);
  /// Drops tensors that are not weights (buffers) or that duplicate another (a tied lm_head).
  void drop_if(const std::function<bool(const std::string&)>& unwanted);
  /// Throws CheckpointError listing the tensors nothing took.
  void check_all_used() const;
  /// How many taken tensors were stored in float16 (converted: LibTorch on CPU computes in float32
  /// or bfloat16, not float16).
  int64_t float16_taken() const { return float16_taken_; }

 private:
  std::string full(const std::string& name) const { return prefix_ + name; }

  std::map<std::string, torch::Tensor> tensors_;
  std::string dir_;
  std::string prefix_;
  torch::ScalarType dtype_;
  int64_t float16_taken_ = 0;
};

/// [in, heads * d_head] -> [heads, in, d_head]
torch::Tensor split_heads_in(const torch::Tensor& w, int64_t heads);

// Layouts of nn.Linear weights ([out, in]) for WeightSource::take.
/// [out, in] -> [in, out]
WeightSource::Layout transposed();
/// [heads * d_head, in] -> [heads, in, d_head] (W_Q, W_K, W_V)
WeightSource::Layout heads_in(int64_t heads);
/// [heads * d_head] -> [heads, d_head] (b_Q, b_K, b_V)
WeightSource::Layout bias_heads(int64_t heads);
/// [d_model, heads * d_head] -> [heads, d_head, d_model] (W_O)
WeightSource::Layout heads_out(int64_t heads);

bool ends_with(const std::string& text, const std::string& suffix);

}  // namespace mechlens
