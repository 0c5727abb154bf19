// Levenshtein distance between two names, for "did you mean" suggestions (hook names, options).
#pragma once

#include <cstddef>
#include <string>

namespace mechlens {

size_t edit_distance(const std::string& a, const std::string& b);

}  // namespace mechlens
