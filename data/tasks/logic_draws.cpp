// How logic problems are drawn, and their counterfactual partners (query and fact flips that change
// the answer; rule-order, disjunct-order and distractor swaps that keep it), with the first proof
// tokens moved into the prompt (later proof steps).
#include <algorithm>
#include <numeric>

#include "tasks/logic_task.h"
#include "util/error.h"

namespace mechlens {

using namespace logic_tokens;

namespace {
const std::vector<std::pair<LogicCounterfactual, const char*>> kCounterfactualNames = {
    {LogicCounterfactual::kQueryFlip, "query-flip"},
    {LogicCounterfactual::kFactFlip, "fact-flip"},
    {LogicCounterfactual::kRuleOrder, "rule-order"},
    {LogicCounterfactual::kDisjunctOrder, "disjunct-order"},
    {LogicCounterfactual::kDistractor, "distractor"}};
}  // namespace

LogicCounterfactual parse_logic_counterfactual(const std::string& text) {
  for (const auto& [kind, name] : kCounterfactualNames) {
    if (text == name) return kind;
  }
  MECHLENS_FAIL(InputError,
                "logic counterfactual '{}' is unknown; expected query-flip, fact-flip, rule-order, disjunct-order or "
                "distractor",
                text);
}

std::string to_string(LogicCounterfactual kind) {
  for (const auto& [known, name] : kCounterfactualNames) {
    if (known == kind) return name;
  }
  return "?";
}

LogicTask::Draw LogicTask::draw(Rng& rng) const {
  const int64_t d = settings_.depth;
  std::vector<int64_t> variables(kVariables);
  std::iota(variables.begin(), variables.end(), 0);
  rng.shuffle(variables);  // the first 3d are the problem's distinct variables
  Draw out;
  out.v1.assign(variables.begin(), variables.begin() + d);
  out.v2.assign(variables.begin() + d, variables.begin() + 2 * d);
  out.v3.assign(variables.begin() + 2 * d, variables.begin() + 3 * d);
  out.swapped = rng.coin();
  out.logop_first = rng.coin();
  out.fact_order = {0, 1, 2};
  rng.shuffle(out.fact_order);
  out.truths = {rng.coin(), rng.coin(), rng.coin()};
  out.query_logop = rng.coin(settings_.logop_share);
  return out;
}

Example LogicTask::sample(Rng& rng) const {
  if (settings_.counterfactual != LogicCounterfactual::kFactFlip) return finish(build(draw(rng)), -1);
  // Fact flips change the proof at token 0 or 1 depending on the truths: draw until the pair's proofs
  // first differ at token K, so that both prompts carry the same K proof tokens.
  for (int attempt = 0; attempt < 10'000; ++attempt) {
    const Draw d = draw(rng);
    Example clean = build(d);
    int64_t flipped = -1;
    const Example other = build(partner(d, clean, flipped, rng));
    const auto differ = std::mismatch(clean.answer.begin(), clean.answer.end(), other.answer.begin()).first;
    if (differ - clean.answer.begin() == settings_.proof_prefix) return finish(std::move(clean), flipped);
  }
  MECHLENS_FAIL(InputError,
                "logic counterfactual=fact-flip: no problem in 10,000 draws has a pair whose proofs first "
                "differ at token {}",
                settings_.proof_prefix);
}

Example LogicTask::build(const Draw& d) const {
  return make_problem(d.v1, d.v2, d.v3, d.swapped, d.logop_first, d.fact_order, d.truths, d.query_logop);
}

LogicTask::Draw LogicTask::draw_of(const Example& problem) {
  const auto& notes = problem.annotations;
  Draw d;
  d.v1 = notes.at("v1");
  d.v2 = notes.at("v2");
  d.v3 = notes.at("v3");
  d.fact_order = notes.at("fact_order");
  d.swapped = notes.at("structure")[0] != 0;
  d.logop_first = notes.at("structure")[1] != 0;
  d.query_logop = notes.at("queried_chain")[0] == 0;
  for (int64_t t : notes.at("truths")) d.truths.push_back(t != 0);
  return d;
}

LogicTask::Draw LogicTask::partner(const Draw& d, const Example& clean, int64_t& flipped_fact, Rng& rng) const {
  Draw out = d;
  switch (settings_.counterfactual) {
    case LogicCounterfactual::kQueryFlip:
      out.query_logop = !d.query_logop;
      return out;
    case LogicCounterfactual::kRuleOrder:
      out.logop_first = !d.logop_first;
      return out;
    case LogicCounterfactual::kDisjunctOrder:
      out.swapped = !d.swapped;
      return out;
    case LogicCounterfactual::kDistractor: {
      // The chain the query does not name gets variables the problem does not use (drawn).
      std::vector<int64_t> unused;
      for (int64_t v = 0; v < kVariables; ++v) {
        const auto uses = [v](const std::vector<int64_t>& chain) {
          return std::find(chain.begin(), chain.end(), v) != chain.end();
        };
        if (!uses(d.v1) && !uses(d.v2) && !uses(d.v3)) unused.push_back(v);
      }
      rng.shuffle(unused);
      const auto d_size = static_cast<std::ptrdiff_t>(d.v1.size());
      if (d.query_logop) {
        out.v3.assign(unused.begin(), unused.begin() + d_size);
      } else {
        out.v1.assign(unused.begin(), unused.begin() + d_size);
        out.v2.assign(unused.begin() + d_size, unused.begin() + 2 * d_size);
      }
      return out;
    }
    case LogicCounterfactual::kFactFlip:
      break;
  }
  // The fact the proof cites first: its source is the proof's first token.
  const std::vector<int64_t> sources{d.v1[0], d.v2[0], d.v3[0]};
  flipped_fact = std::find(sources.begin(), sources.end(), clean.answer[0]) - sources.begin();
  out.truths[size_t(flipped_fact)] = !d.truths[size_t(flipped_fact)];
  return out;
}

Example LogicTask::finish(Example problem, int64_t flipped_fact) const {
  if (settings_.counterfactual == LogicCounterfactual::kFactFlip) problem.annotations["flipped_fact"] = {flipped_fact};
  const int64_t k = settings_.proof_prefix;
  if (k == 0) return problem;
  problem.prompt.insert(problem.prompt.end(), problem.answer.begin(), problem.answer.begin() + k);
  problem.answer.erase(problem.answer.begin(), problem.answer.begin() + k);
  set_answer_notes(problem);
  return problem;
}

Example LogicTask::counterfactual(const Example& clean, Rng& rng) const {
  const Draw d = draw_of(clean);
  int64_t flipped = -1;
  Example other = build(partner(d, build(d), flipped, rng));  // sets `flipped` before finish reads it
  return finish(std::move(other), flipped);
}

std::string LogicTask::counterfactual_kind() const { return to_string(settings_.counterfactual); }

}  // namespace mechlens
