#include "heads/head_report.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <tuple>

namespace mechlens {
namespace {

double at(const torch::Tensor& t, int64_t l, int64_t h) { return t[l][h].item<double>(); }

std::string head_name(int64_t l, int64_t h) { return fmt::format("L{}H{}", l, h); }

std::string number(double value, int digits = 3) {
  return std::isnan(value) ? "–" : fmt::format("{:.{}f}", value, digits);
}

// The scan's findings for one statistic: its best variable, and the others with η² ≥ min_effect, each
// with its η² within the best one's groups ("explained" when that is under a quarter of its own η²).
struct ScanFinding {
  int64_t stat = 0;
  std::string best;
  double eta2 = 0;
  std::vector<std::tuple<std::string, double, double, bool>> others;  // variable, η², η² | best, explained
};

std::vector<ScanFinding> scan_findings(const HeadEvidence& e, int64_t layer, int64_t head, double min_effect) {
  std::vector<ScanFinding> findings;
  if (!e.scan.eta2.defined()) return findings;
  for (size_t s = 0; s < e.scan_statistics.size(); ++s) {
    if (e.scan_heads[s] != std::make_pair(layer, head)) continue;
    const int64_t best = e.scan.best[int64_t(s)].item<int64_t>();
    if (best < 0 || e.scan.eta2[int64_t(s)][best].item<double>() < min_effect) continue;
    ScanFinding finding{int64_t(s), e.scan.variables[size_t(best)], e.scan.eta2[int64_t(s)][best].item<double>(), {}};
    for (size_t v = 0; v < e.scan.variables.size(); ++v) {
      const double eta2 = e.scan.eta2[int64_t(s)][int64_t(v)].item<double>();
      if (int64_t(v) == best || eta2 < min_effect) continue;
      const double given = e.scan.eta2_given_best[int64_t(s)][int64_t(v)].item<double>();
      finding.others.emplace_back(e.scan.variables[v], eta2, given, given < 0.25 * eta2);
    }
    findings.push_back(std::move(finding));
  }
  std::sort(findings.begin(), findings.end(),
            [](const ScanFinding& a, const ScanFinding& b) { return a.eta2 > b.eta2; });
  return findings;
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
  json["thresholds"] = {{"pattern", t.pattern},
                        {"dla_share", t.dla_share},
                        {"ablation", t.ablation},
                        {"matching", t.matching},
                        {"scan_effect", t.scan_effect}};
  json["metric_mean"] = e.metric_mean;
  if (e.scan.eta2.defined()) json["scan_variables"] = e.scan.variables;
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
    if (e.scan.eta2.defined()) {
      head["confound_scan"] = nlohmann::json::array();
      for (const ScanFinding& f : scan_findings(e, role.layer, role.head, t.scan_effect)) {
        nlohmann::ordered_json entry{
            {"statistic", e.scan_statistics[size_t(f.stat)]}, {"best", f.best}, {"eta2", f.eta2}};
        entry["others"] = nlohmann::json::array();
        for (const auto& [variable, eta2, given, explained] : f.others)
          entry["others"].push_back(
              {{"variable", variable}, {"eta2", eta2}, {"eta2_given_best", given}, {"explained_by_best", explained}});
        head["confound_scan"].push_back(entry);
      }
    }
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
  if (e.scan.eta2.defined()) {
    md += fmt::format(
        "\n## Confound scan\n\nFor each head's per-prompt statistics, the variable (of the task's annotations: {}) "
        "that explains most of its variance (η², the correlation ratio), and the other variables with η² ≥ {}, each "
        "with its η² within the best variable's groups; \"explained\" marks a variable whose effect is under a quarter "
        "of its own η² once the best one is held fixed: it only seems to matter because it goes with the best one. "
        "Up to three statistics per head and three other variables each; the JSON and HDF5 hold every one.\n\n"
        "| head | statistic | best variable (η²) | other variables: η² → η² given the best |\n|---|---|---|---|\n",
        fmt::join(e.scan.variables, ", "), t.scan_effect);
    for (const HeadRole& role : roles) {
      // The three statistics each variable explains most of, and their three strongest other variables:
      // the JSON and HDF5 hold all of them.
      std::vector<ScanFinding> findings = scan_findings(e, role.layer, role.head, t.scan_effect);
      if (findings.size() > 3) findings.resize(3);
      for (ScanFinding& f : findings) {
        std::sort(f.others.begin(), f.others.end(),
                  [](const auto& a, const auto& b) { return std::get<1>(a) > std::get<1>(b); });
        if (f.others.size() > 3) f.others.resize(3);
        std::vector<std::string> others;
        for (const auto& [variable, eta2, given, explained] : f.others)
          others.push_back(fmt::format("{} {:.2f} → {:.2f}{}", variable, eta2, given, explained ? " (explained)" : ""));
        md += fmt::format("| {} | {} | {} ({:.2f}) | {} |\n", head_name(role.layer, role.head),
                          e.scan_statistics[size_t(f.stat)], f.best, f.eta2,
                          others.empty() ? "–" : fmt::format("{}", fmt::join(others, "; ")));
      }
    }
  }
  return md;
}

}  // namespace mechlens
