#include "cli/provenance.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "io/checkpoint.h"

namespace mechlens::cli {

nlohmann::json options_json(const po::variables_map& vm,
                            const std::function<bool(const std::string&, const po::variable_value&)>& skip) {
  nlohmann::json used = nlohmann::json::object();
  for (const auto& [name, value] : vm) {
    if (skip && skip(name, value)) continue;
    const std::type_info& type = value.value().type();
    if (type == typeid(std::string)) used[name] = value.as<std::string>();
    else if (type == typeid(int64_t)) used[name] = value.as<int64_t>();
    else if (type == typeid(double)) used[name] = value.as<double>();
    else if (type == typeid(bool)) used[name] = value.as<bool>();
    else if (type == typeid(std::vector<std::string>)) used[name] = value.as<std::vector<std::string>>();
  }
  return used;
}

Provenance command_provenance(const std::string& command, const std::vector<std::string>& args,
                              const std::string& checkpoint, const ModelConfig& config, const nlohmann::json& options,
                              const std::string& sha256) {
  Provenance provenance;
  provenance.checkpoint = checkpoint;
  provenance.checkpoint_sha256 = sha256.empty() ? checkpoint_sha256(checkpoint) : sha256;
  provenance.command_line = fmt::format("mechlens {} {}", command, fmt::join(args, " "));
  provenance.model_config_json = config.to_json().dump();
  provenance.options_json = options.dump();
  return provenance;
}

}  // namespace mechlens::cli
