// Strict parsing of user input: the whole text must be one number; lists split on a separator.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace mechlens {

/// The integer `text` spells, or nullopt when it is empty, has trailing characters or overflows.
std::optional<int64_t> parse_int(const std::string& text);
/// The finite number `text` spells in full ("0.5"), or nothing ("0.5x", "", "nan", "inf").
std::optional<double> parse_double(const std::string& text);

/// The parts of `text` between separators ("a,b,,c" -> a, b, "", c; "" -> none), as written.
std::vector<std::string> split_list(const std::string& text, char separator = ',');

}  // namespace mechlens
