#include "view/view.h"

#include <fmt/format.h>
#include <openssl/evp.h>
#include <torch/torch.h>

#include <nlohmann/json.hpp>

#include "export/attention_maps.h"
#include "store/result_reader.h"
#include "util/error.h"
#include "util/index_spec.h"
#include "view/heads_page.h"
#include "view/matching_page.h"
#include "view/page_parts.h"
#include "view/sweep_page.h"
#include "view/trace_page.h"

namespace mechlens {

extern const char* const kViewerTemplate;

namespace {

std::string base64(const uint8_t* bytes, size_t size) {
  std::string out(4 * ((size + 2) / 3), '\0');
  const int written = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), bytes, int(size));
  out.resize(size_t(std::max(written, 0)));
  return out;
}

// Attention: each head's [n, n] map quantised to 0..255 (1/255 steps keep the picture) and
// base64-encoded, decoded by the page only when the head is shown.
nlohmann::json attention_page(const ResultReader& reader, const ViewRequest& request) {
  const AttentionMaps maps(reader);
  const std::vector<int64_t> layer_indices = maps.select_layers(request.layers);
  const std::vector<int64_t> examples = maps.select_prompts(request.examples);
  // Size before any work: bytes of base64 over every head of every chosen layer and prompt.
  const int64_t heads = maps.pattern(layer_indices.front(), examples.front()).size(0);
  double bytes = 0;
  for (int64_t example : examples) {
    const double n = double(maps.tokens(example).size());
    bytes += double(layer_indices.size()) * double(heads) * n * n * 4.0 / 3.0;
  }
  MECHLENS_CHECK(InputError, bytes <= double(request.max_bytes),
                 "{}: the page would embed {:.0f} MB of attention maps ({} prompts x {} layers x {} heads), more "
                 "than --max-mb {}; choose fewer with --examples or --layers",
                 reader.path(), bytes / 1e6, examples.size(), layer_indices.size(), heads, request.max_bytes >> 20);
  nlohmann::json page{{"kind", "attention"}};
  page["title"] = fmt::format("Attention patterns — {}", reader.path());
  page["subtitle"] = fmt::format("checkpoint {}; rows: destination, columns: source; values quantised to 1/255",
                                 reader.has_attribute("checkpoint") ? reader.attribute("checkpoint") : "?");
  page["n_heads"] = heads;
  // Causal maps leave the upper triangle blank; an encoder's (bidirectional attention) fill it.
  const nlohmann::json config = reader.has_attribute("model_config")
                                    ? nlohmann::json::parse(reader.attribute("model_config"), nullptr, false)
                                    : nlohmann::json();
  page["causal"] = !(config.is_object() && config.value("attention_dir", "causal") == "bidirectional");
  for (int64_t index : layer_indices)
    page["layer_names"].push_back(fmt::format("layer {}", maps.layers()[size_t(index)]));
  for (int64_t example : examples) {
    nlohmann::json entry{{"index", example}, {"tokens", maps.tokens(example)}};
    for (int64_t index : layer_indices) {
      const torch::Tensor pattern = maps.pattern(index, example);  // [head, n, n]
      const torch::Tensor quantised = (pattern.clamp(0, 1) * 255).round().to(torch::kUInt8).contiguous();
      nlohmann::json layer_heads = nlohmann::json::array();
      for (int64_t head = 0; head < quantised.size(0); ++head) {
        const torch::Tensor map = quantised[head].contiguous();
        layer_heads.push_back(base64(map.data_ptr<uint8_t>(), size_t(map.numel())));
      }
      entry["layers"].push_back({{"heads", layer_heads}});
    }
    page["examples"].push_back(entry);
  }
  return page;
}

