#include "io/wordpiece_tokenizer.h"

#include <unicode/locid.h>
#include <unicode/normalizer2.h>
#include <unicode/uchar.h>
#include <unicode/unistr.h>

#include <nlohmann/json.hpp>

#include "io/unicode_text.h"
#include "util/error.h"
#include "util/json_text.h"

namespace mechlens {
namespace {

using json = nlohmann::json;

std::u32string to_code_points(const std::string& utf8) {
  const icu::UnicodeString unicode = icu::UnicodeString::fromUTF8(utf8);
  std::u32string out;
  for (int32_t i = 0; i < unicode.length(); i = unicode.moveIndex32(i, 1)) out.push_back(char32_t(unicode.char32At(i)));
  return out;
}

std::string to_utf8(const std::u32string& code_points) {
  icu::UnicodeString unicode;
  for (char32_t c : code_points) unicode.append(UChar32(c));
  std::string out;
  unicode.toUTF8String(out);
  return out;
}

// The character classes of Hugging Face's BERT normalizer and pre-tokenizer (tokenizers' bert.rs).
bool is_bert_whitespace(char32_t c) { return c == '\t' || c == '\n' || c == '\r' || u_isUWhiteSpace(UChar32(c)); }

bool is_bert_control(char32_t c) {
  if (c == '\t' || c == '\n' || c == '\r') return false;
  const int8_t type = u_charType(UChar32(c));
  return type == U_CONTROL_CHAR || type == U_FORMAT_CHAR || type == U_UNASSIGNED || type == U_PRIVATE_USE_CHAR ||
         type == U_SURROGATE;
}

bool is_punctuation(char32_t c) {
  // ASCII punctuation includes symbols ($, +, <, =, >, ^, `, |, ~) that Unicode files elsewhere.
  if ((c >= 33 && c <= 47) || (c >= 58 && c <= 64) || (c >= 91 && c <= 96) || (c >= 123 && c <= 126)) return true;
  switch (u_charType(UChar32(c))) {
    case U_CONNECTOR_PUNCTUATION:
    case U_DASH_PUNCTUATION:
    case U_START_PUNCTUATION:
    case U_END_PUNCTUATION:
    case U_INITIAL_PUNCTUATION:
    case U_FINAL_PUNCTUATION:
    case U_OTHER_PUNCTUATION:
      return true;
    default:
      return false;
  }
}

bool is_cjk_ideograph(char32_t c) {
  return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) || (c >= 0x20000 && c <= 0x2A6DF) ||
         (c >= 0x2A700 && c <= 0x2B73F) || (c >= 0x2B740 && c <= 0x2B81F) || (c >= 0x2B920 && c <= 0x2CEAF) ||
         (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x2F800 && c <= 0x2FA1F);
}

std::u32string decompose_without_accents(const std::u32string& text) {
  UErrorCode status = U_ZERO_ERROR;
  const icu::Normalizer2* nfd = icu::Normalizer2::getNFDInstance(status);
  MECHLENS_CHECK(Error, U_SUCCESS(status), "ICU: no NFD normalizer: {}", u_errorName(status));
  icu::UnicodeString unicode;
  for (char32_t c : text) unicode.append(UChar32(c));
  const icu::UnicodeString decomposed = nfd->normalize(unicode, status);
  MECHLENS_CHECK(Error, U_SUCCESS(status), "ICU: NFD failed: {}", u_errorName(status));
  std::u32string out;
  for (int32_t i = 0; i < decomposed.length(); i = decomposed.moveIndex32(i, 1)) {
    const UChar32 c = decomposed.char32At(i);
    if (u_charType(c) != U_NON_SPACING_MARK) out.push_back(char32_t(c));
  }
  return out;
}

// Full lower-case mapping of each character on its own, as Rust's char::to_lowercase (İ -> i̇).
std::u32string lower_case(const std::u32string& text) {
  std::u32string out;
  for (char32_t c : text) {
    if (c < 128) {
      out.push_back(c >= 'A' && c <= 'Z' ? c + 32 : c);
      continue;
    }
    icu::UnicodeString one{static_cast<UChar32>(c)};
    one.toLower(icu::Locale::getRoot());
    for (int32_t i = 0; i < one.length(); i = one.moveIndex32(i, 1)) out.push_back(char32_t(one.char32At(i)));
  }
  return out;
}

// A special token of the post-processor's single-sequence template, by position (0 or last).
std::string template_special(const json& post, bool first) {
  if (!post.is_object()) return "";
  if (post.value("type", "") == "BertProcessing") {
    const json pair = post.value(first ? "cls" : "sep", json());
    return pair.is_array() && !pair.empty() && pair[0].is_string() ? pair[0].get<std::string>() : "";
  }
  const json single = post.value("single", json());
  if (post.value("type", "") != "TemplateProcessing" || !single.is_array() || single.empty()) return "";
  const json& item = first ? single.front() : single.back();
  return item.contains("SpecialToken") ? item["SpecialToken"].value("id", "") : "";
}

}  // namespace

