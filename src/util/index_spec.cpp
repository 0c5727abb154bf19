#include "util/index_spec.h"

#include <sstream>

#include "util/error.h"
#include "util/parse.h"

namespace mechlens {
namespace {

std::optional<int64_t> parse_bound(const std::string& text, const std::string& spec, const std::string& what) {
  if (text.empty()) return std::nullopt;
  const std::optional<int64_t> value = parse_int(text);
  MECHLENS_CHECK(InputError, value.has_value(),
                 "{} '{}': '{}' is not an integer (expected e.g. all, -1, 2:6, -5:, 0,3)", what, spec, text);
  return value;
}

}  // namespace

IndexSpec IndexSpec::parse(const std::string& text, const std::string& what) {
  IndexSpec spec;
  spec.text_ = text;
  spec.what_ = what;
  if (text == "all" || text == ":") return spec;
  std::stringstream stream(text);
  std::string part;
  while (std::getline(stream, part, ',')) {
    Item item;
    const auto colon = part.find(':');
    if (colon == std::string::npos) {
      item.single = true;
      item.start = parse_bound(part, text, what);
      MECHLENS_CHECK(InputError, item.start.has_value(), "{} '{}' has an empty item", what, text);
    } else {
      item.start = parse_bound(part.substr(0, colon), text, what);
      item.stop = parse_bound(part.substr(colon + 1), text, what);
    }
    spec.items_.push_back(item);
  }
  MECHLENS_CHECK(InputError, !spec.items_.empty(), "{} '{}' selects nothing", what, text);
  return spec;
}

std::vector<int64_t> IndexSpec::resolve(int64_t size, const std::string& context) const {
  std::vector<int64_t> out;
  auto absolute = [size](int64_t i) { return i < 0 ? size + i : i; };
  if (items_.empty()) {
    for (int64_t i = 0; i < size; ++i) out.push_back(i);
    return out;
  }
  for (const auto& item : items_) {
    if (item.single) {
      const int64_t index = absolute(*item.start);
      MECHLENS_CHECK(InputError, index >= 0 && index < size, "{} '{}': index {} is outside {} (valid 0..{} or -{}..-1)",
                     what_, text_, *item.start, context, size - 1, size);
      out.push_back(index);
      continue;
    }
    const int64_t start = item.start ? absolute(*item.start) : 0;
    const int64_t stop = item.stop ? absolute(*item.stop) : size;
    MECHLENS_CHECK(InputError, start >= 0 && stop <= size, "{} '{}': slice {}..{} reaches outside {} (valid 0..{})",
                   what_, text_, start, stop - 1, context, size - 1);
    MECHLENS_CHECK(InputError, start < stop, "{} '{}': slice selects nothing of {} (start {} is not before stop {})",
                   what_, text_, context, start, stop);
    for (int64_t i = start; i < stop; ++i) out.push_back(i);
  }
  return out;
}

std::vector<std::vector<int64_t>> IndexSpec::resolve_per_prompt(const std::vector<int64_t>& lengths) const {
  std::vector<std::vector<int64_t>> out;
  out.reserve(lengths.size());
  for (size_t i = 0; i < lengths.size(); ++i) {
    out.push_back(resolve(lengths[i], fmt::format("prompt {} ({} tokens)", i, lengths[i])));
    MECHLENS_CHECK(InputError, out.back().size() == out.front().size(),
                   "{} '{}' keeps {} positions of prompt 0 but {} of prompt {}; prompts of different lengths need a "
                   "fixed-count selection such as -5: or -1",
                   what_, text_, out.front().size(), out.back().size(), i);
  }
  return out;
}

}  // namespace mechlens
