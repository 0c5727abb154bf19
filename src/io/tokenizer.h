// Text to token ids for --prompt: one interface over the tokenizers mechlens reads, chosen by the
// files a directory holds — GPT-2's byte-level BPE (vocab.json + merges.txt, encoder.json +
// vocab.bpe, or a tokenizer.json with a ByteLevel pre-tokenizer) and the SentencePiece-style BPE of
// Llama and Mistral in Hugging Face's tokenizer.json (▁ for spaces, byte fallback), and BERT's
// WordPiece (tokenizer.json with model type WordPiece); SentencePiece's own tokenizer.model (BPE).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace mechlens {

class Tokenizer {
 public:
  virtual ~Tokenizer() = default;
  /// Ids of the text, without a BOS; added special tokens spelled in the text stand for themselves.
  virtual std::vector<int64_t> encode(const std::string& text) const = 0;
  /// The UTF-8 text of the ids.
  virtual std::string decode(const std::vector<int64_t>& ids) const = 0;
  /// Each id's text, for labels in output files and for locating text pieces among tokens: the text
  /// the token spells in an encoded text (SentencePiece's ▁ as a space, an ASCII byte token as its byte).
  virtual std::vector<std::string> token_strings() const = 0;
  virtual int64_t vocab_size() const = 0;
  /// The token --prepend-bos puts first (GPT-2: <|endoftext|>; Llama/Mistral: <s>; BERT: [CLS]), or -1.
  virtual int64_t bos_token() const = 0;
  /// What --prepend-bos makes of encoded ids: the BOS first (decoders); an encoder's template, such
  /// as BERT's [CLS] ids [SEP]. Needs bos_token() >= 0.
  virtual std::vector<int64_t> add_special_tokens(std::vector<int64_t> ids) const {
    ids.insert(ids.begin(), bos_token());
    return ids;
  }
  /// What the tokenizer is, for messages ("GPT-2 byte-level BPE", ...).
  virtual std::string kind() const = 0;
};

/// Whether `dir` holds tokenizer files load_tokenizer reads.
bool dir_has_tokenizer(const std::string& dir);

/// The tokenizer of `dir`: tokenizer.json when present, else GPT-2's file pairs, else SentencePiece's
/// tokenizer.model. Throws InputError naming the file and field for a tokenizer mechlens cannot
/// reproduce exactly.
std::unique_ptr<Tokenizer> load_tokenizer(const std::string& dir);

}  // namespace mechlens
