// Strict integer parsing for user input: the whole text must be one integer.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace mechlens {

/// The integer `text` spells, or nullopt when it is empty, has trailing characters or overflows.
std::optional<int64_t> parse_int(const std::string& text);
/// The finite number `text` spells in full ("0.5"), or nothing ("0.5x", "", "nan", "inf").
std::optional<double> parse_double(const std::string& text);

}  // namespace mechlens
