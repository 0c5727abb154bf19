// ActivationCache: hook name -> activation, in the order the forward pass produced them.
// A plain container; analyses over cached activations live in analyses/, not here.
#pragma once

#include <torch/types.h>  // torch::Tensor

#include <map>
#include <string>
#include <vector>

namespace mechlens {

class ActivationCache {
 public:
  /// Stores (or overwrites) the activation of hook `name`.
  void insert(const std::string& name, torch::Tensor activation);

  bool contains(const std::string& name) const { return index_.count(name) > 0; }
  /// Throws HookError naming the hook and the closest cached names when absent.
  const torch::Tensor& at(const std::string& name) const;
  /// TransformerLens shorthand: get("pattern", 3) == at("blocks.3.attn.hook_pattern").
  const torch::Tensor& get(const std::string& short_name, int64_t layer) const;

  /// Names in forward order.
  const std::vector<std::string>& names() const { return names_; }
  size_t size() const { return names_.size(); }
  bool empty() const { return names_.empty(); }

  /// Dimension names recorded with each activation ("batch", "pos", ...).
  void set_dims(const std::string& name, std::vector<std::string> dims);
  const std::vector<std::string>& dims(const std::string& name) const;

 private:
  std::vector<std::string> names_;
  std::map<std::string, size_t> index_;
  std::vector<torch::Tensor> tensors_;
  std::map<std::string, std::vector<std::string>> dims_;
};

}  // namespace mechlens
