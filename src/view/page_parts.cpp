#include "view/page_parts.h"

#include <torch/torch.h>

#include "util/error.h"

namespace mechlens {

std::string decoded_prompt(const ResultReader& reader, const std::string& dataset,
                           const std::vector<std::string>& vocab, int64_t row) {
  if (!reader.exists(dataset)) return "";
  const torch::Tensor ids = reader.read(dataset, row, 1).values[0].to(torch::kLong);
  std::string text;
  for (int64_t p = 0; p < ids.size(0); ++p) {
    const int64_t id = ids[p].item<int64_t>();
    if (!text.empty()) text += ' ';
    text += id >= 0 && id < int64_t(vocab.size()) ? vocab[size_t(id)] : std::to_string(id);
  }
  return text;
}

std::vector<double> flat_values(const torch::Tensor& tensor) {
  const torch::Tensor flat = tensor.to(torch::kFloat64).contiguous().flatten().nan_to_num(0.0);
  return std::vector<double>(flat.data_ptr<double>(), flat.data_ptr<double>() + flat.numel());
}

void check_lengths(const ResultReader& reader, const std::string& group,
                   const std::vector<std::pair<std::string, size_t>>& arrays) {
  for (const auto& [name, size] : arrays) {
    MECHLENS_CHECK(InputError, size == arrays.front().second,
                   "{}: {}/{} holds {} entries but {}/{} holds {}; the arrays must describe the same items",
                   reader.path(), group, name, size, group, arrays.front().first, arrays.front().second);
  }
}

std::vector<std::string> long_labels(const ResultReader& reader, const std::string& dataset) {
  std::vector<std::string> out;
  const torch::Tensor values = reader.read(dataset).values.to(torch::kLong).contiguous();
  for (int64_t i = 0; i < values.numel(); ++i) out.push_back(std::to_string(values.data_ptr<int64_t>()[i]));
  return out;
}

}  // namespace mechlens
