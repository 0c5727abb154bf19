// The vocabulary of a Hugging Face tokenizer.json (model.vocab and added_tokens, both ways) and its
// added (special) tokens: spelled in a text they stand for themselves, and the text between them is
// tokenised on its own, as Hugging Face's tokenizers do.
#pragma once

#include <nlohmann/json_fwd.hpp>

#include <cstdint>
#include <functional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

namespace mechlens {

class AddedTokens {
 public:
  /// The file's added_tokens list; throws InputError naming `path` and the entry when one lacks
  /// 'content' or 'id'.
  static AddedTokens from_json(const nlohmann::json& config, const std::string& path);

  /// Ids of `text`: the longest added token at each position, `encode_segment` for the text between.
  std::vector<int64_t> encode(const std::string& text,
                              const std::function<std::vector<int64_t>(const std::string&)>& encode_segment) const;

  /// (content, id), longest content first.
  const std::vector<std::pair<std::string, int64_t>>& tokens() const { return tokens_; }

 private:
  std::vector<std::pair<std::string, int64_t>> tokens_;
};

/// model.vocab with the added tokens over it: piece -> id and id -> piece.
struct TokenVocabulary {
  std::unordered_map<std::string, int64_t> ids;
  std::vector<std::string> pieces;  // id -> piece ("" for ids nothing names)
  AddedTokens added;

  /// Throws InputError naming `path` and the entry when model.vocab is not a non-empty object of
  /// ids in 0..9999999, or an added token lacks 'content' or 'id'.
  static TokenVocabulary from_json(const nlohmann::json& config, const std::string& path);
};

}  // namespace mechlens
