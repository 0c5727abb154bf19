#include "tasks/logic_task.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>

#include "util/error.h"

namespace mechlens {
namespace {

using namespace logic_tokens;

std::string word(int64_t token) {
  if (token >= 0 && token < kVariables) return std::string(1, static_cast<char>('A' + token));
  switch (token) {
    case kConj:
      return "and";
    case kDisj:
      return "or";
    case kNegat:
      return "not";
    case kIf:
      return "if";
    case kThen:
      return "implies";
    case kStartRule:
      return "<rule>";
    case kEndRule:
      return "</rule>";
    case kStartFact:
      return "Facts:";
    case kEndFact:
      return "";
    case kTrue:
      return "true";
    case kFalse:
      return "false";
    case kUndetermined:
      return "undetermined";
    case kStartQuery:
      return "Query";
    case kEndQuery:
      return "";
    case kSep:
      return ".";
    case kAnswer:
      return "Answer:";
    case kSemicolon:
      return ";";
    case kEos:
      return "<eos>";
    default:
      return fmt::format("<{}>", token);
  }
}

}  // namespace

LogicOperator parse_logic_operator(const std::string& text) {
  if (text == "or") return LogicOperator::kOr;
  if (text == "and") return LogicOperator::kAnd;
  MECHLENS_FAIL(InputError, "logic operator '{}' is unknown; expected or, and", text);
}

LogicFormat parse_logic_format(const std::string& text) {
  if (text == "mechlens") return LogicFormat::kMechlens;
  if (text == "authors") return LogicFormat::kAuthors;
  MECHLENS_FAIL(InputError, "logic format '{}' is unknown; expected mechlens, authors", text);
}

LogicTask::LogicTask(LogicSettings settings) : settings_(settings) {
  MECHLENS_CHECK(InputError, settings_.depth >= 2 && 3 * settings_.depth <= kVariables,
                 "logic depth {} needs 2 <= depth <= {} (3 chains of distinct variables A..Z)", settings_.depth,
                 kVariables / 3);
  MECHLENS_CHECK(InputError, settings_.logop_share >= 0.0 && settings_.logop_share <= 1.0,
                 "logic logop_share {} must be in [0, 1]", settings_.logop_share);
  // The shortest proof (linear chain: its fact, depth-1 steps, EOS) must keep an answer token.
  const int64_t shortest_proof = 3 + (settings_.depth - 1) * 7 + (settings_.format == LogicFormat::kMechlens ? 1 : 0);
  MECHLENS_CHECK(InputError, settings_.proof_prefix >= 0 && settings_.proof_prefix < shortest_proof,
                 "logic proof_prefix {} must be in 0..{} (the shortest proof at depth {} has {} tokens)",
                 settings_.proof_prefix, shortest_proof - 1, settings_.depth, shortest_proof);
  MECHLENS_CHECK(InputError, settings_.counterfactual != LogicCounterfactual::kFactFlip || settings_.proof_prefix <= 1,
                 "logic proof_prefix {} with counterfactual=fact-flip: a fact flip changes the proof at token 0 (which "
                 "fact to cite) or 1 (its truth value), so proof_prefix must be 0 or 1",
                 settings_.proof_prefix);
  // Only LogOp queries can change which fact is cited first; any query can change a cited truth value.
  MECHLENS_CHECK(InputError,
                 settings_.counterfactual != LogicCounterfactual::kFactFlip || settings_.proof_prefix == 1 ||
                     settings_.logop_share > 0.0,
                 "logic counterfactual=fact-flip with proof_prefix=0 needs LogOp queries (logop_share is 0)");
}

std::string LogicTask::settings_json() const {
  nlohmann::ordered_json json;
  json["task"] = "logic";
  json["depth"] = settings_.depth;
  json["logop_share"] = settings_.logop_share;
  json["operator"] = settings_.op == LogicOperator::kOr ? "or" : "and";
  // Written only when set, so that the records of the default problems stay as they were.
  if (settings_.format != LogicFormat::kMechlens) json["format"] = "authors";
  if (settings_.counterfactual != LogicCounterfactual::kQueryFlip) json["counterfactual"] = counterfactual_kind();
  if (settings_.proof_prefix != 0) json["proof_prefix"] = settings_.proof_prefix;
  return json.dump();
}

int64_t LogicTask::max_sequence_length() const {
  const int64_t d = settings_.depth;
  const int64_t prompt = 4 * (n_rules() - 1) + 6 + 11 + 5;
  // Facts are 3 tokens, chain steps "a implies b ; b VALUE ." 7, the LogOp step 9, then EOS.
  const int64_t logop_answer = 2 * 3 + 2 * (d - 2) * 7 + 9 + 1;
  const int64_t linear_answer = 3 + (d - 1) * 7 + 1;
  return prompt + std::max(logop_answer, linear_answer);
}

Example LogicTask::make_problem(const std::vector<int64_t>& v1, const std::vector<int64_t>& v2,
                                const std::vector<int64_t>& v3, bool swapped, bool logop_first,
                                const std::vector<int64_t>& fact_order, const std::vector<bool>& truths,
                                bool query_logop) const {
  const int64_t d = settings_.depth;
  Example example;
  auto& prompt = example.prompt;
  std::vector<int64_t> rule_spans;
  auto add_rule = [&](std::vector<int64_t> tokens) {
    rule_spans.push_back(static_cast<int64_t>(prompt.size()));
    prompt.insert(prompt.end(), tokens.begin(), tokens.end());
    rule_spans.push_back(static_cast<int64_t>(prompt.size()));
  };
  int64_t queried_rule = -1;
  auto logop_rules = [&] {
    for (int64_t i = 0; i + 2 < d; ++i) {
      add_rule({v1[i], kThen, v1[i + 1], kSep});
      add_rule({v2[i], kThen, v2[i + 1], kSep});
    }
    const int64_t a = swapped ? v2[d - 2] : v1[d - 2], b = swapped ? v1[d - 2] : v2[d - 2];
    if (query_logop) queried_rule = static_cast<int64_t>(rule_spans.size()) / 2;
    add_rule({a, settings_.op == LogicOperator::kOr ? kDisj : kConj, b, kThen, v1[d - 1], kSep});
  };
  auto linear_rules = [&] {
    for (int64_t i = 0; i + 1 < d; ++i) {
      if (!query_logop && i + 2 == d) queried_rule = static_cast<int64_t>(rule_spans.size()) / 2;
      add_rule({v3[i], kThen, v3[i + 1], kSep});
    }
  };
  if (logop_first) {
    logop_rules();
    linear_rules();
  } else {
    linear_rules();
    logop_rules();
  }
  const std::vector<int64_t> sources{v1[0], v2[0], v3[0]};
  std::vector<int64_t> fact_spans(6);
  prompt.push_back(kStartFact);
  for (int64_t f : fact_order) {
    fact_spans[2 * f] = static_cast<int64_t>(prompt.size());
    prompt.insert(prompt.end(), {sources[f], truths[f] ? kTrue : kFalse, kSep});
    fact_spans[2 * f + 1] = static_cast<int64_t>(prompt.size());
  }
  prompt.push_back(kEndFact);
  prompt.push_back(kStartQuery);
  const int64_t query_pos = static_cast<int64_t>(prompt.size());
  prompt.insert(prompt.end(), {query_logop ? v1[d - 1] : v3[d - 1], kSep, kEndQuery, kAnswer});

  auto& notes = example.annotations;
  notes["v1"] = v1;
  notes["v2"] = v2;
  notes["v3"] = v3;
  notes["truths"] = {truths[0], truths[1], truths[2]};
  notes["structure"] = {swapped, logop_first};
  notes["logop_first"] = {logop_first};  // listing order, one value per example (for --group-by)
  notes["fact_order"] = fact_order;
  notes["queried_chain"] = {query_logop ? 0 : 1};
  // Whether the queried chain's rules come first in the listing: with logop_first, the rule
  // positions a head reading "the queried rule" must find.
  notes["queried_first"] = {query_logop == logop_first ? 1 : 0};
  notes["query_pos"] = {query_pos};
  notes["rule_spans"] = rule_spans;
  notes["fact_spans"] = fact_spans;
  notes["queried_rule"] = {rule_spans[2 * queried_rule], rule_spans[2 * queried_rule + 1]};
  example.answer = proof(example, query_logop);
  const int64_t first_fact = std::find(sources.begin(), sources.end(), example.answer[0]) - sources.begin();
  notes["correct_fact"] = {fact_spans[2 * first_fact], fact_spans[2 * first_fact + 1]};
  set_answer_notes(example);
  example.group = query_logop ? "logop" : "linear";
  return example;
}

// first_answer, answer (padded with -1 to the longest prompt + answer) and answer_length.
void LogicTask::set_answer_notes(Example& example) const {
  std::vector<int64_t> padded(static_cast<size_t>(max_sequence_length() - static_cast<int64_t>(example.prompt.size())),
                              -1);
  MECHLENS_CHECK(InputError, example.answer.size() <= padded.size(),
                 "logic answer of {} tokens exceeds the {} reserved", example.answer.size(), padded.size());
  std::copy(example.answer.begin(), example.answer.end(), padded.begin());
  example.annotations["first_answer"] = {example.answer[0]};
  example.annotations["answer"] = padded;
  example.annotations["answer_length"] = {static_cast<int64_t>(example.answer.size())};
}

std::vector<int64_t> LogicTask::proof(const Example& problem, bool query_logop) const {
  const auto& notes = problem.annotations;
  const auto &v1 = notes.at("v1"), &v2 = notes.at("v2"), &v3 = notes.at("v3"), &truth = notes.at("truths");
  const bool swapped = notes.at("structure")[0] != 0;
  const int64_t d = settings_.depth;
  std::vector<int64_t> out;
  auto fact = [&](int64_t source, bool value) { out.insert(out.end(), {source, value ? kTrue : kFalse, kSep}); };
  auto chain_rules = [&](const std::vector<int64_t>& chain, int64_t last, bool value) {
    for (int64_t i = 0; i < last; ++i) {
      out.insert(out.end(),
                 {chain[i], kThen, chain[i + 1], kSemicolon, chain[i + 1], value ? kTrue : kUndetermined, kSep});
    }
  };
  if (!query_logop) {
    fact(v3[0], truth[2]);
    chain_rules(v3, d - 1, truth[2]);
  } else {
    const bool t1 = truth[0], t2 = truth[1];
    const bool is_or = settings_.op == LogicOperator::kOr;
    // Branches the minimal proof cites: OR needs one TRUE input (branch 1 when both are), or both
    // when neither is; AND needs both when both are TRUE, else one FALSE input suffices.
    std::vector<int> cited;
    if (is_or)
      cited = t1 && t2 ? std::vector<int>{1}
              : t1     ? std::vector<int>{1}
              : t2     ? std::vector<int>{2}
                       : std::vector<int>{1, 2};
    else cited = t1 && t2 ? std::vector<int>{1, 2} : !t1 ? std::vector<int>{1} : std::vector<int>{2};
    if (settings_.format == LogicFormat::kAuthors && cited.size() == 2) {
      // The authors' generator cites two facts as one statement: "a FALSE b FALSE ."
      out.insert(out.end(), {v1[0], t1 ? kTrue : kFalse, v2[0], t2 ? kTrue : kFalse, kSep});
    } else {
      for (int b : cited) fact(b == 1 ? v1[0] : v2[0], b == 1 ? t1 : t2);
    }
    for (int b : cited) chain_rules(b == 1 ? v1 : v2, d - 2, b == 1 ? t1 : t2);
    const bool conclusion = is_or ? (t1 || t2) : (t1 && t2);
    const int64_t a = swapped ? v2[d - 2] : v1[d - 2], c = swapped ? v1[d - 2] : v2[d - 2];
    out.insert(out.end(), {a, is_or ? kDisj : kConj, c, kThen, v1[d - 1], kSemicolon, v1[d - 1],
                           conclusion ? kTrue : kUndetermined, kSep});
  }
  if (settings_.format == LogicFormat::kMechlens) out.push_back(kEos);  // the authors' proofs end without one
  return out;
}

int64_t LogicTask::end_token() const { return settings_.format == LogicFormat::kMechlens ? kEos : -1; }

std::vector<std::string> LogicTask::token_strings() const {
  std::vector<std::string> strings;
  for (int64_t token = 0; token < kVocab; ++token) {
    // The renderer drops the closing markers; as labels every id needs a visible, distinct string.
    if (token == kEndFact) strings.push_back("</facts>");
    else if (token == kEndQuery) strings.push_back("</query>");
    else strings.push_back(word(token));
  }
  return strings;
}

std::string LogicTask::render(const Example& example) const {
  std::string text;
  auto append = [&text](const std::vector<int64_t>& tokens) {
    for (int64_t token : tokens) {
      const std::string w = word(token);
      if (w.empty()) continue;
      if (!text.empty() && w != "." && w != ";") text += ' ';
      text += w;
    }
  };
  append(example.prompt);
  append(example.answer);
  return text;
}

std::map<std::string, std::vector<std::string>> LogicTask::annotation_dims() const {
  std::map<std::string, std::vector<std::string>> dims{{"v1", {"batch", "node"}},
                                                       {"v2", {"batch", "node"}},
                                                       {"v3", {"batch", "node"}},
                                                       {"truths", {"batch", "source"}},
                                                       {"structure", {"batch", "flag"}},
                                                       {"logop_first", {"batch", "one"}},
                                                       {"fact_order", {"batch", "fact"}},
                                                       {"queried_chain", {"batch", "one"}},
                                                       {"queried_first", {"batch", "one"}},
                                                       {"query_pos", {"batch", "one"}},
                                                       {"rule_spans", {"batch", "rule_bound"}},
                                                       {"fact_spans", {"batch", "fact_bound"}},
                                                       {"queried_rule", {"batch", "bound"}},
                                                       {"first_answer", {"batch", "one"}},
                                                       {"correct_fact", {"batch", "bound"}},
                                                       {"answer", {"batch", "answer_pos"}},
                                                       {"answer_length", {"batch", "one"}}};
  if (settings_.counterfactual == LogicCounterfactual::kFactFlip) dims["flipped_fact"] = {"batch", "one"};
  return dims;
}

// Rules come first, as two contiguous blocks: the LogOp chain's 2(depth-2)+1 rules (ending with the
// LogOp rule) and the linear chain's depth-1 rules, in either order; then the facts, then the query.
std::vector<std::string> LogicTask::span_names() const {
  return {"rules", "logop_chain_rules", "logop_rule", "linear_chain_rules", "queried_rule",
          "facts", "correct_fact",      "query",      "answer_position"};
}

std::vector<std::pair<int64_t, int64_t>> LogicTask::span_positions(const Example& example) const {
  const auto& notes = example.annotations;
  const std::vector<int64_t>& rules = notes.at("rule_spans");  // begin, end per rule
  const std::vector<int64_t>& facts = notes.at("fact_spans");
  const int64_t n_logop = 2 * (settings_.depth - 2) + 1, n_rules = int64_t(rules.size()) / 2;
  const bool logop_first = notes.at("structure")[1] != 0;
  const int64_t logop_begin = logop_first ? 0 : n_rules - n_logop;  // rule indices
  const int64_t linear_begin = logop_first ? n_logop : 0;
  auto rule_block = [&](int64_t first_rule, int64_t count) {
    return std::pair{rules[size_t(2 * first_rule)], rules[size_t(2 * (first_rule + count) - 1)]};
  };
  const int64_t query_pos = notes.at("query_pos")[0];
  const int64_t facts_begin = *std::min_element(facts.begin(), facts.end());
  const int64_t facts_end = *std::max_element(facts.begin(), facts.end());
  const int64_t last = int64_t(example.prompt.size()) - 1;
  return {{rules.front(), rules.back()},
          rule_block(logop_begin, n_logop),
          rule_block(logop_begin + n_logop - 1, 1),
          rule_block(linear_begin, n_rules - n_logop),
          {notes.at("queried_rule")[0], notes.at("queried_rule")[1]},
          {facts_begin, facts_end},
          {notes.at("correct_fact")[0], notes.at("correct_fact")[1]},
          {query_pos, query_pos + 1},
          {last, last + 1}};
}

}  // namespace mechlens
