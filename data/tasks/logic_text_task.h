// The logic paper's LLM prompts (Hong et al. 2024, §4; paper2-proplogic digest): k solved examples and
// a test problem in the paper's text template, through a tokenizer —
//
//   Rules: C or U implies Z. V implies R. Facts: C is true. V is true. U is false. Question: state the
//   truth value of R. Answer: V is true. V implies R; R is true.
//   ...
//   Rules: T or N implies P. H implies W. Facts: T is true. H is true. N is false. Question: state the
//   truth value of W. Answer:
//
// Depth-2 chains (a LogOp rule "a or b implies c", a linear rule "d implies e"), three facts (a, d, b),
// half the examples querying each chain, the examples' LogOp facts (T,F) or (T,T) fixed per prompt, the
// test problem's truths (T,F,T) so that every answer is "true". Pairs flip the test query to the other
// chain's conclusion (same token length, drawn until it is); the answer pair is the two chains' first
// proof tokens (" H" vs " T"). Named spans locate the test problem's pieces by the tokenizer's own
// token texts: query (the queried variable), queried_rule, other_rule, facts, correct_fact, last, and
// query_to_end (QUERY to the last token: where a pair's runs differ, the paper's patched positions).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "tasks/task.h"
#include "tasks/text_codec.h"

namespace mechlens {

struct LogicTextSettings {
  int64_t shots = 4;  // solved examples before the test problem (the public notebook's k)
  bool bos = true;    // the tokenizer's BOS first (as the paper's prompts)
};

class LogicTextTask : public Task {
 public:
  LogicTextTask(LogicTextSettings settings, std::shared_ptr<const TextCodec> codec);

  std::string name() const override { return "logic-text"; }
  std::string settings_json() const override;
  int64_t vocab_size() const override { return static_cast<int64_t>(token_strings_.size()); }
  std::vector<std::string> token_strings() const override { return token_strings_; }
  int64_t max_sequence_length() const override { return (settings_.shots + 1) * 96 + 1; }
  Example sample(Rng& rng) const override;
  Example counterfactual(const Example& clean, Rng& rng) const override;
  std::string counterfactual_kind() const override { return "query-flip"; }
  std::string render(const Example& example) const override;
  std::map<std::string, std::vector<std::string>> annotation_dims() const override;
  std::vector<std::string> span_names() const override;
  std::vector<std::pair<int64_t, int64_t>> span_positions(const Example& example) const override;

  static constexpr int64_t kMaxAnswerTokens = 64;  // the "answer" annotation's padded length

 private:
  struct Draw;
  Draw draw(Rng& rng) const;
  Example build(const Draw& d) const;
  static Draw draw_of(const Example& example);

  LogicTextSettings settings_;
  std::shared_ptr<const TextCodec> codec_;
  std::vector<std::string> token_strings_;
};

}  // namespace mechlens
