#include "hook_point.h"

#include <algorithm>

#include <fmt/ranges.h>

#include "util/error.h"
#include "util/shape_format.h"

namespace mechlens {

HookPointImpl::HookPointImpl(std::vector<std::string> dims) : dims_(std::move(dims)) {}

torch::Tensor HookPointImpl::forward(torch::Tensor x) {
  if (hooks_.empty()) return x;
  for (const auto& [id, fn] : hooks_) {
    torch::Tensor replacement = fn(x, *this);
    if (!replacement.defined()) continue;
    MECHLENS_CHECK(HookError, replacement.sizes() == x.sizes(),
                   "hook on '{}' returned shape {}, expected {} (dims [{}])", name_, format_shape(replacement.sizes()),
                   format_shape(x.sizes()), fmt::join(dims_, ", "));
    MECHLENS_CHECK(HookError, replacement.scalar_type() == x.scalar_type(),
                   "hook on '{}' returned dtype {}, expected {}", name_, c10::toString(replacement.scalar_type()),
                   c10::toString(x.scalar_type()));
    MECHLENS_CHECK(HookError, replacement.device() == x.device(), "hook on '{}' returned a tensor on {}, expected {}",
                   name_, replacement.device().str(), x.device().str());
    x = std::move(replacement);
  }
  return x;
}

int64_t HookPointImpl::add_hook(HookFn fn) {
  MECHLENS_CHECK(HookError, static_cast<bool>(fn), "empty hook function for '{}'", name_);
  hooks_.emplace_back(next_id_, std::move(fn));
  return next_id_++;
}

void HookPointImpl::remove_hook(int64_t id) {
  hooks_.erase(std::remove_if(hooks_.begin(), hooks_.end(), [id](const auto& entry) { return entry.first == id; }),
               hooks_.end());
}

HookScope::HookScope(HookScope&& other) noexcept : handles_(std::move(other.handles_)) { other.handles_.clear(); }

HookScope& HookScope::operator=(HookScope&& other) noexcept {
  if (this != &other) {
    release();
    handles_ = std::move(other.handles_);
    other.handles_.clear();
  }
  return *this;
}

HookScope::~HookScope() { release(); }

void HookScope::add(const HookPoint& point, HookFn fn) {
  const int64_t id = point.ptr()->add_hook(std::move(fn));
  handles_.emplace_back(point.ptr(), id);
}

void HookScope::release() {
  for (auto& [point, id] : handles_) point->remove_hook(id);
  handles_.clear();
}

}  // namespace mechlens
