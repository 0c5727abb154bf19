#include "export/attention_maps.h"

#include <fmt/format.h>
#include <torch/torch.h>

#include <algorithm>

#include "util/error.h"
#include "util/index_spec.h"

namespace mechlens {

AttentionMaps::AttentionMaps(const ResultReader& reader) : reader_(reader) {
  MECHLENS_CHECK(InputError, reader.format() == "mechlens-record",
                 "{}: is a {} file; attention maps come from a record (mechlens record --hooks pattern)", reader.path(),
                 reader.format());
  std::vector<std::pair<int64_t, std::string>> found;  // layer -> dataset
  const std::string suffix = ".attn.hook_pattern";
  for (const std::string& name : reader.datasets("/acts")) {
    if (name.rfind("blocks.", 0) == 0 && name.size() > suffix.size() &&
        name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0) {
      found.emplace_back(std::stoll(name.substr(7, name.find('.', 7) - 7)), "/acts/" + name);
    }
  }
  std::sort(found.begin(), found.end());
  MECHLENS_CHECK(InputError, !found.empty(),
                 "{}: the record holds no attention patterns (/acts/blocks.L.attn.hook_pattern); record them with "
                 "--hooks pattern",
                 reader.path());
  MECHLENS_CHECK(InputError, !reader.exists("/positions"),
                 "{}: the record kept only some positions (--positions {}); an attention map needs every "
                 "destination: record with --positions all",
                 reader.path(), reader.attribute("positions"));
  for (const auto& [layer, dataset] : found) layers_.push_back(layer), datasets_.push_back(dataset);
  lengths_ = reader.read("/lengths").values.to(torch::kLong);
  vocab_ = reader.vocab();
  heads_spec_ = reader.has_attribute("heads") ? reader.attribute("heads") : "all";
}

std::vector<int64_t> AttentionMaps::select_layers(const std::string& spec) const {
  return IndexSpec::parse(spec, "--layers")
      .resolve(int64_t(layers_.size()), fmt::format("the {} recorded layers", layers_.size()));
}

std::vector<int64_t> AttentionMaps::select_prompts(const std::string& spec) const {
  return IndexSpec::parse(spec, "--examples").resolve(n_prompts(), fmt::format("the record's {} prompts", n_prompts()));
}

std::string AttentionMaps::head_name(int64_t layer, int64_t head) const {
  return heads_spec_ == "all" ? fmt::format("L{}H{}", layer, head)
                              : fmt::format("L{} head #{} of --heads {}", layer, head, heads_spec_);
}

std::vector<std::string> AttentionMaps::tokens(int64_t prompt) const {
  const int64_t length = lengths_[prompt].item<int64_t>();
  const torch::Tensor ids = reader_.read("/tokens", prompt, 1).values[0].narrow(0, 0, length).to(torch::kLong);
  std::vector<std::string> out;
  for (int64_t p = 0; p < length; ++p) {
    const int64_t id = ids[p].item<int64_t>();
    out.push_back(id >= 0 && id < int64_t(vocab_.size()) ? vocab_[size_t(id)] : std::to_string(id));
  }
  return out;
}

torch::Tensor AttentionMaps::pattern(int64_t layer_index, int64_t prompt) const {
  const int64_t length = lengths_[prompt].item<int64_t>();
  return reader_.read(datasets_.at(size_t(layer_index)), prompt, 1)
      .values[0]
      .narrow(1, 0, length)
      .narrow(2, 0, length)
      .to(torch::kFloat32)
      .contiguous();
}

}  // namespace mechlens
