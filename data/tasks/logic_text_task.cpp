#include "tasks/logic_text_task.h"

#include <fmt/format.h>

#include <algorithm>
#include <numeric>

#include <nlohmann/json.hpp>

#include "util/error.h"

namespace mechlens {

// The random choices behind one prompt.
struct LogicTextTask::Draw {
  std::vector<int64_t> letters;     // (shots + 1) * 5: a, b, c, d, e of each problem, the test problem last
  std::vector<int64_t> shot_logop;  // per example: 1 when it queries the LogOp chain
  bool both_true = false;           // the examples' LogOp facts are (T,T) rather than (T,F)
  bool test_logop = false;          // the test problem queries the LogOp chain
};

namespace {

constexpr int64_t kPerProblem = 5;  // a or b implies c; d implies e
const std::vector<std::string> kSpanNames = {"query",        "queried_rule", "other_rule",  "facts",
                                             "correct_fact", "last",         "query_to_end"};

std::string letter(int64_t index) { return std::string(1, static_cast<char>('A' + index)); }

// One problem's text and, relative to its start, the character ranges of its pieces.
struct ProblemText {
  std::string text, answer;
  std::pair<size_t, size_t> query, logop_rule, linear_rule, facts, fact_a, fact_d;
};

ProblemText problem_text(const std::vector<int64_t>& letters, size_t first, bool b_true, bool query_logop) {
  const std::string a = letter(letters[first]), b = letter(letters[first + 1]), c = letter(letters[first + 2]),
                    d = letter(letters[first + 3]), e = letter(letters[first + 4]);
  ProblemText out;
  std::string& t = out.text;
  auto piece = [&](const std::string& text) {
    const size_t begin = t.size();
    t += text;
    return std::make_pair(begin, t.size());
  };
  t += "Rules: ";
  out.logop_rule = piece(fmt::format("{} or {} implies {}.", a, b, c));
  t += " ";
  out.linear_rule = piece(fmt::format("{} implies {}.", d, e));
  t += " Facts: ";
  const size_t facts_begin = t.size();
  out.fact_a = piece(fmt::format("{} is true.", a));
  t += " ";
  out.fact_d = piece(fmt::format("{} is true.", d));
  t += fmt::format(" {} is {}.", b, b_true ? "true" : "false");
  out.facts = {facts_begin, t.size()};
  t += " Question: state the truth value of ";
  out.query = piece(query_logop ? c : e);
  t += ". Answer:";
  // The minimal proof cites a true fact: the first disjunct (true in every problem), or d.
  out.answer = query_logop ? fmt::format(" {0} is true. {0} or {1} implies {2}; {2} is true.", a, b, c)
                           : fmt::format(" {0} is true. {0} implies {1}; {1} is true.", d, e);
  return out;
}

}  // namespace

LogicTextTask::LogicTextTask(LogicTextSettings settings, std::shared_ptr<const TextCodec> codec)
    : settings_(settings), codec_(std::move(codec)) {
  MECHLENS_CHECK(InputError, codec_ != nullptr,
                 "task logic-text writes text: it needs a tokenizer (--tokenizer DIR, or a checkpoint directory "
                 "with tokenizer files)");
  MECHLENS_CHECK(InputError, settings_.shots >= 0 && settings_.shots <= 16, "logic-text shots {} must be in 0..16",
                 settings_.shots);
  MECHLENS_CHECK(InputError, !settings_.bos || codec_->bos_token() >= 0,
                 "logic-text bos=1 but the tokenizer has no BOS token (use --task-option bos=0)");
  token_strings_ = codec_->token_strings();
}

std::string LogicTextTask::settings_json() const {
  return nlohmann::ordered_json{{"task", "logic-text"}, {"shots", settings_.shots}, {"bos", settings_.bos}}.dump();
}

LogicTextTask::Draw LogicTextTask::draw(Rng& rng) const {
  Draw d;
  for (int64_t p = 0; p <= settings_.shots; ++p) {
    std::vector<int64_t> alphabet(26);
    std::iota(alphabet.begin(), alphabet.end(), 0);
    rng.shuffle(alphabet);
    d.letters.insert(d.letters.end(), alphabet.begin(), alphabet.begin() + kPerProblem);
  }
  for (int64_t s = 0; s < settings_.shots; ++s) d.shot_logop.push_back(s < settings_.shots / 2 ? 1 : 0);
  rng.shuffle(d.shot_logop);
  d.both_true = rng.coin();
  d.test_logop = rng.coin();
  return d;
}

LogicTextTask::Draw LogicTextTask::draw_of(const Example& example) {
  const auto& notes = example.annotations;
  Draw d;
  d.letters = notes.at("letters");
  d.shot_logop = notes.at("shot_queries");
  d.both_true = notes.at("shot_facts")[0] != 0;
  d.test_logop = notes.at("queried_chain")[0] == 0;
  return d;
}

Example LogicTextTask::build(const Draw& d) const {
  std::string prompt;
  for (int64_t s = 0; s < settings_.shots; ++s) {
    const ProblemText shot =
        problem_text(d.letters, size_t(s * kPerProblem), d.both_true, d.shot_logop[size_t(s)] != 0);
    prompt += shot.text + shot.answer + "\n";
  }
  const size_t test_begin = prompt.size();
  const ProblemText test = problem_text(d.letters, size_t(settings_.shots * kPerProblem), false, d.test_logop);
  prompt += test.text;
  auto shifted = [&](std::pair<size_t, size_t> range) {
    return std::make_pair(range.first + test_begin, range.second + test_begin);
  };
  const std::vector<std::pair<size_t, size_t>> char_spans = {
      shifted(test.query),
      shifted(d.test_logop ? test.logop_rule : test.linear_rule),
      shifted(d.test_logop ? test.linear_rule : test.logop_rule),
      shifted(test.facts),
      shifted(d.test_logop ? test.fact_a : test.fact_d),
      {prompt.size() - 1, prompt.size()},
      {shifted(test.query).first, prompt.size()}};  // what the pair's prompts differ in, and after

  const std::vector<int64_t> ids = codec_->encode(prompt);
  // Where each token's text lies in the prompt: SentencePiece's tokens spell " " + text.
  std::string spelled;
  std::vector<size_t> token_end;
  for (int64_t id : ids) {
    MECHLENS_CHECK(InputError, id >= 0 && id < vocab_size(), "logic-text: the tokenizer gave id {}", id);
    spelled += token_strings_[size_t(id)];
    token_end.push_back(spelled.size());
  }
  size_t shift = 0;
  if (spelled == " " + prompt) shift = 1;
  MECHLENS_CHECK(InputError,
                 spelled.size() == prompt.size() + shift && spelled.compare(shift, prompt.size(), prompt) == 0,
                 "logic-text: the tokenizer's token texts do not spell the prompt, so its pieces cannot be located");
  const int64_t offset = settings_.bos ? 1 : 0;
  Example example;
  std::vector<int64_t> spans;
  for (const auto& [begin, end] : char_spans) {
    // Tokens that overlap [begin, end) of the prompt.
    int64_t first = -1, last = -1;
    for (size_t i = 0; i < ids.size(); ++i) {
      const size_t token_begin = (i == 0 ? 0 : token_end[i - 1]), token_stop = token_end[i];
      if (token_begin < end + shift && token_stop > begin + shift) {
        if (first < 0) first = int64_t(i);
        last = int64_t(i);
      }
    }
    spans.push_back(first + offset);
    spans.push_back(last + 1 + offset);
  }
  const std::vector<int64_t> with_answer = codec_->encode(prompt + test.answer);
  MECHLENS_CHECK(InputError, with_answer.size() > ids.size() && std::equal(ids.begin(), ids.end(), with_answer.begin()),
                 "logic-text: the tokenizer merges the answer into the prompt's last token");
  example.answer.assign(with_answer.begin() + static_cast<std::ptrdiff_t>(ids.size()), with_answer.end());
  MECHLENS_CHECK(InputError, int64_t(example.answer.size()) <= kMaxAnswerTokens,
                 "logic-text: the answer has {} tokens, more than {}", example.answer.size(), kMaxAnswerTokens);
  if (settings_.bos) example.prompt.push_back(codec_->bos_token());
  example.prompt.insert(example.prompt.end(), ids.begin(), ids.end());
  example.group = d.test_logop ? "logop" : "linear";
  auto& notes = example.annotations;
  notes["letters"] = d.letters;
  notes["shot_queries"] = d.shot_logop;
  notes["shot_facts"] = {d.both_true ? 1 : 0};
  notes["queried_chain"] = {d.test_logop ? 0 : 1};
  notes["spans"] = spans;
  notes["first_answer"] = {example.answer[0]};
  std::vector<int64_t> padded = example.answer;
  padded.resize(size_t(kMaxAnswerTokens), -1);
  notes["answer"] = padded;
  notes["answer_length"] = {int64_t(example.answer.size())};
  return example;
}

Example LogicTextTask::sample(Rng& rng) const {
  // Pairs must have equal lengths: the two conclusions' tokens can differ in count.
  for (int attempt = 0; attempt < 1000; ++attempt) {
    Draw d = draw(rng);
    Example clean = build(d);
    d.test_logop = !d.test_logop;
    if (build(d).prompt.size() == clean.prompt.size()) return clean;
  }
  MECHLENS_FAIL(InputError, "logic-text: no problem in 1,000 draws has a query flip of the same token length");
}

Example LogicTextTask::counterfactual(const Example& clean, Rng&) const {
  Draw d = draw_of(clean);
  d.test_logop = !d.test_logop;
  return build(d);
}

std::string LogicTextTask::render(const Example& example) const {
  const Draw d = draw_of(example);
  std::string text;
  for (int64_t s = 0; s < settings_.shots; ++s) {
    const ProblemText shot =
        problem_text(d.letters, size_t(s * kPerProblem), d.both_true, d.shot_logop[size_t(s)] != 0);
    text += shot.text + shot.answer + "\n";
  }
  const ProblemText test = problem_text(d.letters, size_t(settings_.shots * kPerProblem), false, d.test_logop);
  return text + test.text + test.answer;
}

std::map<std::string, std::vector<std::string>> LogicTextTask::annotation_dims() const {
  return {{"letters", {"batch", "letter"}},    {"shot_queries", {"batch", "shot"}}, {"shot_facts", {"batch", "one"}},
          {"queried_chain", {"batch", "one"}}, {"spans", {"batch", "span_bound"}},  {"first_answer", {"batch", "one"}},
          {"answer", {"batch", "answer_pos"}}, {"answer_length", {"batch", "one"}}};
}

std::vector<std::string> LogicTextTask::span_names() const { return kSpanNames; }

std::vector<std::pair<int64_t, int64_t>> LogicTextTask::span_positions(const Example& example) const {
  const std::vector<int64_t>& bounds = example.annotations.at("spans");
  std::vector<std::pair<int64_t, int64_t>> out;
  for (size_t i = 0; i + 1 < bounds.size(); i += 2) out.emplace_back(bounds[i], bounds[i + 1]);
  return out;
}

}  // namespace mechlens
