// The logic paper's LLM prompts on a character-level codec (each character a token, so positions are
// easy to check by hand): the template, pairs that flip only the query, answers, and named spans.
#include "tasks/logic_text_task.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "tasks/task_factory.h"
#include "test_util.h"
#include "util/error.h"

namespace mechlens {
namespace {

// One token per byte; id 256 is BOS.
class CharCodec : public TextCodec {
 public:
  std::vector<int64_t> encode(const std::string& text) const override {
    return std::vector<int64_t>(text.begin(), text.end());
  }
  std::vector<std::string> token_strings() const override {
    std::vector<std::string> out;
    for (int c = 0; c < 256; ++c) out.emplace_back(1, static_cast<char>(c));
    out.emplace_back("<s>");
    return out;
  }
  int64_t bos_token() const override { return 256; }
};

std::string text_of(const std::vector<int64_t>& ids, int64_t begin, int64_t end) {
  std::string out;
  for (int64_t i = begin; i < end; ++i) out += static_cast<char>(ids[size_t(i)]);
  return out;
}

TEST(LogicTextTaskTest, WritesThePapersTemplateWithPairsThatFlipOnlyTheQuery) {
  const auto task = make_task("logic-text", {"shots=4"}, std::make_shared<CharCodec>());
  const auto clean = generate_examples(*task, 40, 3);
  const auto other = generate_counterfactuals(*task, clean, 3);
  const auto names = task->span_names();
  auto span = [&](const Example& e, const std::string& name) {
    return task->span_positions(e)[size_t(std::find(names.begin(), names.end(), name) - names.begin())];
  };
  int64_t logop = 0;
  for (size_t i = 0; i < clean.size(); ++i) {
    const Example &a = clean[i], &b = other[i];
    ASSERT_EQ(a.prompt[0], 256);  // BOS
    const std::string prompt = text_of(a.prompt, 1, int64_t(a.prompt.size()));
    EXPECT_EQ(std::count(prompt.begin(), prompt.end(), '\n'), 4);  // four solved examples, then the test
    EXPECT_EQ(prompt.substr(prompt.size() - 8), " Answer:");
    // The pair differs in the query variable only, and the answers start with the two chains' facts.
    ASSERT_EQ(a.prompt.size(), b.prompt.size());
    const auto [q_begin, q_end] = span(a, "query");
    ASSERT_EQ(q_end - q_begin, 1);
    for (size_t p = 0; p < a.prompt.size(); ++p) {
      if (int64_t(p) == q_begin) continue;
      EXPECT_EQ(a.prompt[p], b.prompt[p]) << p;
    }
    EXPECT_NE(a.prompt[size_t(q_begin)], b.prompt[size_t(q_begin)]);
    EXPECT_EQ(a.annotations.at("first_answer")[0], ' ');  // " H is true. ..."
    const std::string answer = text_of(a.answer, 0, int64_t(a.answer.size()));
    const bool queries_logop = a.annotations.at("queried_chain")[0] == 0;
    logop += queries_logop;
    // The queried rule ends with the queried variable; the cited fact opens the answer.
    const auto [r_begin, r_end] = span(a, "queried_rule");
    const std::string rule = text_of(a.prompt, r_begin, r_end);
    EXPECT_EQ(rule.substr(rule.size() - 2), text_of(a.prompt, q_begin, q_end) + ".");
    EXPECT_EQ(rule.find(" or ") != std::string::npos, queries_logop) << rule;
    const auto [f_begin, f_end] = span(a, "correct_fact");
    EXPECT_EQ(" " + text_of(a.prompt, f_begin, f_end), answer.substr(0, 11)) << answer;
    const std::string facts = text_of(a.prompt, span(a, "facts").first, span(a, "facts").second);
    EXPECT_EQ(facts.substr(facts.size() - 10), " is false.");  // the test problem's truths: T, T, F
    EXPECT_NE(facts.find(text_of(a.prompt, f_begin, f_end)), std::string::npos);
    EXPECT_EQ(span(a, "last"), std::make_pair(int64_t(a.prompt.size()) - 1, int64_t(a.prompt.size())));
    EXPECT_EQ(span(a, "query_to_end"), std::make_pair(q_begin, int64_t(a.prompt.size())));
    EXPECT_EQ(answer.substr(answer.size() - 9), " is true.");  // the test problem's answer is always "true"
  }
  EXPECT_GT(logop, 5);
  EXPECT_LT(logop, 35);
}

TEST(LogicTextTaskTest, NeedsATokenizerAndSaysSo) {
  EXPECT_TRUE(testing::throws_with<InputError>([] { make_task("logic-text", {}); }, "needs a tokenizer"));
  EXPECT_TRUE(testing::throws_with<InputError>(
      [] { make_task("logic-text", {"shots=40"}, std::make_shared<CharCodec>()); }, "shots 40 must be in 0..16"));
}

}  // namespace
}  // namespace mechlens
