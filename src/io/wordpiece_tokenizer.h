// BERT's WordPiece tokenizer as Hugging Face's tokenizer.json describes it: BertNormalizer (drop
// control characters, spaces for whitespace, spaces around CJK ideographs, accents stripped by NFD,
// lower case), BertPreTokenizer (split on whitespace, each punctuation character its own word), then
// the longest vocabulary piece first, continuations spelled "##..."; a word that cannot be spelled is
// [UNK]. Added special tokens ([CLS], [MASK], ...) spelled in the text stand for themselves.
#pragma once

#include <nlohmann/json_fwd.hpp>

#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "io/added_tokens.h"
#include "io/tokenizer.h"

namespace mechlens {

class WordPieceTokenizer : public Tokenizer {
 public:
  /// `config`: the parsed tokenizer.json at `path`. Throws InputError naming the field for settings
  /// this implementation does not reproduce (another normalizer or pre-tokenizer).
  static std::unique_ptr<WordPieceTokenizer> from_json(const nlohmann::json& config, const std::string& path);

  std::vector<int64_t> encode(const std::string& text) const override;
  /// Hugging Face's WordPiece decoder: pieces joined by spaces, "##" continuations glued on, the
  /// spaces before punctuation and English clitics removed (cleanup). Special tokens are kept.
  std::string decode(const std::vector<int64_t>& ids) const override;
  /// The vocabulary's pieces as convert_ids_to_tokens gives them ("##ing" for a continuation).
  std::vector<std::string> token_strings() const override { return pieces_; }
  int64_t vocab_size() const override { return static_cast<int64_t>(pieces_.size()); }
  int64_t bos_token() const override { return cls_; }
  /// The post-processor's template for one sequence: [CLS] ids [SEP].
  std::vector<int64_t> add_special_tokens(std::vector<int64_t> ids) const override;
  std::string kind() const override { return "BERT WordPiece (tokenizer.json)"; }

 private:
  std::vector<int64_t> encode_segment(const std::string& text) const;  // no added tokens in it
  void append_word_pieces(const std::u32string& word, std::vector<int64_t>& ids) const;

  std::unordered_map<std::string, int64_t> vocab_;
  std::vector<std::string> pieces_;  // id -> piece
  AddedTokens added_;
  std::string continuation_prefix_ = "##";
  size_t max_chars_per_word_ = 100;
  int64_t unk_ = -1;
  int64_t cls_ = -1, sep_ = -1;
  bool clean_text_ = true, handle_chinese_chars_ = true, strip_accents_ = true, lowercase_ = true;
};

}  // namespace mechlens