// Patching: every result's normalised scores with their labels; positions carry their role.
nlohmann::json patching_page(const ResultReader& reader) {
  const std::vector<std::string> vocab = reader.vocab();
  nlohmann::json page{{"kind", "patching"}};
  page["title"] = fmt::format("Activation patching — {}", reader.path());
  page["subtitle"] =
      fmt::format("checkpoint {}", reader.has_attribute("checkpoint") ? reader.attribute("checkpoint") : "?");
  page["clean"] = decoded_prompt(reader, "/prompts/clean", vocab);
  page["corrupted"] = decoded_prompt(reader, "/prompts/corrupted", vocab);
  for (const std::string& component : reader.groups("/results")) {
    const std::string group = "/results/" + component;
    const LabelledTensor scores = reader.read(group + "/normalised");
    MECHLENS_CHECK(
        InputError,
        scores.values.dim() >= 1 && scores.values.dim() <= 3 && int64_t(scores.dims.size()) == scores.values.dim(),
        "{}: {}/normalised has {} dimensions named [{}]; the patching page draws 1 to 3 named ones", reader.path(),
        group, scores.values.dim(), fmt::join(scores.dims, ","));
    nlohmann::json result;
    result["dims"] = scores.dims;
    result["shape"] = scores.values.sizes().vec();
    result["values"] = flat_values(scores.values);
    for (const std::string& dim : scores.dims) {
      const std::string labels = group + "/label_" + dim;
      nlohmann::json entry = nlohmann::json::array();
      if (reader.exists(labels)) {
        try {
          const torch::Tensor values = reader.read(labels).values.to(torch::kLong).contiguous();
          std::vector<std::string> roles;
          if (reader.exists(labels + "_role")) roles = reader.strings(labels + "_role");
          for (int64_t i = 0; i < values.numel(); ++i) {
            const int64_t label = values.data_ptr<int64_t>()[i];
            entry.push_back(size_t(i) < roles.size() && !roles[size_t(i)].empty()
                                ? fmt::format("{} {}", label, roles[size_t(i)])
                                : std::to_string(label));
          }
        } catch (const StoreError&) {
          for (const std::string& label : reader.strings(labels)) entry.push_back(label);
        }
      } else {
        for (int64_t i = 0; i < scores.values.size(int64_t(entry.size())); ++i) entry.push_back(std::to_string(i));
      }
      result["labels"].push_back(entry);
    }
    if (scores.dims.size() == 1) {  // draw as one row
      result["dims"] = nlohmann::json::array({"", scores.dims[0]});
      result["shape"] = {1, scores.values.size(0)};
      result["labels"] = nlohmann::json::array({nlohmann::json::array({""}), result["labels"][0]});
    }
    const nlohmann::json attrs = reader.attributes(group);
    const std::string metric = attrs.value("metric_name", "metric"), direction = attrs.value("direction", "?");
    result["title"] =
        fmt::format("{} — normalised {} ({}, ablation {}): {}; clean {:.4g}, corrupted {:.4g}", component, metric,
                    direction, attrs.value("ablation", "none"),
                    direction == "noising" ? "(m − clean)/(corrupted − clean), 1 = the corruption's whole effect"
                                           : "(m − corrupted)/(clean − corrupted), 1 = clean behaviour restored",
                    attrs.value("clean_metric", 0.0), attrs.value("corrupted_metric", 0.0));
    page["results"].push_back(result);
  }
  MECHLENS_CHECK(InputError, page.contains("results"), "{}: /results holds no sweeps", reader.path());
  return page;
}

}  // namespace

std::string render_view(const ViewRequest& request) {
  const ResultReader reader(request.input);
  nlohmann::json page;
  if (reader.format() == "mechlens-record") page = attention_page(reader, request);
  else if (reader.format() == "mechlens-patching") page = patching_page(reader);
  else if (reader.format() == "mechlens-trace") page = trace_page(reader);
  else if (reader.format() == "mechlens-matching") page = matching_page(reader);
  else if (reader.format() == "mechlens-sweep") page = sweep_page(reader);
  else if (reader.format() == "mechlens-heads") page = heads_page(reader);
  else
    MECHLENS_FAIL(InputError, "{}: no page kind shows '{}' files yet (record, patching, trace, matching, sweep, heads)",
                  request.input, reader.format());
  // Inside <script>, "</" would end the element: JSON allows escaping the slash.
  std::string json = page.dump();
  for (size_t at = json.find("</"); at != std::string::npos; at = json.find("</", at + 3)) json.replace(at, 2, "<\\/");
  std::string html = kViewerTemplate;
  const std::string marker = "/*MECHLENS_DATA*/";
  const size_t at = html.find(marker);
  MECHLENS_CHECK(InputError, at != std::string::npos, "the viewer template has no data marker");
  html.replace(at, marker.size(), json);
  return html;
}

}  // namespace mechlens
