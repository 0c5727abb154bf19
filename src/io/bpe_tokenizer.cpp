#include "io/bpe_tokenizer.h"

#include <unicode/regex.h>
#include <unicode/unistr.h>

#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>

#include <nlohmann/json.hpp>

#include "io/bpe_merge.h"
#include "util/error.h"
#include "util/json_text.h"

namespace mechlens {
namespace {

namespace fs = std::filesystem;

// GPT-2's pre-tokenisation pattern (encoder.py): contractions, letters, numbers, other symbols, each
// with an optional leading space, then whitespace runs (all but a run's last space before a word).
// Whitespace is Unicode's White_Space, as in Hugging Face tokenizers (ICU's \s alone lacks U+000B, U+0085).
constexpr const char* kPattern = R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\p{White_Space}\p{L}\p{N}]+)"
                                 R"(|\p{White_Space}+(?!\P{White_Space})|\p{White_Space}+)";

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  MECHLENS_CHECK(InputError, in.good(), "{}: cannot open file", path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

std::string utf8_of(UChar32 code_point) {
  std::string out;
  icu::UnicodeString(code_point).toUTF8String(out);
  return out;
}

// Splits UTF-8 text into its code points, each as UTF-8.
std::vector<std::string> code_points(const std::string& text) {
  const icu::UnicodeString unicode = icu::UnicodeString::fromUTF8(text);
  std::vector<std::string> out;
  for (int32_t i = 0; i < unicode.length(); i = unicode.moveIndex32(i, 1)) out.push_back(utf8_of(unicode.char32At(i)));
  return out;
}

}  // namespace

struct BpeTokenizer::Pattern {
  std::unique_ptr<icu::RegexPattern> compiled;
};

BpeTokenizer::BpeTokenizer() : pattern_(std::make_unique<Pattern>()) {
  // Bytes that print stay themselves; the others map to code points from 256 up (GPT-2's bytes_to_unicode).
  byte_char_.resize(256);
  int next = 0;
  for (int b = 0; b < 256; ++b) {
    const bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
    byte_char_[size_t(b)] = utf8_of(printable ? b : 256 + next++);
    char_byte_[byte_char_[size_t(b)]] = static_cast<uint8_t>(b);
  }
  UErrorCode status = U_ZERO_ERROR;
  UParseError parse_error;
  pattern_->compiled.reset(icu::RegexPattern::compile(icu::UnicodeString::fromUTF8(kPattern), parse_error, status));
  MECHLENS_CHECK(Error, U_SUCCESS(status), "ICU: cannot compile GPT-2's pre-tokenisation pattern: {}",
                 u_errorName(status));
}

BpeTokenizer::BpeTokenizer(BpeTokenizer&&) noexcept = default;
BpeTokenizer& BpeTokenizer::operator=(BpeTokenizer&&) noexcept = default;
BpeTokenizer::~BpeTokenizer() = default;

BpeTokenizer BpeTokenizer::from_vocab_and_merges(const nlohmann::json& vocab, const std::vector<std::string>& merges,
                                                 const std::string& source) {
  BpeTokenizer tokenizer;
  MECHLENS_CHECK(InputError, vocab.is_object() && !vocab.empty(), "{}: expected a JSON object {{token: id}}", source);
  for (const auto& [token, id] : vocab.items()) {
    MECHLENS_CHECK(InputError, id.is_number_integer() && id.get<int64_t>() >= 0 && id.get<int64_t>() < 10'000'000,
                   "{}: token '{}' has id {}, expected an integer in 0..9999999", source, token, json_excerpt(id));
    const auto index = static_cast<size_t>(id.get<int64_t>());
    if (tokenizer.decoder_.size() <= index) tokenizer.decoder_.resize(index + 1);
    tokenizer.decoder_[index] = token;
    tokenizer.encoder_[token] = id.get<int64_t>();
  }
  for (size_t rank = 0; rank < merges.size(); ++rank) tokenizer.ranks_.emplace(merges[rank], int64_t(rank));
  return tokenizer;
}

