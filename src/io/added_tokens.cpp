#include "io/added_tokens.h"

#include <algorithm>

#include <nlohmann/json.hpp>

#include "util/error.h"
#include "util/json_text.h"

namespace mechlens {

AddedTokens AddedTokens::from_json(const nlohmann::json& config, const std::string& path) {
  using json = nlohmann::json;
  AddedTokens out;
  const json added_tokens = config.value("added_tokens", json::array());
  MECHLENS_CHECK(InputError, added_tokens.is_array(), "{}: added_tokens is {}, expected a list", path,
                 json_excerpt(added_tokens));
  for (const json& added : added_tokens) {
    MECHLENS_CHECK(InputError,
                   added.is_object() && added.value("content", json()).is_string() &&
                       added.value("id", json()).is_number_integer(),
                   "{}: added_tokens entry {} needs 'content' and 'id'", path, json_excerpt(added));
    const int64_t id = added["id"].get<int64_t>();
    MECHLENS_CHECK(InputError, id >= 0 && id < 10'000'000, "{}: added token id {} is out of range", path, id);
    const std::string content = added["content"].get<std::string>();
    if (!content.empty()) out.tokens_.emplace_back(content, id);
  }
  std::stable_sort(out.tokens_.begin(), out.tokens_.end(),
                   [](const auto& a, const auto& b) { return a.first.size() > b.first.size(); });
  return out;
}

std::vector<int64_t> AddedTokens::encode(
    const std::string& text, const std::function<std::vector<int64_t>(const std::string&)>& encode_segment) const {
  std::vector<int64_t> ids;
  auto append_segment = [&](size_t begin, size_t end) {
    if (end == begin) return;
    for (int64_t id : encode_segment(text.substr(begin, end - begin))) ids.push_back(id);
  };
  size_t begin = 0, at = 0;
  while (at < text.size()) {
    const auto special = std::find_if(tokens_.begin(), tokens_.end(), [&](const auto& token) {
      return text.compare(at, token.first.size(), token.first) == 0;
    });
    if (special == tokens_.end()) {
      ++at;
      continue;
    }
    append_segment(begin, at);
    ids.push_back(special->second);
    at += special->first.size();
    begin = at;
  }
  append_segment(begin, text.size());
  return ids;
}

TokenVocabulary TokenVocabulary::from_json(const nlohmann::json& config, const std::string& path) {
  using json = nlohmann::json;
  TokenVocabulary out;
  const json vocab = config["model"].value("vocab", json());
  MECHLENS_CHECK(InputError, vocab.is_object() && !vocab.empty(), "{}: model.vocab must be a non-empty object", path);
  auto name = [&out](const std::string& piece, int64_t id) {
    if (out.pieces.size() <= size_t(id)) out.pieces.resize(size_t(id) + 1);
    out.pieces[size_t(id)] = piece;
    out.ids[piece] = id;
  };
  for (const auto& [piece, id] : vocab.items()) {
    MECHLENS_CHECK(InputError, id.is_number_integer() && id.get<int64_t>() >= 0 && id.get<int64_t>() < 10'000'000,
                   "{}: model.vocab['{}'] is {}, expected an id in 0..9999999", path, piece, json_excerpt(id));
    name(piece, id.get<int64_t>());
  }
  out.added = AddedTokens::from_json(config, path);
  for (const auto& [content, id] : out.added.tokens()) name(content, id);
  return out;
}

}  // namespace mechlens
