// The BPE tokenizers of Llama and Mistral as Hugging Face's tokenizer.json describes them
// (SentencePiece-converted): the text's spaces become ▁ and one ▁ goes first (normalizer Prepend +
// Replace, or pre-tokenizer Metaspace without splitting), the whole text is merged by rank as one
// word, and a character the vocabulary lacks falls back to its UTF-8 bytes (<0x0A>). Added special
// tokens (<s>, </s>, <unk>) spelled in the text stand for themselves. BOS is the post-processor's
// leading special token. SentencePiece's own tokenizer.model is read too (from_model_file).
#pragma once

#include <nlohmann/json_fwd.hpp>

#include <memory>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "io/added_tokens.h"
#include "io/tokenizer.h"

namespace mechlens {

class SentencePieceBpe : public Tokenizer {
 public:
  /// `config`: the parsed tokenizer.json at `path`. Throws InputError naming the field for settings
  /// this implementation does not reproduce (another model type, dropout, a splitting pre-tokenizer).
  static std::unique_ptr<SentencePieceBpe> from_json(const nlohmann::json& config, const std::string& path);
  /// SentencePiece's own tokenizer.model of a BPE model (Llama's, Mistral's; io/sentencepiece_model.h),
  /// tokenizing as SentencePiece does: adjacent symbols merge while their concatenation is a piece,
  /// the highest score first (the leftmost among equals); control pieces (<s>) are not matched in
  /// text. Throws InputError naming the field for models it does not reproduce (unigram, a
  /// normalisation table, user-defined symbols, whitespace as suffix).
  static std::unique_ptr<SentencePieceBpe> from_model_file(const std::string& path);

  std::vector<int64_t> encode(const std::string& text) const override;
  std::string decode(const std::vector<int64_t>& ids) const override;
  std::vector<std::string> token_strings() const override;
  int64_t vocab_size() const override { return static_cast<int64_t>(pieces_.size()); }
  int64_t bos_token() const override { return bos_; }
  std::string kind() const override { return "SentencePiece-style BPE (tokenizer.json)"; }

 private:
  std::vector<int64_t> encode_segment(const std::string& text) const;  // no special tokens in it

  std::unordered_map<std::string, int64_t> vocab_;
  std::vector<std::string> pieces_;                 // id -> piece
  std::unordered_map<std::string, int64_t> ranks_;  // "a b" -> rank
  AddedTokens added_;
  bool byte_fallback_ = false;
  bool prepend_marker_ = true;             // one ▁ before the text
  bool remove_extra_whitespaces_ = false;  // strip spaces at both ends, collapse runs (SentencePiece)
  int64_t unk_ = -1;
  int64_t bos_ = -1;
};

}  // namespace mechlens
