// Shell-style glob matching for hook names (POSIX fnmatch): '*' matches any run of characters (dots
// included), '?' one character, [01] a set. "blocks.*.attn.hook_pattern" selects every layer's
// attention pattern.
#pragma once

#include <string_view>

namespace mechlens {

bool glob_match(std::string_view pattern, std::string_view text);

/// True when the pattern holds a wildcard, so that it may select several names.
bool is_glob(std::string_view pattern);

}  // namespace mechlens
