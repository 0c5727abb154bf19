// Propositional logic with a planning step (Hong et al. 2024, arXiv 2411.04105): a LogOp chain
// whose last rule joins two branches with OR (AND as an option), a linear chain on disjoint
// variables, three facts, a query, and the minimal proof as the answer. 45-token vocabulary.
#pragma once

#include <string>
#include <vector>

#include "tasks/task.h"

namespace mechlens {

namespace logic_tokens {
// 0..25 are the variables A..Z; 26 is unused.
inline constexpr int64_t kConj = 27, kDisj = 28, kNegat = 29, kIf = 30, kThen = 31, kStartRule = 32, kEndRule = 33,
                         kStartFact = 34, kEndFact = 35, kTrue = 36, kFalse = 37, kUndetermined = 38, kStartQuery = 39,
                         kEndQuery = 40, kSep = 41, kAnswer = 42, kSemicolon = 43, kEos = 44;
inline constexpr int64_t kVocab = 45;
inline constexpr int64_t kVariables = 26;
}  // namespace logic_tokens

enum class LogicOperator { kOr, kAnd };
/// What counterfactual() changes: the query names the other chain (planning), or the fact the proof
/// cites first has its truth value flipped (reading facts) — both change the answer. The others move
/// or rename what the proof's choices do not depend on (controls for position and distractors): the
/// two chains' rules listed in the other order or the chain the query does not name renamed to unused
/// variables (the answer stays), or the LogOp rule's disjuncts written the other way round (the answer
/// stays up to the proof's restatement of that rule, which copies the new order).
enum class LogicCounterfactual { kQueryFlip, kFactFlip, kRuleOrder, kDisjunctOrder, kDistractor };

/// The proof's spelling: mechlens's (each cited fact its own statement, EOS at the end) or the authors'
/// generator's (two cited facts as one statement "a FALSE b FALSE .", no EOS).
enum class LogicFormat { kMechlens, kAuthors };

struct LogicSettings {
  int64_t depth = 3;         // nodes per chain (the paper's small model: 3)
  double logop_share = 0.8;  // share of problems that query the LogOp chain
  LogicOperator op = LogicOperator::kOr;
  LogicCounterfactual counterfactual = LogicCounterfactual::kQueryFlip;
  /// Proof tokens moved into the prompt: the model predicts proof token K given tokens 0..K-1 (the
  /// later proof steps). With fact-flip, problems are drawn so that a pair's proofs agree on tokens
  /// 0..K-1 and differ at K (so K is 0, a changed plan, or 1, a changed truth value).
  int64_t proof_prefix = 0;
  LogicFormat format = LogicFormat::kMechlens;
};

class LogicTask : public Task {
 public:
  explicit LogicTask(LogicSettings settings);

  std::string name() const override { return "logic"; }
  std::string settings_json() const override;
  std::vector<std::string> token_strings() const override;
  int64_t vocab_size() const override { return logic_tokens::kVocab; }
  int64_t max_sequence_length() const override;
  Example sample(Rng& rng) const override;
  /// The same problem with the query flipped or the first cited fact's truth flipped (settings), and
  /// the same number of proof tokens in the prompt.
  Example counterfactual(const Example& clean, Rng& rng) const override;
  std::string counterfactual_kind() const override;
  int64_t end_token() const override;
  std::string render(const Example& example) const override;
  std::map<std::string, std::vector<std::string>> annotation_dims() const override;
  std::vector<std::string> span_names() const override;
  std::vector<std::pair<int64_t, int64_t>> span_positions(const Example& example) const override;

  int64_t n_rules() const { return 2 * (settings_.depth - 2) + 1 + (settings_.depth - 1); }
  /// Answer tokens for a query on the given problem (the minimal proof, ending with EOS in the
  /// mechlens format).
  std::vector<int64_t> proof(const Example& problem, bool query_logop) const;

  /// A specific problem. v1: LogOp branch 1 ending in the conclusion; v2: branch 2 (its last node
  /// is unused); v3: the linear chain. `disjuncts_swapped` writes "v2 or v1"; `fact_order` lists
  /// the facts by source (0 = v1[0], 1 = v2[0], 2 = v3[0]); `truths` per source.
  Example make_problem(const std::vector<int64_t>& v1, const std::vector<int64_t>& v2, const std::vector<int64_t>& v3,
                       bool disjuncts_swapped, bool logop_first, const std::vector<int64_t>& fact_order,
                       const std::vector<bool>& truths, bool query_logop) const;

 private:
  // The random choices behind one problem (make_problem's arguments).
  struct Draw {
    std::vector<int64_t> v1, v2, v3, fact_order;
    bool swapped = false, logop_first = false, query_logop = false;
    std::vector<bool> truths;
  };
  Draw draw(Rng& rng) const;
  static Draw draw_of(const Example& problem);
  Example build(const Draw& d) const;  // the problem with its full proof as the answer
  // The counterfactual's choices; `clean` = build(d). Sets `flipped_fact` for fact flips; `rng`
  // picks the distractor's new variables.
  Draw partner(const Draw& d, const Example& clean, int64_t& flipped_fact, Rng& rng) const;
  // Moves the first proof_prefix answer tokens into the prompt; notes the flipped fact (fact-flip).
  Example finish(Example problem, int64_t flipped_fact) const;
  // first_answer, answer (padded with -1 to the longest prompt + answer) and answer_length.
  void set_answer_notes(Example& example) const;

  LogicSettings settings_;
};

LogicOperator parse_logic_operator(const std::string& text);
/// query-flip | fact-flip | rule-order | disjunct-order | distractor
LogicCounterfactual parse_logic_counterfactual(const std::string& text);
std::string to_string(LogicCounterfactual kind);
LogicFormat parse_logic_format(const std::string& text);  // mechlens | authors

}  // namespace mechlens
