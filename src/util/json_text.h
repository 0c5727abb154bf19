// Parsing JSON text from files and metadata with the checks nlohmann::json leaves out: nesting is
// bounded before parsing (a 100,000-deep array would overflow the stack wherever the value is later
// walked recursively), and a key given twice in one object is refused instead of the last one
// silently winning.
#pragma once

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

namespace mechlens {

/// Deepest nesting of arrays and objects that parse_json_text accepts.
inline constexpr int kMaxJsonDepth = 64;

/// Parses `text`; throws ErrorType (InputError, ConfigError, CheckpointError or StoreError) starting
/// with `what` (e.g. "config.json") that says where the text is malformed, too deep, or repeats a key.
template <typename ErrorType>
nlohmann::json parse_json_text(const std::string& text, const std::string& what);

/// Reads and parses the JSON file at `path` (a regular file; errors name the path).
template <typename ErrorType>
nlohmann::json read_json_file(const std::string& path);

/// "key: <before_label> X, <after_label> Y" for each key whose value differs between the two objects
/// (a key missing from one side reads "(none)" there): why a resumed run's settings do not match.
std::vector<std::string> json_differences(const nlohmann::json& before, const nlohmann::json& after,
                                          const std::string& before_label, const std::string& after_label);

/// `value` for an error message, cut to `max_chars` (a value of any size stays a short message).
std::string json_excerpt(const nlohmann::json& value, size_t max_chars = 80);

}  // namespace mechlens
