#include "view/trace_page.h"

#include <fmt/format.h>
#include <torch/torch.h>

#include "util/error.h"
#include "view/page_parts.h"

namespace mechlens {
namespace {

// The knock-out grid: accuracy change (red: the knock-out hurts) per [layer(, head), source].
nlohmann::json knockout_heatmap(const ResultReader& reader) {
  const LabelledTensor accuracy = reader.read("/knockout/accuracy");
  const double base = reader.number_attribute("base_accuracy", "/knockout");
  nlohmann::json result;
  result["dims"] = accuracy.dims;
  result["shape"] = accuracy.values.sizes().vec();
  result["values"] = flat_values(accuracy.values - base);
  MECHLENS_CHECK(InputError, accuracy.values.dim() >= 2 && accuracy.dims.size() == size_t(accuracy.values.dim()),
                 "{}: /knockout/accuracy must have 2 or 3 named dimensions", reader.path());
  for (size_t d = 0; d < accuracy.dims.size(); ++d) {
    const std::string labels = "/knockout/label_" + accuracy.dims[d];
    const std::vector<std::string> entries =
        accuracy.dims[d] == "source" ? reader.strings(labels) : long_labels(reader, labels);
    MECHLENS_CHECK(InputError, int64_t(entries.size()) == accuracy.values.size(int64_t(d)),
                   "{}: {} holds {} labels for {} entries of /knockout/accuracy", reader.path(), labels, entries.size(),
                   accuracy.values.size(int64_t(d)));
    result["labels"].push_back(entries);
  }
  const nlohmann::json attrs = reader.attributes("/knockout");
  result["title"] = fmt::format(
      "Attention knock-out — accuracy change when the {} cannot attend to a source (window {}; base accuracy {:.3f})",
      attrs.value("destination", "destination"), attrs.value("window", int64_t(1)), base);
  return result;
}

// Span attention: mean mass per head (rows "L0H1") and source span.
nlohmann::json span_heatmap(const ResultReader& reader) {
  const LabelledTensor mass = reader.read("/span_attention/mass_mean");  // [layer, head, source]
  MECHLENS_CHECK(InputError, mass.values.dim() == 3, "{}: /span_attention/mass_mean must be [layer, head, source]",
                 reader.path());
  const std::vector<std::string> layers = long_labels(reader, "/span_attention/label_layer");
  const int64_t n_layers = mass.values.size(0), n_heads = mass.values.size(1);
  nlohmann::json result;
  result["dims"] = {"", "source"};
  result["shape"] = {n_layers * n_heads, mass.values.size(2)};
  result["values"] = flat_values(mass.values.reshape({n_layers * n_heads, -1}));
  nlohmann::json rows = nlohmann::json::array();
  for (int64_t l = 0; l < n_layers; ++l)
    for (int64_t h = 0; h < n_heads; ++h) rows.push_back(fmt::format("L{}H{}", layers[size_t(l)], h));
  result["labels"] = {rows, reader.strings("/span_attention/label_source")};
  result["title"] = fmt::format("Span attention — mean attention mass from the {} onto each source span",
                                reader.attributes("/span_attention").value("destination", "destination"));
  return result;
}

nlohmann::json path_table(const ResultReader& reader) {
  const torch::Tensor layer = reader.read("/path/layer").values.to(torch::kLong);
  const std::vector<std::string> destination = reader.strings("/path/destination"),
                                 source = reader.strings("/path/source");
  const std::vector<double> accuracy = flat_values(reader.read("/path/accuracy").values);
  const std::vector<double> change = flat_values(reader.read("/path/relative_prob_change").values);
  const std::vector<double> control = flat_values(reader.read("/path/control_accuracy").values);
  check_lengths(reader, "/path",
                {{"layer", size_t(layer.numel())},
                 {"destination", destination.size()},
                 {"source", source.size()},
                 {"accuracy", accuracy.size()},
                 {"relative_prob_change", change.size()},
                 {"control_accuracy", control.size()}});
  nlohmann::json edges = nlohmann::json::array();
  for (int64_t e = 0; e < layer.numel(); ++e) {
    edges.push_back({{"layer", layer[e].item<int64_t>()},
                     {"destination", destination.at(size_t(e))},
                     {"source", source.at(size_t(e))},
                     {"accuracy", accuracy.at(size_t(e))},
                     {"change", change.at(size_t(e))},
                     {"control", control.at(size_t(e))}});
  }
  const nlohmann::json attrs = reader.attributes("/path");
  return {{"title",
           fmt::format("Knock-out path from '{}' (edges that drop accuracy by at least {}; base {:.3f})",
                       attrs.value("start", "?"), attrs.value("min_drop", 0.0), attrs.value("base_accuracy", 0.0))},
          {"edges", edges}};
}

nlohmann::json flow_graph(const ResultReader& reader, const std::vector<std::string>& vocab, int64_t& prompt) {
  const std::string g = "/flow/graph";
  prompt = int64_t(reader.number_attribute("prompt", g));
  const std::vector<std::string> ids = reader.strings(g + "/node_id"), types = reader.strings(g + "/node_type");
  const std::vector<std::string> labels = reader.strings(g + "/node_label"), kinds = reader.strings(g + "/edge_kind");
  const torch::Tensor layer = reader.read(g + "/node_layer").values.to(torch::kLong);
  const torch::Tensor pos = reader.read(g + "/node_pos").values.to(torch::kLong);
  const torch::Tensor source = reader.read(g + "/edge_source").values.to(torch::kLong);
  const torch::Tensor target = reader.read(g + "/edge_target").values.to(torch::kLong);
  const std::vector<double> weight = flat_values(reader.read(g + "/edge_weight").values);
  std::vector<double> check;  // NaN where an edge was not knocked out (kept: flat_values would zero it)
  if (reader.exists(g + "/edge_knockout")) {
    const torch::Tensor values = reader.read(g + "/edge_knockout").values.to(torch::kFloat64).contiguous();
    check.assign(values.data_ptr<double>(), values.data_ptr<double>() + values.numel());
  }
  check_lengths(reader, g,
                {{"node_id", ids.size()},
                 {"node_type", types.size()},
                 {"node_label", labels.size()},
                 {"node_layer", size_t(layer.numel())},
                 {"node_pos", size_t(pos.numel())}});
  check_lengths(reader, g,
                {{"edge_source", size_t(source.numel())},
                 {"edge_target", size_t(target.numel())},
                 {"edge_weight", weight.size()},
                 {"edge_kind", kinds.size()}});
  std::vector<bool> root(ids.size(), false);
  const torch::Tensor roots = reader.read(g + "/roots").values.to(torch::kLong);
  for (int64_t r = 0; r < roots.numel(); ++r) {
    const int64_t index = roots[r].item<int64_t>();
    MECHLENS_CHECK(InputError, index >= 0 && size_t(index) < ids.size(), "{}: {}/roots names node {} of {}",
                   reader.path(), g, index, ids.size());
    root[size_t(index)] = true;
  }
  nlohmann::json nodes = nlohmann::json::array(), edges = nlohmann::json::array();
  int64_t last_pos = 0;
  for (size_t i = 0; i < ids.size(); ++i) {
    nodes.push_back({{"id", ids[i]},
                     {"type", types.at(i)},
                     {"layer", layer[int64_t(i)].item<int64_t>()},
                     {"pos", pos[int64_t(i)].item<int64_t>()},
                     {"label", labels.at(i)},
                     {"root", bool(root[i])}});
    last_pos = std::max(last_pos, pos[int64_t(i)].item<int64_t>());
  }
  for (int64_t e = 0; e < source.numel(); ++e) {
    const int64_t s = source[e].item<int64_t>(), t = target[e].item<int64_t>();
    MECHLENS_CHECK(InputError, s >= 0 && t >= 0 && size_t(s) < ids.size() && size_t(t) < ids.size(),
                   "{}: {}/edge_source or edge_target names node {} -> {} of {}", reader.path(), g, s, t, ids.size());
    nlohmann::json edge{{"source", s}, {"target", t}, {"weight", weight.at(size_t(e))}, {"kind", kinds.at(size_t(e))}};
    if (size_t(e) < check.size() && check[size_t(e)] == check[size_t(e)]) edge["check"] = check[size_t(e)];
    edges.push_back(std::move(edge));
  }
  const nlohmann::json config = nlohmann::json::parse(reader.attribute("model_config"), nullptr, false);
  const int64_t n_layers = config.is_object() ? config.value("n_layers", int64_t(1)) : int64_t(1);
  const bool attn_only = config.is_object() && config.value("d_mlp", int64_t(1)) == 0;
  std::vector<std::string> tokens;
  const torch::Tensor ids_row = reader.read("/prompts/tokens", prompt, 1).values[0].to(torch::kLong);
  for (int64_t p = 0; p <= last_pos && p < ids_row.size(0); ++p) {
    const int64_t id = ids_row[p].item<int64_t>();
    tokens.push_back(id >= 0 && id < int64_t(vocab.size()) ? vocab[size_t(id)] : std::to_string(id));
  }
  return {{"title",
           fmt::format("Information-flow graph of prompt {} ({})", prompt, reader.attributes(g).value("pruning", ""))},
          {"nodes", nodes},
          {"edges", edges},
          {"tokens", tokens},
          {"n_layers", n_layers},
          {"stages_per_layer", attn_only ? 1 : 3}};
}

}  // namespace

nlohmann::json trace_page(const ResultReader& reader) {
  const std::vector<std::string> vocab = reader.vocab();
  nlohmann::json page{{"kind", "trace"}};
  page["title"] = fmt::format("Circuit tracing — {}", reader.path());
  page["subtitle"] =
      fmt::format("checkpoint {}", reader.has_attribute("checkpoint") ? reader.attribute("checkpoint") : "?");
  page["results"] = nlohmann::json::array();
  if (reader.exists("/path")) page["path"] = path_table(reader);
  if (reader.exists("/knockout")) page["results"].push_back(knockout_heatmap(reader));
  if (reader.exists("/span_attention")) page["results"].push_back(span_heatmap(reader));
  if (reader.exists("/flow/graph")) {
    int64_t prompt = 0;
    page["graph"] = flow_graph(reader, vocab, prompt);
    page["graph_prompt"] = prompt;
    page["prompt"] = decoded_prompt(reader, "/prompts/tokens", vocab, prompt);
  }
  MECHLENS_CHECK(InputError, page.contains("path") || !page["results"].empty() || page.contains("graph"),
                 "{}: the trace file holds no analysis to show", reader.path());
  return page;
}

}  // namespace mechlens
