#include "view/heads_page.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <map>
#include <set>

#include "util/error.h"
#include "util/json_text.h"

namespace mechlens {
namespace {

using json = nlohmann::json;

// A [layer, head] (or [layer, head, slice]) heatmap entry in the viewer's format.
json heatmap(const std::string& title, int64_t layers, int64_t heads, const std::vector<std::string>& slices,
             const std::vector<double>& values, bool sequential) {
  std::vector<std::string> layer_labels, head_labels;
  for (int64_t l = 0; l < layers; ++l) layer_labels.push_back(std::to_string(l));
  for (int64_t h = 0; h < heads; ++h) head_labels.push_back(std::to_string(h));
  json entry{{"title", title}, {"values", values}, {"sequential", sequential}};
  if (slices.empty()) {
    entry["dims"] = {"layer", "head"};
    entry["shape"] = {layers, heads};
    entry["labels"] = {layer_labels, head_labels};
  } else {
    entry["dims"] = {"layer", "head", "detector"};
    entry["shape"] = {layers, heads, int64_t(slices.size())};
    entry["labels"] = {layer_labels, head_labels, slices};
  }
  return entry;
}

double number_or_zero(const json& value) { return value.is_number() ? value.get<double>() : 0.0; }

// The logic claims as rows: what the paper says, the verdict, the numbers.
json claim_rows(const json& claims) {
  json rows = json::array();
  auto verdict = [](const json& claim) {
    if (!claim.contains("holds")) return std::string("no verdict (the paper gives no number)");
    return std::string(claim["holds"].get<bool>() ? "holds" : "does not hold");
  };
  if (claims.contains("query_attention")) {
    const json& q = claims["query_attention"];
    rows.push_back(
        {{"claim", q.value("claim", "")},
         {"verdict", verdict(q)},
         {"numbers", fmt::format("layer {} heads on QUERY, linear / LogOp queried: {:.3f} / {:.3f}",
                                 q.value("layer", -1), fmt::join(q.value("linear", std::vector<double>{}), ", "),
                                 fmt::join(q.value("logop", std::vector<double>{}), ", "))}});
  }
  if (claims.contains("start_probe")) {
    const json& p = claims["start_probe"];
    rows.push_back({{"claim", p.value("claim", "")},
                    {"verdict", verdict(p)},
                    {"numbers", fmt::format("accuracy by stage (embeddings, after each layer): {:.3f}; majority {:.3f}",
                                            fmt::join(p.value("accuracy_by_stage", std::vector<double>{}), ", "),
                                            p.value("majority", 0.0))}});
  }
  for (const json& step : claims.value("fact_reading", json::array())) {
    std::vector<std::string> top;
    for (const json& head : step.value("heads", json::array())) {
      if (top.size() < 3) {
        top.push_back(
            fmt::format("L{}H{} {:.2f}", head.value("layer", -1), head.value("head", -1), head.value("effect", 0.0)));
      }
    }
    rows.push_back(
        {{"claim", "heads that read the facts: " + step.value("changes", std::string())},
         {"verdict", "effects (no threshold in the paper)"},
         {"numbers", fmt::format("{} (fact-flip pairs: {})", fmt::join(top, ", "), step.value("n_pairs", 0))}});
  }
  for (const json& site : claims.value("routing_steering", json::array())) {
    rows.push_back(
        {{"claim", fmt::format("steering along the routing direction entering layer {}", site.value("layer", -1))},
         {"verdict", "shares (the paper gives no number)"},
         {"numbers", fmt::format("alpha {}: linear switched {:.2f}; LogOp switched {:.2f}",
                                 fmt::join(site.value("alphas", std::vector<double>{}), ", "),
                                 fmt::join(site.value("linear_switched", std::vector<double>{}), ", "),
                                 fmt::join(site.value("logop_switched", std::vector<double>{}), ", "))}});
  }
  return rows;
}

}  // namespace

json heads_page(const ResultReader& reader) {
  MECHLENS_CHECK(InputError, reader.exists("/roles/report_json"), "{}: no /roles/report_json to show", reader.path());
  const std::vector<std::string> texts = reader.strings("/roles/report_json");
  MECHLENS_CHECK(InputError, texts.size() == 1, "{}: /roles/report_json must hold one JSON text, it holds {}",
                 reader.path(), texts.size());
  const json report = parse_json_text<InputError>(texts[0], reader.path() + ": /roles/report_json");
  MECHLENS_CHECK(InputError, report.is_object() && report.contains("heads") && report["heads"].is_array(),
                 "{}: /roles/report_json has no 'heads' list", reader.path());

  // Heads by (layer, head); every detector any head has, in name order.
  int64_t layers = 0, heads = 0;
  std::set<std::string> detectors;
  for (const json& head : report["heads"]) {
    MECHLENS_CHECK(
        InputError,
        head.is_object() && head.value("layer", json()).is_number_integer() && head.value("head", json()).is_string(),
        "{}: a heads entry lacks 'layer' or 'head': {}", reader.path(), json_excerpt(head));
    const std::string name = head["head"].get<std::string>();
    const size_t h_at = name.find('H');
    MECHLENS_CHECK(InputError, h_at != std::string::npos, "{}: head name '{}' is not LxHy", reader.path(), name);
    layers = std::max<int64_t>(layers, head["layer"].get<int64_t>() + 1);
    heads = std::max<int64_t>(heads, std::stoll(name.substr(h_at + 1)) + 1);
    const json scores = head.value("pattern_scores", json::object());  // items() must not outlive it
    for (const auto& [detector, value] : scores.items()) detectors.insert(detector);
  }
  const std::vector<std::string> detector_names(detectors.begin(), detectors.end());
  std::vector<double> pattern(size_t(layers * heads) * detector_names.size(), 0.0), dla(size_t(layers * heads), 0.0),
      drop(size_t(layers * heads), 0.0);
  json table = json::array();
  for (const json& head : report["heads"]) {
    const int64_t l = head["layer"].get<int64_t>();
    const std::string name = head["head"].get<std::string>();
    const int64_t h = std::stoll(name.substr(name.find('H') + 1));
    const size_t cell = size_t(l * heads + h);
    for (size_t d = 0; d < detector_names.size(); ++d) {
      pattern[cell * detector_names.size() + d] =
          number_or_zero(head.value("pattern_scores", json::object()).value(detector_names[d], json()));
    }
    dla[cell] = number_or_zero(head.value("dla", json()));
    drop[cell] = number_or_zero(head.value("ablation_drop", json()));
    std::vector<std::string> labels;
    for (const json& label : head.value("labels", json::array())) {
      labels.push_back(fmt::format("{} ({}: {:.3f})", label.value("name", "?"), label.value("evidence", "?"),
                                   number_or_zero(label.value("value", json()))));
    }
    table.push_back({{"head", name},
                     {"labels", labels.empty() ? "–" : fmt::format("{}", fmt::join(labels, "; "))},
                     {"pattern_only", head.value("pattern_evidence_only", false)}});
  }
  json page{{"kind", "heads"}, {"table", table}};
  page["title"] = fmt::format("Heads — {}", reader.path());
  const json thresholds = report.value("thresholds", json::object());
  page["subtitle"] = fmt::format(
      "checkpoint {}; {} prompts; label thresholds: pattern {}, attribution {} × the mean logit "
      "difference, ablation drop {}; † = pattern evidence only",
      reader.has_attribute("checkpoint") ? reader.attribute("checkpoint") : "?",
      number_or_zero(report.value("prompts", json())), number_or_zero(thresholds.value("pattern", json())),
      number_or_zero(thresholds.value("dla_share", json())), number_or_zero(thresholds.value("ablation", json())));
  if (report.contains("logic_claims") && report["logic_claims"].is_object()) {
    page["claims"] = claim_rows(report["logic_claims"]);
  }
  if (!detector_names.empty()) {
    page["results"].push_back(heatmap("Detector scores (attention mass on each detector's target), per head", layers,
                                      heads, detector_names, pattern, true));
  }
  page["results"].push_back(
      heatmap("Direct logit attribution to the logit difference, per head", layers, heads, {}, dla, false));
  page["results"].push_back(heatmap("Logit-difference drop when the head is ablated", layers, heads, {}, drop, false));
  return page;
}

}  // namespace mechlens
