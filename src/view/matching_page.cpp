#include "view/matching_page.h"

#include <fmt/format.h>
#include <torch/torch.h>

#include <cmath>

#include "util/error.h"
#include "util/shape_format.h"
#include "view/page_parts.h"

namespace mechlens {

nlohmann::json matching_page(const ResultReader& reader) {
  const std::string g = "/matching";
  MECHLENS_CHECK(InputError, reader.exists(g + "/matrix"), "{}: no {}/matrix to show", reader.path(), g);
  const LabelledTensor matrix = reader.read(g + "/matrix");  // [layer, head, query_token, key_token]
  const torch::Tensor score = reader.read(g + "/score").values, top1 = reader.read(g + "/top1").values,
                      kernel = reader.read(g + "/kernel_score").values;
  const std::vector<std::string> layers = long_labels(reader, g + "/label_layer"),
                                 token_ids = long_labels(reader, g + "/label_token");
  MECHLENS_CHECK(InputError,
                 matrix.values.dim() == 4 && matrix.values.size(2) == matrix.values.size(3) &&
                     matrix.values.size(0) == int64_t(layers.size()) &&
                     matrix.values.size(2) == int64_t(token_ids.size()),
                 "{}: {}/matrix must be [layer, head, token, token] with one entry per label_layer ({}) and "
                 "label_token ({}); it is {}",
                 reader.path(), g, layers.size(), token_ids.size(), format_shape(matrix.values.sizes()));
  for (const auto& [name, tensor] : {std::pair{"score", score}, {"top1", top1}, {"kernel_score", kernel}}) {
    MECHLENS_CHECK(InputError, tensor.sizes() == matrix.values.sizes().slice(0, 2),
                   "{}: {}/{} must be [layer, head] {}", reader.path(), g, name,
                   format_shape(matrix.values.sizes().slice(0, 2)));
  }
  const nlohmann::json config = nlohmann::json::parse(reader.attribute("model_config"), nullptr, false);
  const int64_t d_head = config.is_object() ? config.value("d_head", int64_t(1)) : int64_t(1);
  const std::vector<std::string> vocab = reader.vocab();
  std::vector<std::string> tokens;
  for (const std::string& id : token_ids) {
    const size_t index = std::stoul(id);
    tokens.push_back(index < vocab.size() ? vocab[index] : id);
  }
  torch::Tensor activation;
  if (reader.exists(g + "/activation_score_mean")) activation = reader.read(g + "/activation_score_mean").values;

  nlohmann::json page{{"kind", "matching"}};
  page["title"] = fmt::format("Matching scores — {}", reader.path());
  const nlohmann::json attrs = reader.attributes(g);
  page["subtitle"] = fmt::format("checkpoint {}; embeddings: {}; score: {} (the project's reconstruction)",
                                 reader.has_attribute("checkpoint") ? reader.attribute("checkpoint") : "?",
                                 attrs.value("embeddings", "?"), attrs.value("score", "?"));
  nlohmann::json rows = nlohmann::json::array();
  page["results"] = nlohmann::json::array();
  const int64_t n_layers = matrix.values.size(0), n_heads = matrix.values.size(1);
  for (int64_t l = 0; l < n_layers; ++l) {
    for (int64_t h = 0; h < n_heads; ++h) {
      nlohmann::json row{{"head", fmt::format("L{}H{}", layers[size_t(l)], h)},
                         {"score", score[l][h].item<double>()},
                         {"top1", top1[l][h].item<double>()},
                         {"kernel", kernel[l][h].item<double>()}};
      // Hop j's attention is read in hop layer j (activation rows are hops 1..).
      if (activation.defined() && l < activation.size(0) && h < activation.size(1))
        row["activation"] = activation[l][h].item<double>();
      rows.push_back(row);
      const torch::Tensor softmax = (matrix.values[l][h].to(torch::kFloat64) / std::sqrt(double(d_head))).softmax(1);
      page["results"].push_back({{"title", fmt::format("L{}H{} — row-softmax of M / √d_head (query token → key token "
                                                       "through W_VO(0)); the diagonal is the score",
                                                       layers[size_t(l)], h)},
                                 {"dims", {"query", "key"}},
                                 {"shape", {softmax.size(0), softmax.size(1)}},
                                 {"values", flat_values(softmax)},
                                 {"labels", {tokens, tokens}},
                                 {"sequential", true}});
    }
  }
  page["table"] = rows;
  return page;
}

}  // namespace mechlens
