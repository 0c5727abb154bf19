// Optimiser states written before the named format (optimizer_state.h): LibTorch archives whose
// parameters are keyed by memory address. Read only, so that runs started then still resume.
#pragma once

#include <torch/torch.h>

#include <map>
#include <string>

namespace mechlens {

/// "step", "checkpoint_sha256" and "resume_key" of a LibTorch-archive state (empty when absent).
std::map<std::string, std::string> read_legacy_state_header(const std::string& path, const torch::Device& device);

/// Loads a LibTorch-archive state into `optimizer` (its parameters in the order they were saved).
void load_legacy_state(torch::optim::AdamW& optimizer, const std::string& path, const torch::Device& device);

}  // namespace mechlens
