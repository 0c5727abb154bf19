// BERT's WordPiece tokenizer.json on a hand-made file: normalisation (control characters dropped,
// accents stripped, lower case, CJK ideographs isolated), punctuation as words of their own, longest
// piece first with ## continuations, [UNK] for words that cannot be spelled, added tokens in the text,
// the [CLS] ... [SEP] template, and clear errors for settings not reproduced. (The real
// all-MiniLM-L6-v2 file: tests/parity/bert_parity.py.)
#include <gtest/gtest.h>

#include <fstream>

#include <nlohmann/json.hpp>

#include "io/tokenizer.h"
#include "test_util.h"
#include "util/error.h"

namespace mechlens {
namespace {

using json = nlohmann::json;

json toy_config() {
  return json::parse(R"({
    "added_tokens": [{"id": 0, "content": "[PAD]", "special": true}, {"id": 1, "content": "[UNK]", "special": true},
                     {"id": 2, "content": "[CLS]", "special": true}, {"id": 3, "content": "[SEP]", "special": true},
                     {"id": 4, "content": "[MASK]", "special": true}],
    "normalizer": {"type": "BertNormalizer", "clean_text": true, "handle_chinese_chars": true,
                   "strip_accents": null, "lowercase": true},
    "pre_tokenizer": {"type": "BertPreTokenizer"},
    "post_processor": {"type": "TemplateProcessing",
                       "single": [{"SpecialToken": {"id": "[CLS]", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                                  {"SpecialToken": {"id": "[SEP]", "type_id": 0}}]},
    "model": {"type": "WordPiece", "unk_token": "[UNK]", "continuing_subword_prefix": "##",
              "max_input_chars_per_word": 8,
              "vocab": {"[PAD]": 0, "[UNK]": 1, "[CLS]": 2, "[SEP]": 3, "[MASK]": 4, "play": 5, "##ing": 6,
                        "##ed": 7, "cafe": 8, "!": 9, ",": 10, "un": 11, "##play": 12, "日": 13, "本": 14, "$": 15,
                        "p": 16, "##l": 17}}
  })");
}

std::unique_ptr<Tokenizer> load(const testing::TestDir& dir, const json& config) {
  std::ofstream(dir.file("tokenizer.json")) << config.dump();
  return load_tokenizer(dir.path().string());
}

TEST(WordPieceTest, LongestPieceFirstWithContinuations) {
  testing::TestDir dir;
  const auto tokenizer = load(dir, toy_config());
  EXPECT_EQ(tokenizer->kind(), "BERT WordPiece (tokenizer.json)");
  EXPECT_EQ(tokenizer->encode("playing played"), (std::vector<int64_t>{5, 6, 5, 7}));
  EXPECT_EQ(tokenizer->encode("unplay"), (std::vector<int64_t>{11, 12}));
  EXPECT_EQ(tokenizer->encode("pl"), (std::vector<int64_t>{16, 17}));
  // A word with one unmatched piece is [UNK] as a whole, and so is a word longer than the limit.
  EXPECT_EQ(tokenizer->encode("playx play"), (std::vector<int64_t>{1, 5}));
  EXPECT_EQ(tokenizer->encode("playplaying"), (std::vector<int64_t>{1}));  // 11 characters > 8
  EXPECT_EQ(tokenizer->encode(""), std::vector<int64_t>{});
  EXPECT_EQ(tokenizer->token_strings()[6], "##ing");
  EXPECT_EQ(tokenizer->vocab_size(), 18);
}

TEST(WordPieceTest, NormalisesAndSplitsPunctuation) {
  testing::TestDir dir;
  const auto tokenizer = load(dir, toy_config());
  // Upper case and accents go (NFD, marks dropped); punctuation, ASCII symbols and CJK stand alone;
  // whitespace runs and control characters separate nothing extra.
  EXPECT_EQ(tokenizer->encode("  CAFÉ,PLAYING!\t$"), (std::vector<int64_t>{8, 10, 5, 6, 9, 15}));
  EXPECT_EQ(tokenizer->encode("play\u200b\x01ing"), (std::vector<int64_t>{5, 6}));  // format/control dropped
  EXPECT_EQ(tokenizer->encode("日本"), (std::vector<int64_t>{13, 14}));
  EXPECT_EQ(tokenizer->encode("play[MASK]ing"), (std::vector<int64_t>{5, 4, 1}));  // "ing" alone is no word
}

TEST(WordPieceTest, TemplateAndDecoding) {
  testing::TestDir dir;
  const auto tokenizer = load(dir, toy_config());
  EXPECT_EQ(tokenizer->bos_token(), 2);
  EXPECT_EQ(tokenizer->add_special_tokens({5, 6}), (std::vector<int64_t>{2, 5, 6, 3}));
  EXPECT_EQ(tokenizer->decode({5, 6, 10, 8, 9}), "playing, cafe!");
}

TEST(WordPieceTest, SettingsNotReproducedAreRefusedByName) {
  testing::TestDir dir;
  json config = toy_config();
  config["normalizer"] = {{"type", "NFKC"}};
  try {
    load(dir, config);
    FAIL() << "expected InputError";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("normalizer"), std::string::npos) << e.what();
  }
  config = toy_config();
  config["pre_tokenizer"] = {{"type", "Whitespace"}};
  EXPECT_THROW(load(dir, config), InputError);
  config = toy_config();
  config["model"]["unk_token"] = "<unk>";
  EXPECT_THROW(load(dir, config), InputError);
  config = toy_config();
  config["model"]["vocab"]["play"] = "five";
  EXPECT_THROW(load(dir, config), InputError);
}

}  // namespace
}  // namespace mechlens
