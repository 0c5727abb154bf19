// AdamW's state for --resume as a safetensors file keyed by parameter name: the moments of
// "blocks.0.attn.W_Q" are "blocks.0.attn.W_Q.exp_avg", ".exp_avg_sq" (and ".max_exp_avg_sq" with
// amsgrad) and ".step", with the caller's metadata in the header. Unlike LibTorch's archive, which
// keys each parameter by its address in memory, the same state gives the same bytes in every process.
#pragma once

#include <torch/torch.h>

#include <map>
#include <string>
#include <utility>
#include <vector>

namespace mechlens {

/// The parameters the optimizer updates, with their names, in the optimizer's order.
using NamedParameters = std::vector<std::pair<std::string, torch::Tensor>>;

/// Writes the moments of `parameters` (those without a step yet are left out) and `metadata` to `path`.
void write_optimizer_state(const torch::optim::AdamW& optimizer, const NamedParameters& parameters,
                           const std::map<std::string, std::string>& metadata, const std::string& path);

/// Whether `path` holds a state in this format (an older LibTorch archive does not).
bool is_named_optimizer_state(const std::string& path);

/// The header metadata of a state written by write_optimizer_state.
std::map<std::string, std::string> read_optimizer_state_metadata(const std::string& path);

/// Loads the moments of `parameters` from `path` onto the device each parameter is on. Throws
/// InputError naming the file and the parameter when one is missing or has another shape.
void load_optimizer_state(torch::optim::AdamW& optimizer, const NamedParameters& parameters, const std::string& path);

}  // namespace mechlens