std::unique_ptr<WordPieceTokenizer> WordPieceTokenizer::from_json(const json& config, const std::string& path) {
  const json& model = config["model"];
  MECHLENS_CHECK(InputError, model.value("type", "") == "WordPiece", "{}: model.type is {}, expected \"WordPiece\"",
                 path, json_excerpt(model.value("type", json())));
  auto tokenizer = std::unique_ptr<WordPieceTokenizer>(new WordPieceTokenizer());
  const json normalizer = config.value("normalizer", json());
  MECHLENS_CHECK(InputError, normalizer.is_object() && normalizer.value("type", "") == "BertNormalizer",
                 "{}: normalizer is {}; mechlens reproduces WordPiece with BertNormalizer only", path,
                 json_excerpt(normalizer));
  tokenizer->clean_text_ = normalizer.value("clean_text", true);
  tokenizer->handle_chinese_chars_ = normalizer.value("handle_chinese_chars", true);
  tokenizer->lowercase_ = normalizer.value("lowercase", true);
  // strip_accents null follows lowercase, as in Hugging Face.
  const json strip = normalizer.value("strip_accents", json());
  tokenizer->strip_accents_ = strip.is_boolean() ? strip.get<bool>() : tokenizer->lowercase_;
  const json pre = config.value("pre_tokenizer", json());
  MECHLENS_CHECK(InputError, pre.is_object() && pre.value("type", "") == "BertPreTokenizer",
                 "{}: pre_tokenizer is {}; mechlens reproduces WordPiece with BertPreTokenizer only", path,
                 json_excerpt(pre));

  TokenVocabulary vocabulary = TokenVocabulary::from_json(config, path);
  tokenizer->vocab_ = std::move(vocabulary.ids);
  tokenizer->pieces_ = std::move(vocabulary.pieces);
  tokenizer->added_ = std::move(vocabulary.added);
  tokenizer->continuation_prefix_ = model.value("continuing_subword_prefix", std::string("##"));
  const json max_chars = model.value("max_input_chars_per_word", json(100));
  MECHLENS_CHECK(InputError, max_chars.is_number_integer() && max_chars.get<int64_t>() > 0,
                 "{}: model.max_input_chars_per_word is {}, expected a positive integer", path,
                 json_excerpt(max_chars));
  tokenizer->max_chars_per_word_ = max_chars.get<size_t>();
  const std::string unk = model.value("unk_token", std::string("[UNK]"));
  const auto unk_it = tokenizer->vocab_.find(unk);
  MECHLENS_CHECK(InputError, unk_it != tokenizer->vocab_.end(), "{}: model.unk_token '{}' is not in the vocabulary",
                 path, unk);
  tokenizer->unk_ = unk_it->second;
  const json post = config.value("post_processor", json());
  const std::string cls = template_special(post, true), sep = template_special(post, false);
  if (const auto it = tokenizer->vocab_.find(cls); it != tokenizer->vocab_.end()) tokenizer->cls_ = it->second;
  if (const auto it = tokenizer->vocab_.find(sep); it != tokenizer->vocab_.end()) tokenizer->sep_ = it->second;
  return tokenizer;
}

