#include "train/optimizer_state.h"

#include <fstream>
#include <sstream>
#include <type_traits>

#include "io/safetensors.h"
#include "util/error.h"
#include "util/shape_format.h"

namespace mechlens {
namespace {

// The key under which the optimizer keeps a parameter's state: its TensorImpl's address, printed
// (LibTorch 1.x) or as is (LibTorch 2.x).
using StateKey = std::decay_t<decltype(std::declval<torch::optim::AdamW&>().state())>::key_type;

template <typename Key>
Key key_of(c10::TensorImpl* impl) {
  if constexpr (std::is_same_v<Key, std::string>) {
    std::ostringstream text;  // as c10::guts::to_string prints it
    text << impl;
    return text.str();
  } else {
    return Key(impl);
  }
}

// Runs a read of the state file; a file the safetensors reader refuses is a state that cannot resume.
template <typename Read>
auto as_optimizer_state(Read read) {
  try {
    return read();
  } catch (const CheckpointError& e) {
    MECHLENS_FAIL(InputError,
                  "not a readable optimiser state (damaged or truncated; start the run again without "
                  "--resume): {}",
                  e.what());
  }
}

}  // namespace

void write_optimizer_state(const torch::optim::AdamW& optimizer, const NamedParameters& parameters,
                           const std::map<std::string, std::string>& metadata, const std::string& path) {
  NamedTensors tensors;
  for (const auto& [name, parameter] : parameters) {
    const auto found = optimizer.state().find(key_of<StateKey>(parameter.unsafeGetTensorImpl()));
    if (found == optimizer.state().end()) continue;  // not stepped yet (no gradient so far)
    const auto& state = static_cast<const torch::optim::AdamWParamState&>(*found->second);
    tensors.emplace_back(name + ".step", torch::tensor({state.step()}, torch::kInt64));
    tensors.emplace_back(name + ".exp_avg", state.exp_avg());
    tensors.emplace_back(name + ".exp_avg_sq", state.exp_avg_sq());
    if (state.max_exp_avg_sq().defined()) tensors.emplace_back(name + ".max_exp_avg_sq", state.max_exp_avg_sq());
  }
  write_safetensors(path, tensors, metadata);
}

bool is_named_optimizer_state(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  char magic[2] = {0, 0};
  in.read(magic, 2);
  return !(in && magic[0] == 'P' && magic[1] == 'K');  // LibTorch's archives are zip files
}

std::map<std::string, std::string> read_optimizer_state_metadata(const std::string& path) {
  return as_optimizer_state([&] { return read_safetensors_metadata(path); });
}

void load_optimizer_state(torch::optim::AdamW& optimizer, const NamedParameters& parameters, const std::string& path) {
  const SafetensorsFile file = as_optimizer_state([&] { return read_safetensors(path); });
  std::map<std::string, torch::Tensor> stored(file.tensors.begin(), file.tensors.end());
  const auto take = [&](const std::string& name, const torch::Tensor& like, bool required) -> torch::Tensor {
    const auto found = stored.find(name);
    if (found == stored.end()) {
      MECHLENS_CHECK(InputError, !required, "{}: the optimiser state has no '{}'; it does not fit this model", path,
                     name);
      return {};
    }
    MECHLENS_CHECK(InputError, found->second.sizes() == like.sizes(),
                   "{}: '{}' has shape {}, expected {} (the parameter's); the state does not fit this model", path,
                   name, format_shape(found->second.sizes()), format_shape(like.sizes()));
    stored.erase(found);
    return found->second.to(like.device(), like.scalar_type());
  };
  for (const auto& [name, parameter] : parameters) {
    if (stored.find(name + ".step") == stored.end()) continue;  // not stepped when saved
    const torch::Tensor step = stored.at(name + ".step");
    stored.erase(name + ".step");
    MECHLENS_CHECK(InputError, step.numel() == 1 && step.scalar_type() == torch::kInt64,
                   "{}: '{}.step' is not one int64", path, name);
    auto state = std::make_unique<torch::optim::AdamWParamState>();
    state->step(step.item<int64_t>());
    state->exp_avg(take(name + ".exp_avg", parameter, true));
    state->exp_avg_sq(take(name + ".exp_avg_sq", parameter, true));
    if (torch::Tensor max_sq = take(name + ".max_exp_avg_sq", parameter, false); max_sq.defined())
      state->max_exp_avg_sq(max_sq);
    optimizer.state()[key_of<StateKey>(parameter.unsafeGetTensorImpl())] = std::move(state);
  }
  MECHLENS_CHECK(InputError, stored.empty(),
                 "{}: '{}' belongs to no parameter this run trains; the state does not fit "
                 "this model",
                 path, stored.empty() ? "" : stored.begin()->first);
}

}  // namespace mechlens
