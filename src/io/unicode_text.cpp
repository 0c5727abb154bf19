#include "io/unicode_text.h"

#include <unicode/unistr.h>

namespace mechlens {

std::vector<std::string> utf8_characters(const std::string& text) {
  const icu::UnicodeString unicode = icu::UnicodeString::fromUTF8(text);
  std::vector<std::string> out;
  for (int32_t i = 0; i < unicode.length(); i = unicode.moveIndex32(i, 1)) {
    std::string character;
    icu::UnicodeString(unicode.char32At(i)).toUTF8String(character);
    out.push_back(std::move(character));
  }
  return out;
}

std::string replace_all(std::string text, const std::string& from, const std::string& to) {
  for (size_t at = text.find(from); at != std::string::npos; at = text.find(from, at + to.size())) {
    text.replace(at, from.size(), to);
  }
  return text;
}

}  // namespace mechlens
