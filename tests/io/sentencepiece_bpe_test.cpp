// tokenizer.json tokenizers on hand-made files: the SentencePiece-style BPE (▁ for spaces, merges by
// rank over the whole text, byte fallback, added special tokens, BOS from the post-processor), both
// spellings of merges, a ByteLevel tokenizer.json routed to GPT-2's BPE, and clear errors for settings
// mechlens does not reproduce. (Mistral-7B's real file: tests/parity/tokenizer_parity.py.)
#include <gtest/gtest.h>

#include <fstream>

#include <nlohmann/json.hpp>

#include "io/tokenizer.h"
#include "test_util.h"
#include "util/error.h"

namespace mechlens {
namespace {

using json = nlohmann::json;

// ▁ is U+2581. Pieces: ▁a, ▁ab, b, c, and the bytes of "é" (C3 A9) for byte fallback.
json toy_config() {
  return json::parse(R"({
    "added_tokens": [{"id": 0, "content": "<unk>", "special": true}, {"id": 1, "content": "<s>", "special": true},
                     {"id": 2, "content": "</s>", "special": true}],
    "normalizer": {"type": "Sequence", "normalizers": [{"type": "Prepend", "prepend": "\u2581"},
                   {"type": "Replace", "pattern": {"String": " "}, "content": "\u2581"}]},
    "pre_tokenizer": null,
    "post_processor": {"type": "TemplateProcessing", "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}},
                       {"Sequence": {"id": "A", "type_id": 0}}]},
    "model": {"type": "BPE", "dropout": null, "unk_token": "<unk>", "byte_fallback": true,
              "vocab": {"<unk>": 0, "<s>": 1, "</s>": 2, "\u2581": 3, "a": 4, "b": 5, "c": 6, "\u2581a": 7,
                        "\u2581ab": 8, "<0xC3>": 9, "<0xA9>": 10},
              "merges": ["\u2581 a", ["\u2581a", "b"]]}
  })");
}

std::unique_ptr<Tokenizer> load(const testing::TestDir& dir, const json& config) {
  std::ofstream(dir.file("tokenizer.json")) << config.dump();
  return load_tokenizer(dir.path().string());
}

TEST(SentencePieceBpeTest, SpacesBecomeMarkersAndMergeAcrossTheWholeText) {
  testing::TestDir dir;
  const auto tokenizer = load(dir, toy_config());
  EXPECT_EQ(tokenizer->kind(), "SentencePiece-style BPE (tokenizer.json)");
  EXPECT_EQ(tokenizer->encode("ab c"), (std::vector<int64_t>{8, 3, 6}));  // ▁ab ▁ c
  EXPECT_EQ(tokenizer->encode("ba"), (std::vector<int64_t>{3, 5, 4}));    // ▁ b a: no "▁ b" merge
  EXPECT_EQ(tokenizer->encode("é"), (std::vector<int64_t>{3, 9, 10}));    // bytes for the unknown character
  EXPECT_EQ(tokenizer->encode("a</s>ab"), (std::vector<int64_t>{7, 2, 8}));  // special token, then ▁ again
  EXPECT_EQ(tokenizer->encode(""), std::vector<int64_t>{});
  EXPECT_EQ(tokenizer->bos_token(), 1);
  EXPECT_EQ(tokenizer->decode({8, 3, 6}), "ab c");  // the first ▁ is the prepended one
  EXPECT_EQ(tokenizer->decode(tokenizer->encode("ab é")), "ab é");
  EXPECT_EQ(tokenizer->token_strings()[8], " ab");
  EXPECT_EQ(tokenizer->vocab_size(), 11);
}

TEST(SentencePieceBpeTest, WithoutByteFallbackUnknownCharactersAreOneUnk) {
  testing::TestDir dir;
  json config = toy_config();
  config["model"]["byte_fallback"] = false;
  EXPECT_EQ(load(dir, config)->encode("éé"), (std::vector<int64_t>{3, 0}));  // ▁ <unk> (fused)
}

TEST(SentencePieceBpeTest, ByteLevelTokenizerJsonIsGpt2Bpe) {
  testing::TestDir dir;
  const json config = json::parse(R"({
    "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": false, "use_regex": true},
    "added_tokens": [{"id": 5, "content": "<|endoftext|>", "special": true}],
    "model": {"type": "BPE", "vocab": {"a": 0, "b": 1, "\u0120": 2, "ab": 3, "\u0120ab": 4},
              "merges": [["a", "b"], "\u0120 ab"]}
  })");
  const auto tokenizer = load(dir, config);
  EXPECT_EQ(tokenizer->kind(), "GPT-2 byte-level BPE");
  EXPECT_EQ(tokenizer->encode("ab ab<|endoftext|>"), (std::vector<int64_t>{3, 4, 5}));
  EXPECT_EQ(tokenizer->bos_token(), 5);
}

void expect_refused(const json& config, const std::string& reason) {
  testing::TestDir dir;
  try {
    load(dir, config);
    ADD_FAILURE() << "accepted; expected " << reason;
  } catch (const InputError& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find("tokenizer.json"), std::string::npos) << message;
    EXPECT_NE(message.find(reason), std::string::npos) << message;
  }
}

TEST(SentencePieceBpeTest, SettingsItCannotReproduceAreRefusedByField) {
  json dropout = toy_config();
  dropout["model"]["dropout"] = 0.1;
  expect_refused(dropout, "model.dropout");
  json unigram = toy_config();
  unigram["model"]["type"] = "Unigram";
  expect_refused(unigram, "model.type is \"Unigram\"");
  json no_merges = toy_config();
  no_merges["model"]["merges"] = json::array();
  expect_refused(no_merges, "model.merges must be a non-empty list");
  json bad_merge = toy_config();
  bad_merge["model"]["merges"][0] = 7;
  expect_refused(bad_merge, "model.merges[0]");
  json lowercase = toy_config();
  lowercase["normalizer"]["normalizers"].push_back({{"type", "Lowercase"}});
  expect_refused(lowercase, "normalizer step");
  json split = toy_config();
  split["normalizer"] = nullptr;
  split["pre_tokenizer"] = {{"type", "Metaspace"}, {"replacement", "\u2581"}, {"split", true}};
  expect_refused(split, "pre_tokenizer");
  expect_refused(json::parse(R"({"model": 3})"), "expected a tokenizer.json object");
}

}  // namespace
}  // namespace mechlens
