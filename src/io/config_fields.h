// Reading the fields of another tool's model config (a TransformerLens config dict, a Hugging Face
// config.json): typed lookups whose errors name the source, the field and what was expected.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <map>
#include <string>

#include "runtime/config.h"
#include "util/error.h"
#include "util/json_text.h"

namespace mechlens {

class ConfigFields {
 public:
  /// `source` names the config in messages ("TransformerLens config", "m/config.json").
  ConfigFields(const nlohmann::json& config, std::string source) : config_(config), source_(std::move(source)) {}

  /// The field's value, or `fallback` when it is absent or null.
  template <typename T>
  T get_or(const char* name, T fallback) const {
    const auto it = config_.find(name);
    if (it == config_.end() || it->is_null()) return fallback;
    try {
      return it->get<T>();
    } catch (const nlohmann::json::exception&) {
      MECHLENS_FAIL(ConfigError, "{} field '{}' is {}, of the wrong type", source_, name, json_excerpt(*it));
    }
  }

  int64_t required_int(const char* name) const {
    const auto it = config_.find(name);
    MECHLENS_CHECK(ConfigError, it != config_.end() && it->is_number_integer(),
                   "{} field '{}' is {}, expected an integer", source_, name,
                   it == config_.end() ? "missing" : json_excerpt(*it));
    return it->get<int64_t>();
  }

  /// Throws naming the field when `unsupported`: "... field 'x' is 3; mechlens supports only <expected>".
  void refuse_if(const char* name, bool unsupported, const char* expected) const {
    MECHLENS_CHECK(ConfigError, !unsupported, "{} field '{}' is {}; mechlens supports only {}", source_, name,
                   config_.contains(name) ? json_excerpt(config_[name]) : "missing", expected);
  }

  /// The activation named by field `name` (relu, gelu, gelu_new, silu, and the other names
  /// TransformerLens and Hugging Face give the same functions: gelu_pytorch_tanh and gelu_fast are
  /// GELU's tanh form written differently, swish is silu).
  ActFn act_fn(const char* name) const {
    static const std::map<std::string, ActFn> kNames{
        {"relu", ActFn::kReLU},         {"gelu", ActFn::kGELU},
        {"gelu_new", ActFn::kGELUNew},  {"gelu_pytorch_tanh", ActFn::kGELUNew},
        {"gelu_fast", ActFn::kGELUNew}, {"silu", ActFn::kSiLU},
        {"swish", ActFn::kSiLU}};
    const std::string value = get_or<std::string>(name, "");
    const auto it = kNames.find(value);
    MECHLENS_CHECK(ConfigError, it != kNames.end(),
                   "{} field '{}' is '{}', expected one of relu, gelu, gelu_new (gelu_pytorch_tanh, gelu_fast), silu "
                   "(swish) (the others "
                   "are not implemented in mechlens)",
                   source_, name, value);
    return it->second;
  }

 private:
  const nlohmann::json& config_;
  std::string source_;
};

}  // namespace mechlens
