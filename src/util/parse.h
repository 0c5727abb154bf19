// Strict integer parsing for user input: the whole text must be one integer.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace mechlens {

/// The integer `text` spells, or nullopt when it is empty, has trailing characters or overflows.
std::optional<int64_t> parse_int(const std::string& text);

}  // namespace mechlens
