#include "io/sentencepiece_bpe.h"

#include <fmt/format.h>

#include <algorithm>

#include <nlohmann/json.hpp>

#include "io/bpe_merge.h"
#include "io/sentencepiece_model.h"
#include "io/unicode_text.h"
#include "util/error.h"
#include "util/json_text.h"

namespace mechlens {
namespace {

using json = nlohmann::json;

const std::string kMarker = "\xE2\x96\x81";  // ▁ U+2581, SentencePiece's space

bool is_byte_piece(const std::string& piece) {
  return piece.size() == 6 && piece.rfind("<0x", 0) == 0 && piece.back() == '>' &&
         std::isxdigit(static_cast<unsigned char>(piece[3])) && std::isxdigit(static_cast<unsigned char>(piece[4]));
}

// Whether the normalizer / pre-tokenizer pair is the SentencePiece spelling: spaces -> ▁, and one ▁
// first. Returns whether the ▁ is prepended; throws for anything else.
bool check_space_handling(const json& config, const std::string& path) {
  const json normalizer = config.value("normalizer", json());
  const json pre_tokenizer = config.value("pre_tokenizer", json());
  bool prepend = false, replace = false;
  if (normalizer.is_object()) {
    const json steps = normalizer.value("type", "") == "Sequence" ? normalizer.value("normalizers", json::array())
                                                                  : json::array({normalizer});
    for (const json& step : steps) {
      const std::string type = step.value("type", "");
      if (type == "Prepend" && step.value("prepend", "") == kMarker) {
        prepend = true;
      } else if (type == "Replace" && step.contains("pattern") && step["pattern"].value("String", "") == " " &&
                 step.value("content", "") == kMarker) {
        replace = true;
      } else {
        MECHLENS_FAIL(InputError, "{}: normalizer step {} is not one mechlens reproduces (Prepend ▁, Replace ' ' by ▁)",
                      path, json_excerpt(step));
      }
    }
  }
  if (pre_tokenizer.is_object()) {
    MECHLENS_CHECK(InputError,
                   pre_tokenizer.value("type", "") == "Metaspace" &&
                       pre_tokenizer.value("replacement", "") == kMarker && !pre_tokenizer.value("split", false),
                   "{}: pre_tokenizer {} is not one mechlens reproduces (none, or Metaspace ▁ without split)", path,
                   json_excerpt(pre_tokenizer));
    replace = true;
    const std::string scheme = pre_tokenizer.value("prepend_scheme", "always");
    prepend = prepend || (pre_tokenizer.value("add_prefix_space", true) && scheme != "never");
  }
  MECHLENS_CHECK(InputError, replace, "{}: neither normalizer nor pre_tokenizer turns spaces into ▁", path);
  return prepend;
}

}  // namespace

std::unique_ptr<SentencePieceBpe> SentencePieceBpe::from_json(const json& config, const std::string& path) {
  MECHLENS_CHECK(InputError, config.is_object() && config.contains("model") && config["model"].is_object(),
                 "{}: expected a tokenizer.json object with a 'model'", path);
  const json& model = config["model"];
  MECHLENS_CHECK(InputError, model.value("type", "") == "BPE", "{}: model.type is {}, expected \"BPE\"", path,
                 json_excerpt(model.value("type", json())));
  MECHLENS_CHECK(InputError, model.value("dropout", json()).is_null() || model["dropout"] == 0,
                 "{}: model.dropout is {}; BPE dropout is random, mechlens tokenizes deterministically", path,
                 json_excerpt(model["dropout"]));
  auto tokenizer = std::unique_ptr<SentencePieceBpe>(new SentencePieceBpe());
  tokenizer->prepend_marker_ = check_space_handling(config, path);
  tokenizer->byte_fallback_ = model.value("byte_fallback", false);

  TokenVocabulary vocabulary = TokenVocabulary::from_json(config, path);
  tokenizer->vocab_ = std::move(vocabulary.ids);
  tokenizer->pieces_ = std::move(vocabulary.pieces);
  tokenizer->added_ = std::move(vocabulary.added);
  const json merges = model.value("merges", json());
  MECHLENS_CHECK(InputError, merges.is_array() && !merges.empty(),
                 "{}: model.merges must be a non-empty list (an empty table would leave every text in single "
                 "characters)",
                 path);
  for (size_t i = 0; i < merges.size(); ++i) tokenizer->ranks_.emplace(merge_key(merges[i], path, i), int64_t(i));

  const std::string unk = model.value("unk_token", json()).is_string() ? model["unk_token"].get<std::string>() : "";
  if (const auto it = tokenizer->vocab_.find(unk); it != tokenizer->vocab_.end()) tokenizer->unk_ = it->second;
  // BOS: the special token the post-processor puts before a single sequence (TemplateProcessing).
  const json post = config.value("post_processor", json());
  if (post.is_object() && post.value("type", "") == "TemplateProcessing" && post.value("single", json()).is_array() &&
      !post["single"].empty() && post["single"][0].contains("SpecialToken")) {
    const std::string name = post["single"][0]["SpecialToken"].value("id", "");
    if (const auto it = tokenizer->vocab_.find(name); it != tokenizer->vocab_.end()) tokenizer->bos_ = it->second;
  }
  return tokenizer;
}

std::unique_ptr<SentencePieceBpe> SentencePieceBpe::from_model_file(const std::string& path) {
  const SentencePieceModelFile model = read_sentencepiece_model(path);
  using File = SentencePieceModelFile;
  MECHLENS_CHECK(InputError, model.model_type == File::kBpe,
                 "{}: trainer_spec.model_type is {}; mechlens reads SentencePiece BPE models (Llama, Mistral) - "
                 "convert others with transformers (save_pretrained writes a tokenizer.json)",
                 path, model.model_type == File::kUnigram ? "UNIGRAM" : std::to_string(model.model_type));
  MECHLENS_CHECK(InputError, !model.has_precompiled_charsmap,
                 "{}: normalizer_spec '{}' has a normalisation table (precompiled_charsmap), which mechlens does not "
                 "apply; models with the identity normalizer (Llama, Mistral) are read",
                 path, model.normalizer_name);
  MECHLENS_CHECK(InputError, model.escape_whitespaces && !model.treat_whitespace_as_suffix,
                 "{}: whitespace is not escaped as a ▁ prefix (escape_whitespaces false or "
                 "treat_whitespace_as_suffix true), which mechlens does not reproduce",
                 path);
  auto tokenizer = std::unique_ptr<SentencePieceBpe>(new SentencePieceBpe());
  tokenizer->prepend_marker_ = model.add_dummy_prefix;
  tokenizer->remove_extra_whitespaces_ = model.remove_extra_whitespaces;
  tokenizer->byte_fallback_ = model.byte_fallback;
  tokenizer->unk_ = model.unk_id;
  tokenizer->bos_ = model.bos_id;
  std::vector<std::pair<float, int64_t>> by_score;  // normal pieces, the best first
  for (size_t id = 0; id < model.pieces.size(); ++id) {
    const File::Piece& piece = model.pieces[id];
    MECHLENS_CHECK(InputError, piece.type != File::kUserDefined,
                   "{}: piece {} '{}' is a user-defined symbol, which mechlens does not reproduce", path, id,
                   piece.piece);
    tokenizer->pieces_.push_back(piece.piece);
    if (piece.type != File::kUnused) tokenizer->vocab_.emplace(piece.piece, int64_t(id));
    if (piece.type == File::kNormal) by_score.emplace_back(-piece.score, int64_t(id));
  }
  // A merge's rank is its result's place in score order (equal scores share one, so that the leftmost
  // pair wins, as in SentencePiece): every split of a piece into two pieces merges into it.
  std::stable_sort(by_score.begin(), by_score.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  int64_t rank = -1;
  float previous = 0;
  for (size_t i = 0; i < by_score.size(); ++i) {
    if (i == 0 || by_score[i].first != previous) rank = int64_t(i);
    previous = by_score[i].first;
    const std::vector<std::string> chars = utf8_characters(tokenizer->pieces_[size_t(by_score[i].second)]);
    std::string left;
    for (size_t k = 0; k + 1 < chars.size(); ++k) {
      left += chars[k];
      std::string right;
      for (size_t j = k + 1; j < chars.size(); ++j) right += chars[j];
      if (tokenizer->vocab_.count(left) && tokenizer->vocab_.count(right))
        tokenizer->ranks_.emplace(left + " " + right, rank);
    }
  }
  return tokenizer;
}

std::vector<int64_t> SentencePieceBpe::encode(const std::string& text) const {
  return added_.encode(text, [this](const std::string& segment) { return encode_segment(segment); });
}

std::vector<int64_t> SentencePieceBpe::encode_segment(const std::string& raw) const {
  std::string text = raw;
  if (remove_extra_whitespaces_) {
    // SentencePiece's normaliser: no space at either end, one space for each run.
    std::string kept;
    for (char c : text) {
      if (c == ' ' && (kept.empty() || kept.back() == ' ')) continue;
      kept.push_back(c);
    }
    if (!kept.empty() && kept.back() == ' ') kept.pop_back();
    text = std::move(kept);
  }
  if (text.empty()) return {};
  const std::string normalised = (prepend_marker_ ? kMarker : "") + replace_all(text, " ", kMarker);
  // Characters the vocabulary lacks become their bytes (<0xXX>) before merging, as Hugging Face does.
  std::vector<std::string> symbols;
  for (std::string& character : utf8_characters(normalised)) {
    if (vocab_.count(character) || !byte_fallback_) {
      symbols.push_back(std::move(character));
      continue;
    }
    for (unsigned char byte : character) symbols.push_back(fmt::format("<0x{:02X}>", byte));
  }
  std::vector<int64_t> ids;
  for (const std::string& piece : merge_by_rank(std::move(symbols), ranks_)) {
    const auto it = vocab_.find(piece);
    if (it != vocab_.end()) {
      ids.push_back(it->second);
    } else {
      MECHLENS_CHECK(InputError, unk_ >= 0, "tokenizer: '{}' is not in the vocabulary, which has no unk_token", piece);
      if (ids.empty() || ids.back() != unk_) ids.push_back(unk_);  // consecutive unknowns fuse (fuse_unk)
    }
  }
  return ids;
}

std::string SentencePieceBpe::decode(const std::vector<int64_t>& ids) const {
  std::string out;
  for (int64_t id : ids) {
    MECHLENS_CHECK(InputError, id >= 0 && id < vocab_size(), "token id {} is outside the vocabulary (0..{})", id,
                   vocab_size() - 1);
    const std::string& piece = pieces_[size_t(id)];
    if (byte_fallback_ && is_byte_piece(piece)) {
      out.push_back(static_cast<char>(std::stoi(piece.substr(3, 2), nullptr, 16)));
    } else {
      out += replace_all(piece, kMarker, " ");
    }
  }
  if (prepend_marker_ && !out.empty() && out[0] == ' ') out.erase(0, 1);  // the prepended ▁ (decoder Strip)
  return out;
}

std::vector<std::string> SentencePieceBpe::token_strings() const {
  std::vector<std::string> out;
  out.reserve(pieces_.size());
  for (const std::string& piece : pieces_) {
    // A byte token spells its byte when that is a character on its own (ASCII: "\n" for <0x0A>); the
    // others stay "<0xE2>", since one byte of a longer UTF-8 sequence is no text.
    const int byte = byte_fallback_ && is_byte_piece(piece) ? std::stoi(piece.substr(3, 2), nullptr, 16) : -1;
    out.push_back(byte >= 0 && byte < 0x80 ? std::string(1, static_cast<char>(byte))
                                           : replace_all(piece, kMarker, " "));
  }
  return out;
}

}  // namespace mechlens