BpeTokenizer BpeTokenizer::from_files(const std::string& vocab_path, const std::string& merges_path) {
  const nlohmann::json vocab = parse_json_text<InputError>(read_text(vocab_path), vocab_path);
  std::istringstream text(read_text(merges_path));
  std::vector<std::string> merges;
  int64_t line_number = 0;
  for (std::string line; std::getline(text, line);) {
    ++line_number;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty() || line.rfind("#version", 0) == 0) continue;
    const size_t space = line.find(' ');
    MECHLENS_CHECK(InputError, space != std::string::npos && space > 0 && space + 1 < line.size(),
                   "{}: line {} is '{}', expected two symbols separated by one space", merges_path, line_number, line);
    merges.push_back(line);
  }
  return from_vocab_and_merges(vocab, merges, vocab_path + " + " + merges_path);
}

bool BpeTokenizer::dir_has_files(const std::string& dir) {
  std::error_code error;
  const fs::path d(dir);
  return (fs::exists(d / "vocab.json", error) && fs::exists(d / "merges.txt", error)) ||
         (fs::exists(d / "encoder.json", error) && fs::exists(d / "vocab.bpe", error));
}

BpeTokenizer BpeTokenizer::from_dir(const std::string& dir) {
  const fs::path d(dir);
  if (fs::exists(d / "vocab.json") && fs::exists(d / "merges.txt")) {
    return from_files((d / "vocab.json").string(), (d / "merges.txt").string());
  }
  MECHLENS_CHECK(InputError, fs::exists(d / "encoder.json") && fs::exists(d / "vocab.bpe"),
                 "{}: no tokenizer files (vocab.json + merges.txt, or encoder.json + vocab.bpe)", dir);
  return from_files((d / "encoder.json").string(), (d / "vocab.bpe").string());
}

std::vector<int64_t> BpeTokenizer::encode(const std::string& text) const {
  // The special token stands for itself wherever the text spells it (as Hugging Face's tokenizers do).
  const std::string special = "<|endoftext|>";
  const int64_t special_id = end_of_text();
  if (special_id >= 0) {
    const size_t at = text.find(special);
    if (at != std::string::npos) {
      std::vector<int64_t> ids = encode_plain(text.substr(0, at));
      ids.push_back(special_id);
      for (int64_t id : encode(text.substr(at + special.size()))) ids.push_back(id);
      return ids;
    }
  }
  return encode_plain(text);
}

std::vector<int64_t> BpeTokenizer::encode_plain(const std::string& text) const {
  std::vector<int64_t> ids;
  const icu::UnicodeString unicode = icu::UnicodeString::fromUTF8(text);
  UErrorCode status = U_ZERO_ERROR;
  std::unique_ptr<icu::RegexMatcher> matcher(pattern_->compiled->matcher(unicode, status));
  MECHLENS_CHECK(Error, U_SUCCESS(status), "ICU: cannot match text: {}", u_errorName(status));
  while (matcher->find(status) && U_SUCCESS(status)) {
    std::string piece;
    matcher->group(status).toUTF8String(piece);
    std::vector<std::string> symbols;
    for (unsigned char byte : piece) symbols.push_back(byte_char_[byte]);
    for (const std::string& token : merge_by_rank(std::move(symbols), ranks_)) {
      const auto it = encoder_.find(token);
      MECHLENS_CHECK(InputError, it != encoder_.end(), "tokenizer: the merged token '{}' is not in the vocabulary",
                     token);
      ids.push_back(it->second);
    }
  }
  MECHLENS_CHECK(Error, U_SUCCESS(status), "ICU: matching failed: {}", u_errorName(status));
  return ids;
}

std::string BpeTokenizer::decode(const std::vector<int64_t>& ids) const {
  std::string bytes;
  for (int64_t id : ids) {
    MECHLENS_CHECK(InputError, id >= 0 && id < vocab_size(), "token id {} is outside the vocabulary (0..{})", id,
                   vocab_size() - 1);
    for (const std::string& character : code_points(decoder_[size_t(id)])) {
      const auto it = char_byte_.find(character);
      if (it != char_byte_.end()) bytes.push_back(static_cast<char>(it->second));
      else bytes += character;  // added tokens ("<|endoftext|>") are plain text
    }
  }
  return bytes;
}

std::vector<std::string> BpeTokenizer::token_strings() const {
  std::vector<std::string> out;
  out.reserve(decoder_.size());
  for (int64_t id = 0; id < vocab_size(); ++id) out.push_back(decode({id}));
  return out;
}

int64_t BpeTokenizer::end_of_text() const {
  const auto it = encoder_.find("<|endoftext|>");
  return it == encoder_.end() ? -1 : it->second;
}

}  // namespace mechlens
