#include "heads/head_report.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <torch/torch.h>

#include <cmath>

namespace mechlens {
namespace {

double at(const torch::Tensor& t, int64_t l, int64_t h) { return t[l][h].item<double>(); }

std::string head_name(int64_t l, int64_t h) { return fmt::format("L{}H{}", l, h); }

std::string number(double value, int digits = 3) {
  return std::isnan(value) ? "–" : fmt::format("{:.{}f}", value, digits);
}

}  // namespace

bool HeadRole::pattern_only() const {
  if (labels.empty()) return false;
  for (const HeadLabel& label : labels) {
    if (label.kind != "pattern") return false;
  }
  return true;
}

std::vector<HeadRole> name_heads(const HeadEvidence& e, const HeadThresholds& t) {
  std::vector<HeadRole> roles;
  for (int64_t l = 0; l < e.n_layers; ++l) {
    for (int64_t h = 0; h < e.n_heads; ++h) {
      HeadRole role{l, h, {}};
      for (size_t d = 0; d < e.detectors.size(); ++d) {
        const double score = e.detector_mean[int64_t(d)][l][h].item<double>();
        if (!std::isnan(score) && score >= t.pattern) role.labels.push_back({e.detectors[d], "pattern", score});
      }
      if (e.matching_score.defined()) {
        const double score = at(e.matching_score, l, h);
        if (!std::isnan(score) && score >= t.matching) role.labels.push_back({"matches", "weight", score});
      }
      if (e.dla_mean.defined() && std::abs(e.metric_mean) > 0) {
        const double share = at(e.dla_mean, l, h) / std::abs(e.metric_mean);
        if (share >= t.dla_share) role.labels.push_back({"writes the answer", "attribution", share});
        if (share <= -t.dla_share) role.labels.push_back({"suppresses the answer", "attribution", share});
      }
      if (e.ablation_drop.defined()) {
        const double drop = at(e.ablation_drop, l, h);
        if (!std::isnan(drop) && drop >= t.ablation) role.labels.push_back({"needed", "causal", drop});
      }
      roles.push_back(std::move(role));
    }
  }
  return roles;
}

nlohmann::json heads_json(const HeadEvidence& e, const HeadThresholds& t, const std::vector<HeadRole>& roles) {
  nlohmann::ordered_json json;
  json["prompts"] = e.n_prompts;
  json["thresholds"] = {
      {"pattern", t.pattern}, {"dla_share", t.dla_share}, {"ablation", t.ablation}, {"matching", t.matching}};
  json["metric_mean"] = e.metric_mean;
  if (!e.dla_note.empty()) json["dla_note"] = e.dla_note;
  json["heads"] = nlohmann::json::array();
  auto value = [](double v) { return std::isnan(v) ? nlohmann::json(nullptr) : nlohmann::json(v); };
  for (const HeadRole& role : roles) {
    nlohmann::ordered_json head;
    head["head"] = head_name(role.layer, role.head);
    head["layer"] = role.layer;
    head["index"] = role.head;
    nlohmann::ordered_json scores;
    for (size_t d = 0; d < e.detectors.size(); ++d)
      scores[e.detectors[d]] = value(e.detector_mean[int64_t(d)][role.layer][role.head].item<double>());
    head["pattern_scores"] = scores;
    if (e.dla_mean.defined()) head["dla"] = value(at(e.dla_mean, role.layer, role.head));
    if (e.ablation_drop.defined()) head["ablation_drop"] = value(at(e.ablation_drop, role.layer, role.head));
    if (e.matching_score.defined()) head["matching_score"] = value(at(e.matching_score, role.layer, role.head));
    head["labels"] = nlohmann::json::array();
    for (const HeadLabel& label : role.labels)
      head["labels"].push_back({{"name", label.name}, {"evidence", label.kind}, {"value", label.value}});
    head["pattern_evidence_only"] = role.pattern_only();
    json["heads"].push_back(head);
  }
  return json;
}

std::string heads_markdown(const HeadEvidence& e, const HeadThresholds& t, const std::vector<HeadRole>& roles,
                           const std::string& title) {
  std::string md = fmt::format("# {}\n\n", title);
  md += fmt::format(
      "{} prompts. A label needs: a detector score ≥ {} (pattern evidence); |direct logit attribution| ≥ {} × the mean "
      "logit difference ({:.3f}) (attribution: what the head writes directly to the answer); a drop of the logit "
      "difference ≥ {} "
      "when the head is {}-ablated (causal); a matching score ≥ {} (weight evidence). Labels marked † rest on "
      "attention patterns alone.\n\n",
      e.n_prompts, t.pattern, t.dla_share, e.metric_mean, t.ablation, e.ablation.empty() ? "mean" : e.ablation,
      t.matching);
  if (!e.dla_note.empty()) md += fmt::format("Direct logit attribution did not run: {}\n\n", e.dla_note);
  md += "| head | labels (evidence: value) |\n|---|---|\n";
  for (const HeadRole& role : roles) {
    std::vector<std::string> parts;
    for (const HeadLabel& label : role.labels)
      parts.push_back(fmt::format("{} ({}: {:.3f})", label.name, label.kind, label.value));
    md += fmt::format("| {}{} | {} |\n", head_name(role.layer, role.head), role.pattern_only() ? " †" : "",
                      parts.empty() ? "–" : fmt::format("{}", fmt::join(parts, "; ")));
  }
  md += "\n## Numbers\n\n| head |";
  for (const std::string& d : e.detectors) md += fmt::format(" {} |", d);
  if (e.dla_mean.defined()) md += " DLA (logit diff) |";
  if (e.ablation_drop.defined()) md += " ablation drop |";
  if (e.matching_score.defined()) md += " matching |";
  md += "\n|---|";
  const size_t columns =
      e.detectors.size() + e.dla_mean.defined() + e.ablation_drop.defined() + e.matching_score.defined();
  for (size_t c = 0; c < columns; ++c) md += "---|";
  md += "\n";
  for (const HeadRole& role : roles) {
    md += fmt::format("| {} |", head_name(role.layer, role.head));
    for (size_t d = 0; d < e.detectors.size(); ++d)
      md += fmt::format(" {} |", number(e.detector_mean[int64_t(d)][role.layer][role.head].item<double>()));
    if (e.dla_mean.defined()) md += fmt::format(" {} |", number(at(e.dla_mean, role.layer, role.head)));
    if (e.ablation_drop.defined()) md += fmt::format(" {} |", number(at(e.ablation_drop, role.layer, role.head)));
    if (e.matching_score.defined()) md += fmt::format(" {} |", number(at(e.matching_score, role.layer, role.head)));
    md += "\n";
  }
  return md;
}

}  // namespace mechlens
