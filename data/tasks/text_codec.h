// What a task that writes text needs of a tokenizer: ids of a text, each id's text (to find where a
// piece of the text landed), and the BOS token. Tasks stay free of model and file code; the command
// line adapts its tokenizer to this.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace mechlens {

class TextCodec {
 public:
  virtual ~TextCodec() = default;
  /// Ids of `text`, without a BOS.
  virtual std::vector<int64_t> encode(const std::string& text) const = 0;
  /// Each id's text as it appears in the encoded text (a SentencePiece ▁ as a space).
  virtual std::vector<std::string> token_strings() const = 0;
  /// The token put before every prompt, or -1 for none.
  virtual int64_t bos_token() const = 0;
};

}  // namespace mechlens
