// Text helpers the tokenizers share: UTF-8 split into code points (ICU reads invalid bytes as
// U+FFFD) and plain substring replacement.
#pragma once

#include <string>
#include <vector>

namespace mechlens {

/// Each code point of `text` as its own UTF-8 string.
std::vector<std::string> utf8_characters(const std::string& text);

/// `text` with every occurrence of `from` (non-empty) replaced by `to`, left to right.
std::string replace_all(std::string text, const std::string& from, const std::string& to);

}  // namespace mechlens
