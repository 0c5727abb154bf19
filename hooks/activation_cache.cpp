#include "activation_cache.h"

#include <fmt/ranges.h>

#include "hook_names.h"
#include "util/error.h"

namespace mechlens {

void ActivationCache::insert(const std::string& name, torch::Tensor activation) {
  const auto it = index_.find(name);
  if (it != index_.end()) {
    tensors_[it->second] = std::move(activation);
    return;
  }
  index_.emplace(name, names_.size());
  names_.push_back(name);
  tensors_.push_back(std::move(activation));
}

const torch::Tensor& ActivationCache::at(const std::string& name) const {
  const auto it = index_.find(name);
  if (it == index_.end()) {
    MECHLENS_FAIL(HookError, "activation cache holds no '{}' ({} cached); closest: {}", name, names_.size(),
                  fmt::join(closest_names(name, names_), ", "));
  }
  return tensors_[it->second];
}

const torch::Tensor& ActivationCache::get(const std::string& short_name, int64_t layer) const {
  return at(act_name(short_name, layer));
}

void ActivationCache::set_dims(const std::string& name, std::vector<std::string> dims) {
  dims_[name] = std::move(dims);
}

const std::vector<std::string>& ActivationCache::dims(const std::string& name) const {
  static const std::vector<std::string> kNone;
  const auto it = dims_.find(name);
  return it == dims_.end() ? kNone : it->second;
}

}  // namespace mechlens
