// GPT-2's byte-level BPE on a hand-made vocabulary: pre-tokenisation, merges by rank, bytes mapped to
// printable characters and back, and clear errors for broken files. (The real GPT-2 files are checked
// against Hugging Face tokenizers by tests/parity/tokenizer_parity.py.)
#include "io/bpe_tokenizer.h"

#include <gtest/gtest.h>

#include <fstream>

#include "test_util.h"
#include "util/error.h"

namespace mechlens {
namespace {

// Ġ is the space byte's character, Ċ the newline's (GPT-2's bytes_to_unicode).
BpeTokenizer toy(const testing::TestDir& dir) {
  std::ofstream(dir.file("vocab.json"))
      << R"({"a": 0, "b": 1, "c": 2, "Ġ": 3, "ab": 4, "abc": 5, "Ġab": 6, "<|endoftext|>": 7, "1": 8, "Ċ": 9})";
  std::ofstream(dir.file("merges.txt")) << "#version: 0.2\na b\nab c\nĠ ab\n";
  return BpeTokenizer::from_dir(dir.path().string());
}

TEST(BpeTokenizerTest, MergesByRankWithinPreTokenisedPieces) {
  testing::TestDir dir;
  const BpeTokenizer tokenizer = toy(dir);
  EXPECT_EQ(tokenizer.encode("abc ab"), (std::vector<int64_t>{5, 6}));      // "abc", " ab"
  EXPECT_EQ(tokenizer.encode("a  b"), (std::vector<int64_t>{0, 3, 3, 1}));  // a run keeps its last space
  EXPECT_EQ(tokenizer.encode("a1\n"), (std::vector<int64_t>{0, 8, 9}));     // digits and newlines split off
  EXPECT_EQ(tokenizer.encode("ba"), (std::vector<int64_t>{1, 0}));          // no merge "b a"
  EXPECT_EQ(tokenizer.encode(""), std::vector<int64_t>{});
  EXPECT_EQ(tokenizer.decode({5, 6, 3, 9}), "abc ab \n");
  EXPECT_EQ(tokenizer.decode(tokenizer.encode("ab  c\nab")), "ab  c\nab");
  EXPECT_EQ(tokenizer.end_of_text(), 7);
  EXPECT_EQ(tokenizer.encode("ab<|endoftext|>c<|endoftext|>"), (std::vector<int64_t>{4, 7, 2, 7}));
  EXPECT_EQ(tokenizer.token_strings()[6], " ab");
  EXPECT_EQ(tokenizer.vocab_size(), 10);
}

TEST(BpeTokenizerTest, BrokenFilesAndUnknownTextGetClearErrors) {
  testing::TestDir dir;
  const BpeTokenizer tokenizer = toy(dir);
  EXPECT_TRUE(testing::throws_with<InputError>([&] { tokenizer.encode("d"); }, "'d' is not in the vocabulary"));
  EXPECT_TRUE(testing::throws_with<InputError>([&] { tokenizer.decode({10}); }, "token id 10 is outside"));
  std::ofstream(dir.file("bad_merges.txt")) << "a b\nabc\n";
  EXPECT_TRUE(testing::throws_with<InputError>(
      [&] { BpeTokenizer::from_files(dir.file("vocab.json"), dir.file("bad_merges.txt")); },
      "bad_merges.txt: line 2 is 'abc', expected two symbols"));
  std::ofstream(dir.file("list.json")) << "[1, 2]";
  EXPECT_TRUE(testing::throws_with<InputError>(
      [&] { BpeTokenizer::from_files(dir.file("list.json"), dir.file("merges.txt")); }, "expected a JSON object"));
  EXPECT_TRUE(
      testing::throws_with<InputError>([&] { BpeTokenizer::from_dir(dir.file("nowhere")); }, "no tokenizer files"));
}

}  // namespace
}  // namespace mechlens
