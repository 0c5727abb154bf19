// HookPoint: a named identity module placed at every intermediate of the transformer.
// With no hook attached it returns its input untouched (no copy, no allocation); hooks may read
// the activation or return a replacement of the same shape, which then flows downstream.
#pragma once

#include <torch/nn/module.h>
#include <torch/nn/pimpl.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace mechlens {

class HookPointImpl;

/// A hook reads `activation` and returns either an undefined tensor (keep the activation) or a
/// replacement with the same shape and dtype.
using HookFn = std::function<torch::Tensor(const torch::Tensor& activation, const HookPointImpl& hook)>;

class HookPointImpl : public torch::nn::Module {
 public:
  /// `dims` names each dimension ("batch", "pos", "head", "d_head", ...), TransformerLens order.
  explicit HookPointImpl(std::vector<std::string> dims);

  torch::Tensor forward(torch::Tensor x);

  /// Attaches a hook; returns an id for remove_hook. Hooks run in the order they were added.
  int64_t add_hook(HookFn fn);
  void remove_hook(int64_t id);
  void clear_hooks() { hooks_.clear(); }
  bool has_hooks() const { return !hooks_.empty(); }

  /// Full path in the model, e.g. "blocks.3.attn.hook_pattern"; set when the model is built.
  const std::string& name() const { return name_; }
  void set_name(std::string name) { name_ = std::move(name); }
  const std::vector<std::string>& dims() const { return dims_; }

 private:
  std::string name_;
  std::vector<std::string> dims_;
  std::vector<std::pair<int64_t, HookFn>> hooks_;
  int64_t next_id_ = 0;
};
TORCH_MODULE(HookPoint);

/// Removes the hooks it holds when it goes out of scope: temporary hooks for one run.
class HookScope {
 public:
  HookScope() = default;
  HookScope(const HookScope&) = delete;
  HookScope& operator=(const HookScope&) = delete;
  HookScope(HookScope&& other) noexcept;
  HookScope& operator=(HookScope&& other) noexcept;
  ~HookScope();

  void add(const HookPoint& point, HookFn fn);
  /// Removes every hook added through this scope now.
  void release();

 private:
  std::vector<std::pair<std::shared_ptr<HookPointImpl>, int64_t>> handles_;
};

}  // namespace mechlens
