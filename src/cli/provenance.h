// What an analysis command writes into its result file about how it ran: the checkpoint and its
// hash, the command line, the model config, and every option that shaped the run.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cli/options.h"
#include "runtime/config.h"
#include "store/result_file.h"

namespace mechlens::cli {

/// Every option's value (strings, integers, numbers, switches, lists), except those `skip` names.
nlohmann::json options_json(const po::variables_map& vm,
                            const std::function<bool(const std::string&, const po::variable_value&)>& skip = {});

/// Provenance of `mechlens COMMAND ARGS...` run on `checkpoint` (hashed here unless `sha256` is given)
/// with options `vm`.
Provenance command_provenance(const std::string& command, const std::vector<std::string>& args,
                              const std::string& checkpoint, const ModelConfig& config, const nlohmann::json& options,
                              const std::string& sha256 = "");

}  // namespace mechlens::cli
