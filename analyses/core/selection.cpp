#include "core/selection.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <torch/torch.h>

#include <algorithm>
#include <cctype>
#include <sstream>

#include "util/error.h"

namespace mechlens {
namespace {

bool is_identifier(const std::string& part) {
  return !part.empty() && (std::isalpha(static_cast<unsigned char>(part[0])) || part[0] == '_') &&
         std::all_of(part.begin(), part.end(),
                     [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; });
}

std::vector<std::string> split_commas(const std::string& text) {
  std::vector<std::string> parts;
  std::stringstream stream(text);
  for (std::string part; std::getline(stream, part, ',');) parts.push_back(part);
  return parts;
}

}  // namespace

void validate_spans(const std::vector<PositionSpan>& spans, int64_t batch, int64_t n_pos) {
  for (const PositionSpan& span : spans) {
    MECHLENS_CHECK(InputError, int64_t(span.per_prompt.size()) == batch,
                   "span '{}' has positions for {} prompts, expected one [begin, end) per prompt ({})", span.name,
                   span.per_prompt.size(), batch);
    for (size_t b = 0; b < span.per_prompt.size(); ++b) {
      const auto [begin, end] = span.per_prompt[b];
      MECHLENS_CHECK(InputError, 0 <= begin && begin <= end && end <= n_pos,
                     "span '{}' of prompt {} is [{}, {}), outside the {} prompt positions", span.name, b, begin, end,
                     n_pos);
    }
  }
}

std::vector<std::string> position_roles(const std::vector<PositionSpan>& spans, int64_t n_pos) {
  std::vector<std::string> roles(size_t(std::max<int64_t>(n_pos, 0)));
  std::vector<int64_t> widest(roles.size(), 0);  // the width of the span that named each position
  for (const PositionSpan& span : spans) {
    if (span.per_prompt.empty()) continue;
    // Positions inside the span in every prompt: the intersection of its per-prompt ranges.
    int64_t begin = 0, end = n_pos, width = 0;
    for (const auto& [b, e] : span.per_prompt) {
      begin = std::max(begin, b), end = std::min(end, e), width = std::max(width, e - b);
    }
    for (int64_t p = begin; p < end; ++p) {
      if (roles[size_t(p)].empty() || width < widest[size_t(p)])
        roles[size_t(p)] = span.name, widest[size_t(p)] = width;
    }
  }
  return roles;
}

PositionSelection PositionSelection::parse(const std::string& text, const std::string& what,
                                           const std::vector<PositionSpan>* known) {
  PositionSelection selection;
  selection.text_ = text;
  selection.what_ = what;
  const std::vector<std::string> parts = split_commas(text);
  const bool named = text != "all" && !parts.empty() && std::all_of(parts.begin(), parts.end(), is_identifier);
  if (!named) {
    selection.indices_ = IndexSpec::parse(text, what);
    return selection;
  }
  if (known == nullptr) {
    MECHLENS_FAIL(InputError, "{} {}: named spans come from a task's annotations; use --task", what, text);
  }
  if (text == "spans") {
    MECHLENS_CHECK(InputError, !known->empty(), "{} spans: these prompts name no spans", what);
    selection.spans_ = *known;
    return selection;
  }
  std::vector<std::string> names;
  for (const PositionSpan& span : *known) names.push_back(span.name);
  for (const std::string& name : parts) {
    const auto found = std::find(names.begin(), names.end(), name);
    MECHLENS_CHECK(InputError, found != names.end(),
                   "{}: unknown span '{}'; these prompts name {} (or 'spans' for all)", what, name,
                   fmt::join(names, ", "));
    selection.spans_.push_back((*known)[size_t(found - names.begin())]);
  }
  return selection;
}

std::vector<std::vector<int64_t>> PositionSelection::per_prompt(const std::vector<int64_t>& lengths) const {
  if (!named()) return indices_->resolve_per_prompt(lengths);
  std::vector<std::vector<int64_t>> out(lengths.size());
  for (const PositionSpan& span : spans_) {
    MECHLENS_CHECK(InputError, span.per_prompt.size() == lengths.size(),
                   "{} {}: span '{}' has positions for {} prompts, not {}", what_, text_, span.name,
                   span.per_prompt.size(), lengths.size());
    const auto [first_begin, first_end] = span.per_prompt.front();
    for (size_t i = 0; i < lengths.size(); ++i) {
      const auto [begin, end] = span.per_prompt[i];
      MECHLENS_CHECK(InputError, 0 <= begin && begin <= end && end <= lengths[i],
                     "{} {}: span '{}' of prompt {} is [{}, {}), outside its {} tokens", what_, text_, span.name, i,
                     begin, end, lengths[i]);
      MECHLENS_CHECK(InputError, end - begin == first_end - first_begin,
                     "{} {}: span '{}' covers {} positions in prompt 0 but {} in prompt {}; a record keeps the same "
                     "number of positions per prompt (record one span of fixed width, or use patch, which takes "
                     "spans of any width)",
                     what_, text_, span.name, first_end - first_begin, end - begin, i);
      for (int64_t p = begin; p < end; ++p) out[i].push_back(p);
    }
  }
  MECHLENS_CHECK(InputError, lengths.empty() || !out.front().empty(), "{} {}: the spans are empty in every prompt",
                 what_, text_);
  return out;
}

torch::Tensor span_mask(const std::vector<std::pair<int64_t, int64_t>>& per_prompt, int64_t n_pos) {
  std::vector<int64_t> bounds;
  bounds.reserve(2 * per_prompt.size());
  for (const auto& [begin, end] : per_prompt) bounds.insert(bounds.end(), {begin, end});
  const torch::Tensor range = torch::tensor(bounds, torch::kLong).view({int64_t(per_prompt.size()), 2});
  const torch::Tensor position = torch::arange(n_pos, torch::kLong).unsqueeze(0);  // [1, pos]
  return position.ge(range.select(1, 0).unsqueeze(1)).logical_and(position.lt(range.select(1, 1).unsqueeze(1)));
}

}  // namespace mechlens
