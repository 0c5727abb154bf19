#include "io/bpe_merge.h"

#include <limits>

#include <nlohmann/json.hpp>

#include "util/error.h"
#include "util/json_text.h"

namespace mechlens {

std::vector<std::string> merge_by_rank(std::vector<std::string> symbols,
                                       const std::unordered_map<std::string, int64_t>& ranks) {
  while (symbols.size() > 1) {
    int64_t best_rank = std::numeric_limits<int64_t>::max();
    std::string best_left, best_right;
    for (size_t i = 0; i + 1 < symbols.size(); ++i) {
      const auto it = ranks.find(symbols[i] + " " + symbols[i + 1]);
      if (it != ranks.end() && it->second < best_rank) {
        best_rank = it->second;
        best_left = symbols[i];
        best_right = symbols[i + 1];
      }
    }
    if (best_rank == std::numeric_limits<int64_t>::max()) break;
    std::vector<std::string> merged;
    merged.reserve(symbols.size());
    for (size_t i = 0; i < symbols.size(); ++i) {
      if (i + 1 < symbols.size() && symbols[i] == best_left && symbols[i + 1] == best_right) {
        merged.push_back(best_left + best_right);
        ++i;
      } else {
        merged.push_back(symbols[i]);
      }
    }
    symbols = std::move(merged);
  }
  return symbols;
}

std::string merge_key(const nlohmann::json& entry, const std::string& source, size_t index) {
  if (entry.is_string()) {
    const std::string text = entry.get<std::string>();
    const size_t space = text.find(' ');
    MECHLENS_CHECK(InputError, space != std::string::npos && space > 0 && space + 1 < text.size(),
                   "{}: model.merges[{}] is '{}', expected two symbols separated by one space", source, index, text);
    return text;
  }
  MECHLENS_CHECK(InputError, entry.is_array() && entry.size() == 2 && entry[0].is_string() && entry[1].is_string(),
                 "{}: model.merges[{}] is {}, expected \"a b\" or [\"a\", \"b\"]", source, index, json_excerpt(entry));
  return entry[0].get<std::string>() + " " + entry[1].get<std::string>();
}

}  // namespace mechlens
