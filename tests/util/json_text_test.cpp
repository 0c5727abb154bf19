// Strict JSON text parsing, POSIX glob matching and OpenSSL SHA-256 as the library uses them.
#include "util/json_text.h"

#include <gtest/gtest.h>

#include "util/error.h"
#include "util/glob.h"
#include "util/parse.h"
#include "util/sha256.h"

namespace mechlens {
namespace {

std::string message_of(const std::string& text) {
  try {
    parse_json_text<InputError>(text, "x.json");
  } catch (const InputError& e) {
    return e.what();
  }
  return "";
}

TEST(JsonTextTest, ParsesOrdinaryJson) {
  const nlohmann::json json = parse_json_text<InputError>(R"({"a": [1, 2, {"b": "[{"}], "c": {"a": 1}})", "x.json");
  EXPECT_EQ(json["a"][2]["b"], "[{");
  EXPECT_EQ(json["c"]["a"], 1);
}

TEST(JsonTextTest, RefusesDepthDuplicatesAndSyntaxWithTheSourceName) {
  EXPECT_EQ(message_of(std::string(100000, '[')), "x.json: JSON nests 100000 levels deep, expected at most 64");
  EXPECT_EQ(message_of(R"({"a": 1, "a": 2})"), "x.json: key 'a' is given twice in one object; expected each key once");
  EXPECT_NE(message_of(R"({"a": {"b": 1, "b": 1}})").find("key 'b' is given twice"), std::string::npos);
  EXPECT_EQ(message_of(R"({"a": 1,)").rfind("x.json: not valid JSON", 0), 0u);
  EXPECT_EQ(message_of(R"({"a": "\"[[[["})"), "");  // brackets in strings (and escaped quotes) do not nest
}

TEST(JsonTextTest, ErrorsCarryTheirSourceLocationApart) {
  try {
    parse_json_text<ConfigError>("[", "c.json");
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_EQ(std::string(e.what()).find("json_text.cpp"), std::string::npos) << e.what();
    EXPECT_NE(e.location().find("json_text.cpp:"), std::string::npos) << e.location();
  }
}

TEST(JsonTextTest, ExcerptsStayShort) {
  nlohmann::json big = nlohmann::json::array();
  for (int i = 0; i < 10000; ++i) big.push_back(i);
  EXPECT_LE(json_excerpt(big).size(), 83u);
}

TEST(JsonTextTest, DifferencesNameKeysChangedAddedAndDropped) {
  const nlohmann::json before = {{"lr", 1}, {"seed", 0}, {"frozen", "W_E"}};
  const nlohmann::json after = {{"lr", 2}, {"seed", 0}, {"steps", 5}};
  const std::vector<std::string> expected = {"lr: run 1, now 2", "steps: run (none), now 5",
                                             "frozen: run \"W_E\", now (none)"};
  EXPECT_EQ(json_differences(before, after, "run", "now"), expected);
  EXPECT_TRUE(json_differences(before, before, "run", "now").empty());
}

TEST(ParseTest, NumbersMustBeSpelledInFull) {
  EXPECT_EQ(parse_double("0.5"), 0.5);
  EXPECT_FALSE(parse_double("0.5x").has_value());
  EXPECT_FALSE(parse_double("nan").has_value());
  EXPECT_FALSE(parse_double("").has_value());
  EXPECT_EQ(parse_int("-12"), -12);
  EXPECT_FALSE(parse_int("5x").has_value());
  EXPECT_FALSE(parse_int("99999999999999999999").has_value());
}

TEST(GlobTest, StarCrossesDotsAsTransformerLensNamesNeed) {
  EXPECT_TRUE(glob_match("blocks.*.attn.hook_pattern", "blocks.11.attn.hook_pattern"));
  EXPECT_TRUE(glob_match("*", "blocks.0.hook_resid_pre"));
  EXPECT_TRUE(glob_match("blocks.?.hook_*", "blocks.3.hook_resid_mid"));
  EXPECT_TRUE(glob_match("blocks.[01].hook_resid_pre", "blocks.1.hook_resid_pre"));
  EXPECT_FALSE(glob_match("blocks.*.attn.hook_z", "blocks.1.attn.hook_q"));
  EXPECT_FALSE(glob_match("blocks.?.hook_resid_pre", "blocks.10.hook_resid_pre"));
  EXPECT_TRUE(is_glob("blocks.*"));
  EXPECT_FALSE(is_glob("blocks.0.hook_resid_pre"));
}

TEST(Sha256Test, KnownDigests) {
  EXPECT_EQ(sha256_hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

}  // namespace
}  // namespace mechlens
