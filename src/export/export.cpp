#include "export/export.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <torch/torch.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "export/attention_maps.h"
#include "export/npy.h"
#include "store/result_reader.h"
#include "util/error.h"
#include "util/glob.h"
#include "util/index_spec.h"
#include "util/output_file.h"

namespace mechlens {
namespace {

namespace fs = std::filesystem;

std::string parent_of(const std::string& dataset) {
  const size_t slash = dataset.rfind('/');
  return slash == 0 ? "/" : dataset.substr(0, slash);
}

// "/results/head_z/normalised" -> "results__head_z__normalised"
std::string flat_name(const std::string& dataset) {
  std::string name = dataset.substr(1);
  std::string out;
  for (char c : name) out += c == '/' ? std::string("__") : std::string(1, c);
  return out;
}

// Labels of each dimension from sibling datasets label_<dim> (numbers or strings); absent: none.
nlohmann::json dimension_labels(const ResultReader& reader, const std::string& dataset,
                                const std::vector<std::string>& dims) {
  nlohmann::json labels = nlohmann::json::object();
  const std::string parent = parent_of(dataset);
  for (const std::string& dim : dims) {
    const std::string path = (parent == "/" ? "" : parent) + "/label_" + dim;
    if (!reader.exists(path)) continue;
    try {
      const torch::Tensor values = reader.read(path).values.to(torch::kLong).contiguous();
      labels[dim] = std::vector<int64_t>(values.data_ptr<int64_t>(), values.data_ptr<int64_t>() + values.numel());
    } catch (const StoreError&) {
      labels[dim] = reader.strings(path);
    }
    if (reader.exists(path + "_role")) labels[dim + "_role"] = reader.strings(path + "_role");
  }
  return labels;
}

std::vector<std::string> chosen_datasets(const ResultReader& reader, const std::vector<std::string>& globs) {
  const std::vector<std::string> all = reader.all_datasets();
  std::vector<std::string> chosen;
  for (const std::string& path : all) {
    bool wanted = globs.empty();
    for (const std::string& pattern : globs) wanted = wanted || glob_match(pattern, path);
    if (wanted) chosen.push_back(path);
  }
  MECHLENS_CHECK(InputError, !chosen.empty(), "{}: no dataset matches --datasets {}; the file holds {}", reader.path(),
                 fmt::join(globs, " "), fmt::join(all, ", "));
  return chosen;
}

void export_npy(const ResultReader& reader, const ExportRequest& request, const fs::path& dir,
                std::vector<std::string>& written) {
  const nlohmann::json provenance = reader.attributes("/");
  for (const std::string& path : chosen_datasets(reader, request.datasets)) {
    nlohmann::json sidecar{{"source", request.input}, {"dataset", path}};
    const std::string name = flat_name(path);
    LabelledTensor tensor;
    try {
      tensor = reader.read(path);
    } catch (const StoreError&) {
      sidecar["strings"] = reader.strings(path);  // a string dataset: the sidecar holds it
      write_file_atomically((dir / (name + ".json")).string(), sidecar.dump(2) + "\n");
      written.push_back(name + ".json");
      continue;
    }
    write_npy((dir / (name + ".npy")).string(), tensor.values);
    sidecar["dims"] = tensor.dims;
    sidecar["shape"] = tensor.values.sizes().vec();
    sidecar["dtype"] = tensor.values.is_floating_point() ? "float32" : "int64";
    sidecar["labels"] = dimension_labels(reader, path, tensor.dims);
    sidecar["attributes"] = reader.attributes(parent_of(path));
    sidecar["provenance"] = provenance;
    write_file_atomically((dir / (name + ".json")).string(), sidecar.dump(2) + "\n");
    written.push_back(name + ".npy");
    written.push_back(name + ".json");
  }
  const std::vector<std::string> vocab = reader.vocab();
  if (!vocab.empty()) {
    write_file_atomically((dir / "vocab.json").string(), nlohmann::json(vocab).dump() + "\n");
    written.push_back("vocab.json");
  }
}

// One CSV row per value: the label of each index (or the index), then the value.
void export_csv(const ResultReader& reader, const ExportRequest& request, const fs::path& dir,
                std::vector<std::string>& written) {
  for (const std::string& path : chosen_datasets(reader, request.datasets)) {
    const std::vector<int64_t> shape = reader.shape(path);
    int64_t count = 1;
    for (int64_t size : shape) count *= size;
    MECHLENS_CHECK(InputError, count <= request.max_csv_values,
                   "{}: {} holds {} values, more than a CSV table should (--max-csv-values {}); export it as npy",
                   reader.path(), path, count, request.max_csv_values);
    LabelledTensor tensor;
    try {
      tensor = reader.read(path);
    } catch (const StoreError&) {
      continue;  // string datasets are labels, written beside the values they label
    }
    std::vector<std::string> dims = tensor.dims;
    for (size_t d = dims.size(); d < shape.size(); ++d) dims.push_back(fmt::format("dim{}", d));
    const nlohmann::json labels = dimension_labels(reader, path, dims);
    const std::string value_name = path.substr(path.rfind('/') + 1);
    std::string csv = fmt::format("{},{}\n", fmt::join(dims, ","), value_name);
    const torch::Tensor flat = tensor.values.to(torch::kFloat64).contiguous().flatten();
    const double* values = flat.data_ptr<double>();
    std::vector<int64_t> index(shape.size(), 0);
    for (int64_t i = 0; i < flat.numel(); ++i) {
      for (size_t d = 0; d < shape.size(); ++d) {
        const nlohmann::json* label = labels.contains(dims[d]) ? &labels[dims[d]] : nullptr;
        const nlohmann::json& entry = label != nullptr && index[d] < int64_t(label->size()) ? (*label)[size_t(index[d])]
                                                                                            : nlohmann::json(index[d]);
        csv += entry.is_string() ? entry.get<std::string>() : entry.dump();
        csv += ',';
      }
      csv += fmt::format("{}\n", values[i]);
      for (size_t d = shape.size(); d-- > 0;) {  // row-major increment
        if (++index[d] < shape[d]) break;
        index[d] = 0;
      }
    }
    const std::string name = flat_name(path) + ".csv";
    write_file_atomically((dir / name).string(), csv);
    written.push_back(name);
  }
}

// Attention maps of a record, one JSON per example: CircuitsVis attention_heads props
// {tokens, attention[head][dest][src], attentionHeadNames}, or bertviz {tokens, attention[layer]
// [head][dest][src]}.
void export_attention(const ResultReader& reader, const ExportRequest& request, const fs::path& dir,
                      std::vector<std::string>& written) {
  const AttentionMaps maps(reader);
  const std::vector<int64_t> layer_indices = maps.select_layers(request.layers);
  const std::vector<int64_t> examples = maps.select_prompts(request.examples);
  for (int64_t example : examples) {
    const std::vector<std::string> tokens = maps.tokens(example);
    const int64_t length = int64_t(tokens.size());
    nlohmann::json attention = nlohmann::json::array(), head_names = nlohmann::json::array();
    for (int64_t index : layer_indices) {
      const torch::Tensor pattern = maps.pattern(index, example);  // [head, n, n]
      nlohmann::json layer_heads = nlohmann::json::array();
      for (int64_t head = 0; head < pattern.size(0); ++head) {
        nlohmann::json rows = nlohmann::json::array();
        for (int64_t dest = 0; dest < length; ++dest) {
          const torch::Tensor row = pattern[head][dest].contiguous();
          rows.push_back(std::vector<float>(row.data_ptr<float>(), row.data_ptr<float>() + length));
        }
        head_names.push_back(maps.head_name(maps.layers()[size_t(index)], head));
        if (request.format == ExportFormat::kCircuitsVis) attention.push_back(std::move(rows));
        else layer_heads.push_back(std::move(rows));
      }
      if (request.format == ExportFormat::kBertViz) attention.push_back(std::move(layer_heads));
    }
    nlohmann::json props{{"tokens", tokens}, {"attention", attention}};
    if (request.format == ExportFormat::kCircuitsVis) props["attentionHeadNames"] = head_names;
    const std::string name = fmt::format("example_{}.json", example);
    write_file_atomically((dir / name).string(), props.dump() + "\n");
    written.push_back(name);
  }
}

}  // namespace

ExportFormat parse_export_format(const std::string& text) {
  if (text == "npy") return ExportFormat::kNpy;
  if (text == "csv") return ExportFormat::kCsv;
  if (text == "circuitsvis") return ExportFormat::kCircuitsVis;
  if (text == "bertviz") return ExportFormat::kBertViz;
  MECHLENS_FAIL(InputError, "--format '{}' is unknown; expected npy, csv, circuitsvis or bertviz", text);
}

std::vector<std::string> export_file(const ExportRequest& request) {
  const ResultReader reader(request.input);
  const fs::path out(request.out);
  const OutputLock lock(request.out);
  std::error_code error;
  MECHLENS_CHECK(InputError, request.force || !fs::exists(out, error), "{}: exists; add --force to replace it",
                 request.out);
  const fs::path partial = request.out + ".partial";
  fs::remove_all(partial, error);
  fs::create_directories(partial, error);
  MECHLENS_CHECK(StoreError, !error, "{}: cannot create the folder ({})", partial.string(), error.message());
  std::vector<std::string> written;
  try {
    switch (request.format) {
      case ExportFormat::kNpy:
        export_npy(reader, request, partial, written);
        break;
      case ExportFormat::kCsv:
        export_csv(reader, request, partial, written);
        break;
      case ExportFormat::kCircuitsVis:
      case ExportFormat::kBertViz:
        export_attention(reader, request, partial, written);
        break;
    }
    fs::remove_all(out, error);  // --force: the old export goes only once the new one is complete
    fs::rename(partial, out, error);
    MECHLENS_CHECK(StoreError, !error, "{}: cannot rename {} into place ({})", request.out, partial.string(),
                   error.message());
  } catch (...) {
    fs::remove_all(partial, error);
    throw;
  }
  return written;
}

}  // namespace mechlens
