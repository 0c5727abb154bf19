#include "io/hugging_face_weights.h"

#include <fmt/ranges.h>
#include <torch/torch.h>

#include <algorithm>
#include <filesystem>
#include <set>

#include <nlohmann/json.hpp>

#include "io/mapped_file.h"
#include "io/safetensors.h"
#include "io/torch_save.h"
#include "util/error.h"
#include "util/json_text.h"
#include "util/shape_format.h"

namespace mechlens {
namespace {

using json = nlohmann::json;
namespace fs = std::filesystem;

// One weight file's tensors: safetensors, or a torch.save state dict (pytorch_model*.bin).
NamedTensors read_weight_file(const std::string& path) {
  if (fs::path(path).extension() == ".safetensors") return map_safetensors(path).tensors;
  return read_torch_state_dict(path);
}

}  // namespace

std::map<std::string, torch::Tensor> read_all_weights(const std::string& dir) {
  std::map<std::string, torch::Tensor> out;
  fs::path single = fs::path(dir) / "model.safetensors";
  fs::path index_path = fs::path(dir) / "model.safetensors.index.json";
  if (!fs::exists(single) && !fs::exists(index_path)) {
    single = fs::path(dir) / "pytorch_model.bin";
    index_path = fs::path(dir) / "pytorch_model.bin.index.json";
  }
  if (fs::exists(index_path)) {
    const json index = read_json_file<CheckpointError>(index_path.string());
    MECHLENS_CHECK(CheckpointError, index.contains("weight_map") && index["weight_map"].is_object(),
                   "{}: no 'weight_map' object (tensor name -> shard file)", index_path.string());
    std::map<std::string, std::set<std::string>> names_of_shard;
    for (const auto& [name, shard] : index["weight_map"].items()) {
      MECHLENS_CHECK(CheckpointError, shard.is_string(), "{}: weight_map['{}'] is {}, expected a file name",
                     index_path.string(), name, json_excerpt(shard));
      const std::string file = shard.get<std::string>();
      MECHLENS_CHECK(CheckpointError, fs::path(file).filename() == fs::path(file),
                     "{}: weight_map['{}'] is '{}', expected a file name in the same directory", index_path.string(),
                     name, file);
      names_of_shard[file].insert(name);
    }
    for (const auto& [file, names] : names_of_shard) {
      const std::string path = (fs::path(dir) / file).string();
      std::set<std::string> held;
      for (auto& [name, tensor] : read_weight_file(path)) {
        MECHLENS_CHECK(CheckpointError, names.count(name),
                       "{}: holds tensor '{}', which {} does not list for this shard (index and shards disagree)", path,
                       name, index_path.string());
        held.insert(name);
        out[name] = std::move(tensor);
      }
      for (const std::string& name : names) {
        MECHLENS_CHECK(CheckpointError, held.count(name), "{}: lists tensor '{}' in {}, which does not hold it",
                       index_path.string(), name, path);
      }
    }
    return out;
  }
  MECHLENS_CHECK(CheckpointError, fs::exists(single),
                 "{}: no weights: neither model.safetensors[.index.json] nor pytorch_model.bin[.index.json]", dir);
  for (auto& [name, tensor] : read_weight_file(single.string())) out[name] = std::move(tensor);
  return out;
}

WeightSource::WeightSource(std::map<std::string, torch::Tensor> tensors, std::string dir, const std::string& prefix,
                           torch::ScalarType dtype)
    : tensors_(std::move(tensors)), dir_(std::move(dir)), dtype_(dtype) {
  const bool prefixed =
      std::any_of(tensors_.begin(), tensors_.end(), [&](const auto& item) { return item.first.rfind(prefix, 0) == 0; });
  prefix_ = prefixed ? prefix : "";
}

torch::Tensor WeightSource::take(const std::string& name, const std::vector<int64_t>& shape, const Layout& layout) {
  const auto it = tensors_.find(full(name));
  MECHLENS_CHECK(CheckpointError, it != tensors_.end(), "{}: weight '{}' is missing", dir_, full(name));
  const torch::Tensor stored = std::move(it->second);
  tensors_.erase(it);
  MECHLENS_CHECK(CheckpointError, stored.sizes().vec() == shape, "{}: weight '{}' has shape {}, expected {}", dir_,
                 full(name), format_shape(stored.sizes()), format_shape(shape));
  MECHLENS_CHECK(CheckpointError, at::isFloatingType(stored.scalar_type()),
                 "{}: weight '{}' has dtype {}, expected a floating-point type", dir_, full(name),
                 c10::toString(stored.scalar_type()));
  if (stored.scalar_type() == torch::kHalf && dtype_ != torch::kHalf) ++float16_taken_;
  torch::Tensor out = stored.to(dtype_);
  if (layout) out = layout(out);
  out = out.contiguous();
  if (!out.storage().is_alias_of(stored.storage())) release_mapped_pages(stored);
  return out;
}

void WeightSource::drop_if(const std::function<bool(const std::string&)>& unwanted) {
  for (auto it = tensors_.begin(); it != tensors_.end();) it = unwanted(it->first) ? tensors_.erase(it) : std::next(it);
}

void WeightSource::check_all_used() const {
  std::vector<std::string> left;
  for (const auto& [name, tensor] : tensors_) left.push_back(name);
  MECHLENS_CHECK(CheckpointError, left.empty(), "{}: tensors the config does not account for: {}", dir_,
                 fmt::join(left, ", "));
}

bool ends_with(const std::string& text, const std::string& suffix) {
  return text.size() >= suffix.size() && text.compare(text.size() - suffix.size(), suffix.size(), suffix) == 0;
}

torch::Tensor split_heads_in(const torch::Tensor& w, int64_t heads) {
  return w.reshape({w.size(0), heads, w.size(1) / heads}).permute({1, 0, 2}).contiguous();
}

WeightSource::Layout transposed() {
  return [](const torch::Tensor& w) { return w.t(); };
}

WeightSource::Layout heads_in(int64_t heads) {
  return [heads](const torch::Tensor& w) { return split_heads_in(w.t(), heads); };
}

WeightSource::Layout bias_heads(int64_t heads) {
  return [heads](const torch::Tensor& bias) { return bias.reshape({heads, bias.size(0) / heads}); };
}

WeightSource::Layout heads_out(int64_t heads) {
  return [heads](const torch::Tensor& w) { return w.t().reshape({heads, w.size(1) / heads, w.size(0)}); };
}

}  // namespace mechlens
