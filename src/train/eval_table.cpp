#include "train/eval_table.h"

#include <fmt/format.h>

namespace mechlens {
namespace {

// `{:.17g}` round-trips a double; a group without the value gets an empty cell.
std::string cell(const std::map<std::string, double>& values, const std::string& group) {
  const auto value = values.find(group);
  return value == values.end() ? "," : fmt::format(",{:.17g}", value->second);
}

}  // namespace

std::string eval_table_csv(const std::map<std::string, GroupMetrics>& metrics, const HopsTaken* hops) {
  std::string text = "group,n,loss,first_token_acc,exact_match";
  if (hops != nullptr) {
    for (int64_t d = 0; d <= hops->max_distance; ++d) text += fmt::format(",d={}", d);
    text += ",elsewhere,not_in_prompt";
    if (!hops->decoy.empty()) text += ",decoy";
    if (!hops->other_end.empty()) text += ",other_end";
  }
  text += "\n";
  for (const auto& [group, m] : metrics) {
    text += fmt::format("{},{},{:.17g},{:.17g},{:.17g}", group, m.n, m.loss, m.first_token_accuracy, m.exact_match);
    if (hops != nullptr) {
      const auto shares = hops->share.find(group);
      for (int64_t d = 0; d <= hops->max_distance; ++d) {
        const bool known = shares != hops->share.end() && size_t(d) < shares->second.size();
        text += known ? fmt::format(",{:.17g}", shares->second[size_t(d)]) : ",";
      }
      text += cell(hops->elsewhere, group) + cell(hops->not_in_prompt, group);
      if (!hops->decoy.empty()) text += cell(hops->decoy, group);
      if (!hops->other_end.empty()) text += cell(hops->other_end, group);
    }
    text += "\n";
  }
  return text;
}

}  // namespace mechlens