std::vector<int64_t> WordPieceTokenizer::encode(const std::string& text) const {
  return added_.encode(text, [this](const std::string& segment) { return encode_segment(segment); });
}

std::vector<int64_t> WordPieceTokenizer::encode_segment(const std::string& text) const {
  // Normalise: clean, isolate CJK ideographs, strip accents, lower-case (BertNormalizer's order).
  std::u32string normalised;
  for (char32_t c : to_code_points(text)) {
    if (clean_text_) {
      if (c == 0 || c == 0xFFFD || is_bert_control(c)) continue;
      if (is_bert_whitespace(c)) c = ' ';
    }
    if (handle_chinese_chars_ && is_cjk_ideograph(c)) {
      normalised += U' ';
      normalised += c;
      normalised += U' ';
    } else {
      normalised += c;
    }
  }
  if (strip_accents_) normalised = decompose_without_accents(normalised);
  if (lowercase_) normalised = lower_case(normalised);

  // Pre-tokenise: whitespace separates words, each punctuation character is a word of its own.
  std::vector<int64_t> ids;
  std::u32string word;
  auto flush = [&]() {
    if (!word.empty()) append_word_pieces(word, ids);
    word.clear();
  };
  for (char32_t c : normalised) {
    if (is_bert_whitespace(c)) {
      flush();
    } else if (is_punctuation(c)) {
      flush();
      word = c;
      flush();
    } else {
      word += c;
    }
  }
  flush();
  return ids;
}

void WordPieceTokenizer::append_word_pieces(const std::u32string& word, std::vector<int64_t>& ids) const {
  if (word.size() > max_chars_per_word_) {
    ids.push_back(unk_);
    return;
  }
  // Greedy longest match from the left; one piece that cannot be matched makes the word [UNK].
  std::vector<int64_t> pieces;
  size_t start = 0;
  while (start < word.size()) {
    int64_t found = -1;
    size_t end = word.size();
    for (; end > start; --end) {
      const std::string piece = (start > 0 ? continuation_prefix_ : "") + to_utf8(word.substr(start, end - start));
      if (const auto it = vocab_.find(piece); it != vocab_.end()) {
        found = it->second;
        break;
      }
    }
    if (found < 0) {
      ids.push_back(unk_);
      return;
    }
    pieces.push_back(found);
    start = end;
  }
  ids.insert(ids.end(), pieces.begin(), pieces.end());
}

std::string WordPieceTokenizer::decode(const std::vector<int64_t>& ids) const {
  std::string out;
  for (size_t i = 0; i < ids.size(); ++i) {
    MECHLENS_CHECK(InputError, ids[i] >= 0 && ids[i] < vocab_size(), "token id {} is outside the vocabulary (0..{})",
                   ids[i], vocab_size() - 1);
    std::string piece = pieces_[size_t(ids[i])];
    if (i > 0) {
      if (piece.rfind(continuation_prefix_, 0) == 0) piece = piece.substr(continuation_prefix_.size());
      else piece = " " + piece;
    }
    // Hugging Face's cleanup, applied to each piece as its decoder does.
    for (const auto& [from, to] : std::vector<std::pair<std::string, std::string>>{{" .", "."},
                                                                                   {" ?", "?"},
                                                                                   {" !", "!"},
                                                                                   {" ,", ","},
                                                                                   {" ' ", "'"},
                                                                                   {" n't", "n't"},
                                                                                   {" 'm", "'m"},
                                                                                   {" do not", " don't"},
                                                                                   {" 's", "'s"},
                                                                                   {" 've", "'ve"},
                                                                                   {" 're", "'re"}})
      piece = replace_all(piece, from, to);
    out += piece;
  }
  return out;
}

std::vector<int64_t> WordPieceTokenizer::add_special_tokens(std::vector<int64_t> ids) const {
  if (cls_ >= 0) ids.insert(ids.begin(), cls_);
  if (sep_ >= 0) ids.push_back(sep_);
  return ids;
}

}  // namespace mechlens
