#include "io/tokenizer.h"

#include <filesystem>

#include <nlohmann/json.hpp>

#include "io/bpe_merge.h"
#include "io/bpe_tokenizer.h"
#include "io/sentencepiece_bpe.h"
#include "io/wordpiece_tokenizer.h"
#include "util/error.h"
#include "util/json_text.h"

namespace mechlens {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

// A tokenizer.json whose pre-tokenizer is GPT-2's (ByteLevel with its pattern): GPT-2's BPE on the
// file's vocabulary and merges. Llama-3-style Split patterns are other tokenizers and are refused.
std::unique_ptr<Tokenizer> byte_level_from_json(const json& config, const std::string& path) {
  const json& pre = config["pre_tokenizer"];
  MECHLENS_CHECK(InputError, pre.value("use_regex", true),
                 "{}: pre_tokenizer ByteLevel without GPT-2's pattern (use_regex false) is not reproduced", path);
  const json& model = config["model"];
  MECHLENS_CHECK(InputError, model.value("type", "") == "BPE", "{}: model.type is {}, expected \"BPE\"", path,
                 json_excerpt(model.value("type", json())));
  const json merges = model.value("merges", json());
  MECHLENS_CHECK(InputError, merges.is_array() && !merges.empty(), "{}: model.merges must be a non-empty list", path);
  std::vector<std::string> keys;
  for (size_t i = 0; i < merges.size(); ++i) keys.push_back(merge_key(merges[i], path, i));
  json vocab = model.value("vocab", json());
  for (const json& added : config.value("added_tokens", json::array())) {
    if (added.is_object() && added.value("content", json()).is_string() &&
        added.value("id", json()).is_number_integer())
      vocab[added["content"].get<std::string>()] = added["id"];
  }
  return std::make_unique<BpeTokenizer>(BpeTokenizer::from_vocab_and_merges(vocab, keys, path + ": model"));
}

}  // namespace

bool dir_has_tokenizer(const std::string& dir) {
  std::error_code error;
  return fs::is_regular_file(fs::path(dir) / "tokenizer.json", error) ||
         fs::is_regular_file(fs::path(dir) / "tokenizer.model", error) || BpeTokenizer::dir_has_files(dir);
}

std::unique_ptr<Tokenizer> load_tokenizer(const std::string& dir) {
  MECHLENS_CHECK(InputError, dir_has_tokenizer(dir),
                 "{}: no tokenizer files (tokenizer.json, tokenizer.model, vocab.json + merges.txt, or encoder.json "
                 "+ vocab.bpe)",
                 dir);
  const fs::path file = fs::path(dir) / "tokenizer.json";
  std::error_code error;
  if (!fs::is_regular_file(file, error)) {
    const fs::path model = fs::path(dir) / "tokenizer.model";
    if (fs::is_regular_file(model, error) && !BpeTokenizer::dir_has_files(dir))
      return SentencePieceBpe::from_model_file(model.string());
    return std::make_unique<BpeTokenizer>(BpeTokenizer::from_dir(dir));
  }
  const std::string path = file.string();
  const json config = read_json_file<InputError>(path);
  MECHLENS_CHECK(InputError, config.is_object() && config.contains("model") && config["model"].is_object(),
                 "{}: expected a tokenizer.json object with a 'model'", path);
  const json pre = config.value("pre_tokenizer", json());
  if (pre.is_object() && pre.value("type", "") == "ByteLevel") return byte_level_from_json(config, path);
  if (config["model"].value("type", "") == "WordPiece") return WordPieceTokenizer::from_json(config, path);
  return SentencePieceBpe::from_json(config, path);
}

}  // namespace mechlens
