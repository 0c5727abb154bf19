#include "cli/run_report.h"

#include <fmt/ranges.h>
#include <torch/torch.h>

namespace mechlens::cli {
namespace {

std::vector<int64_t> prompt_ids(const PromptBatch& batch, int64_t b) {
  const torch::Tensor row = batch.tokens[b].narrow(0, 0, batch.lengths[size_t(b)]).contiguous();
  return std::vector<int64_t>(row.data_ptr<int64_t>(), row.data_ptr<int64_t>() + row.numel());
}

}  // namespace

nlohmann::ordered_json report_predictions(const torch::Tensor& logits, const PromptBatch& batch,
                                          const std::vector<std::string>& vocab, int64_t top_k,
                                          const std::string& format) {
  torch::Tensor last = torch::tensor(batch.lengths, torch::kLong) - 1;
  torch::Tensor last_logits = logits.index({torch::arange(logits.size(0)), last});  // [batch, d_vocab]
  auto [top_logits, top_ids] = last_logits.topk(top_k, -1);
  torch::Tensor top_probs = torch::softmax(last_logits, -1).gather(-1, top_ids);
  auto token_text = [&vocab](int64_t id) {
    return id >= 0 && id < int64_t(vocab.size()) ? fmt::format(" '{}'", vocab[size_t(id)]) : std::string();
  };
  nlohmann::ordered_json out = nlohmann::ordered_json::array();
  for (int64_t b = 0; b < logits.size(0); ++b) {
    const std::vector<int64_t> prompt = prompt_ids(batch, b);
    if (format == "text") {
      std::vector<std::string> words;
      for (int64_t id : prompt) words.push_back(id >= 0 && id < int64_t(vocab.size()) ? vocab[size_t(id)] : "");
      fmt::print("prompt {}: [{}]{}\n", b, fmt::join(prompt, " "),
                 vocab.empty() ? "" : fmt::format("\n  text: {}", fmt::join(words, " ")));
    }
    nlohmann::ordered_json predictions = nlohmann::ordered_json::array();
    for (int64_t k = 0; k < top_k; ++k) {
      const int64_t id = top_ids[b][k].item<int64_t>();
      const double logit = top_logits[b][k].item<double>(), prob = top_probs[b][k].item<double>();
      if (format == "text") {
        fmt::print("  {:>2}. token {:<6} logit {:>9.4f}  p {:.4f}{}\n", k + 1, id, logit, prob, token_text(id));
      }
      nlohmann::ordered_json prediction{{"token", id}, {"logit", logit}, {"prob", prob}};
      if (id < int64_t(vocab.size())) prediction["text"] = vocab[size_t(id)];
      predictions.push_back(prediction);
    }
    out.push_back({{"prompt", prompt}, {"top_k", predictions}});
  }
  return out;
}

nlohmann::ordered_json report_encoder_output(const torch::Tensor& hidden, const PromptBatch& batch,
                                             const std::string& format) {
  // Mean over real tokens: padding (mask 0) is left out, as sentence-transformers' mean pooling.
  torch::Tensor mask = batch.attention_mask.defined() ? batch.attention_mask.to(torch::kFloat32)
                                                      : torch::ones({hidden.size(0), hidden.size(1)});
  torch::Tensor pooled = (hidden * mask.unsqueeze(-1)).sum(1) / mask.sum(1, /*keepdim=*/true);  // [batch, d_model]
  torch::Tensor norms = pooled.norm(2, -1);                                                     // [batch]
  torch::Tensor unit = pooled / norms.unsqueeze(-1).clamp_min(1e-12);
  torch::Tensor cosine = unit.matmul(unit.t());  // [batch, batch]
  if (format == "text") {
    fmt::print("encoder output: last hidden states {} (no unembedding); mean-pooled sentence embeddings:\n",
               fmt::format("[{}, {}, {}]", hidden.size(0), hidden.size(1), hidden.size(2)));
  }
  nlohmann::ordered_json out = nlohmann::ordered_json::array();
  for (int64_t b = 0; b < hidden.size(0); ++b) {
    const std::vector<int64_t> prompt = prompt_ids(batch, b);
    std::vector<double> row(size_t(hidden.size(0)));
    for (int64_t other = 0; other < hidden.size(0); ++other) row[size_t(other)] = cosine[b][other].item<double>();
    if (format == "text") {
      fmt::print("prompt {}: [{}]\n  embedding norm {:.4f}; cosine with prompts 0..{}: {:.4f}\n", b,
                 fmt::join(prompt, " "), norms[b].item<double>(), hidden.size(0) - 1, fmt::join(row, " "));
    }
    out.push_back({{"prompt", prompt}, {"embedding_norm", norms[b].item<double>()}, {"cosine", row}});
  }
  return out;
}

}  // namespace mechlens::cli
